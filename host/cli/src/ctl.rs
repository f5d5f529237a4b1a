//! `arbor ctl ...`: commands to a running host over its control socket.

use std::io::{self, Write};
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

/// stdout's reader went away (`arbor ctl events | head -1`): the output
/// simply ends, as for any Unix filter, and ctl exits 0.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
struct StdoutClosed;

/// Writes `bytes` to `out` and flushes, so a closed pipe shows at once
/// (Rust ignores SIGPIPE, so the write fails with `BrokenPipe` instead of
/// killing the process, and `println!` would panic on it).
fn emit(out: &mut impl Write, bytes: &[u8]) -> anyhow::Result<()> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        result => result.context("cannot write to stdout"),
    }
}

/// [`emit`] `text` and a newline.
fn emit_line(out: &mut impl Write, text: impl std::fmt::Display) -> anyhow::Result<()> {
    emit(out, format!("{text}\n").as_bytes())
}

pub fn execute(args: CtlArgs) -> anyhow::Result<ExitCode> {
    match run(args) {
        Err(e) if e.is::<StdoutClosed>() => Ok(ExitCode::SUCCESS),
        result => result,
    }
}

fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
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
        let mut out = std::io::stdout().lock();
        match request {
            Request::Tree if json => emit_line(&mut out, serde_json::to_string_pretty(&value)?)?,
            Request::Tree => {
                let report: NodeReport =
                    serde_json::from_value(value).context("bad tree report")?;
                emit(&mut out, report.render().as_bytes())?;
            }
            Request::Instances if value.is_object() => {
                let usage: InstanceUsage = serde_json::from_value(value).context("bad usage")?;
                emit_line(&mut out, usage)?;
            }
            Request::CountChildren { .. } => {
                let counts: ChildCounts = serde_json::from_value(value).context("bad counts")?;
                emit_line(&mut out, counts)?;
            }
            Request::Events => {
                while let Some(line) = client.next_line().await? {
                    emit_line(&mut out, line)?;
                }
            }
            _ => match value {
                serde_json::Value::String(text) => emit_line(&mut out, text)?,
                serde_json::Value::Null => emit_line(&mut out, "ok")?,
                other => emit_line(&mut out, other)?,
            },
        }
        Ok(ExitCode::SUCCESS)
    })
}
