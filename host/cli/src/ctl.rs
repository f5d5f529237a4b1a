//! `arbor ctl ...`: commands to a running host over its control socket.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use arbor::allocator::InstanceUsage;
use arbor::control::{ControlClient, Request};
use arbor::report::{ChildCounts, NodeReport};

/// Arguments of `arbor ctl`.
#[derive(clap::Args)]
pub struct CtlArgs {
    /// The host's control socket [default: $ARBOR_CONTROL or ./arbor.sock].
    #[arg(long, value_name = "PATH", global = true)]
    control: Option<PathBuf>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Show the live tree: path, kind, restart type, state, generation, restarts.
    Tree {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send MSG to worker NAME and print its reply.
    Call { name: String, message: String },
    /// Queue MSG for worker NAME.
    Cast { name: String, message: String },
    /// Add a worker running COMPONENT under supervisor SUP.
    StartChild {
        supervisor: String,
        component: String,
        #[arg(long)]
        name: String,
        /// `init` args (JSON).
        #[arg(long)]
        args: Option<String>,
        /// permanent, transient or temporary.
        #[arg(long)]
        restart: Option<String>,
    },
    /// Stop child NAME of supervisor SUP.
    StopChild { supervisor: String, name: String },
    /// Start the stopped child NAME of supervisor SUP again.
    RestartChild { supervisor: String, name: String },
    /// Count the children of supervisor SUP.
    CountChildren { supervisor: String },
    /// How full the instance pool is: live instances, capacity, memory.
    Instances,
    /// Stream the event stream (JSON lines) until interrupted.
    Events,
    /// Stop the tree in order.
    Shutdown,
}

pub fn execute(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let control = args.control.unwrap_or_else(super::default_control_path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut client = ControlClient::connect(&control)
            .await
            .context("cannot reach the host (is `arbor run` running with this --control path?)")?;
        let (request, json) = match args.command {
            CtlCommand::Tree { json } => (Request::Tree, json),
            CtlCommand::Call { name, message } => (Request::Call { name, message }, false),
            CtlCommand::Cast { name, message } => (Request::Cast { name, message }, false),
            CtlCommand::StartChild {
                supervisor,
                component,
                name,
                args,
                restart,
            } => (
                Request::StartChild {
                    supervisor,
                    component,
                    name,
                    args,
                    restart,
                },
                false,
            ),
            CtlCommand::StopChild { supervisor, name } => {
                (Request::StopChild { supervisor, name }, false)
            }
            CtlCommand::RestartChild { supervisor, name } => {
                (Request::RestartChild { supervisor, name }, false)
            }
            CtlCommand::CountChildren { supervisor } => {
                (Request::CountChildren { supervisor }, false)
            }
            CtlCommand::Instances => (Request::Instances, false),
            CtlCommand::Events => (Request::Events, false),
            CtlCommand::Shutdown => (Request::Shutdown, false),
        };
        let response = client.request(&request).await?;
        if !response.ok {
            bail!(
                "{}",
                response
                    .error
                    .unwrap_or_else(|| "the host refused".to_string())
            );
        }
        let value = response.value.unwrap_or(serde_json::Value::Null);
        match request {
            Request::Tree if json => println!("{}", serde_json::to_string_pretty(&value)?),
            Request::Tree => {
                let report: NodeReport =
                    serde_json::from_value(value).context("bad tree report")?;
                print!("{}", report.render());
            }
            Request::Instances if value.is_object() => {
                let usage: InstanceUsage = serde_json::from_value(value).context("bad usage")?;
                println!("{usage}");
            }
            Request::CountChildren { .. } => {
                let counts: ChildCounts = serde_json::from_value(value).context("bad counts")?;
                println!("{counts}");
            }
            Request::Events => {
                while let Some(line) = client.next_line().await? {
                    println!("{line}");
                }
            }
            _ => match value {
                serde_json::Value::String(text) => println!("{text}"),
                serde_json::Value::Null => println!("ok"),
                other => println!("{other}"),
            },
        }
        Ok(ExitCode::SUCCESS)
    })
}
