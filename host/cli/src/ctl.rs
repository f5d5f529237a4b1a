//! `arbor ctl ...`: commands to a running host over its control socket.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use arbor::allocator::InstanceUsage;
use arbor::control::{CallReply, ControlClient, Request};
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
    /// Send MSG to worker NAME and print its reply: its bytes exactly, no
    /// newline added.
    Call {
        name: String,
        message: String,
        /// Print the reply as base64 text with a newline instead.
        #[arg(long)]
        base64: bool,
    },
    /// Queue MSG for worker NAME.
    Cast { name: String, message: String },
    /// Add a worker running COMPONENT under supervisor SUP (or, with
    /// --tree, a whole supervisor and its children).
    StartChild {
        supervisor: String,
        #[arg(required_unless_present = "tree")]
        component: Option<String>,
        #[arg(long, required_unless_present = "tree")]
        name: Option<String>,
        /// `init` args (JSON).
        #[arg(long)]
        args: Option<String>,
        /// permanent, transient or temporary.
        #[arg(long)]
        restart: Option<String>,
        /// A TOML file whose `[supervisor]` table (with its children) is
        /// the new child; its workers use the host's `[components]`.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["component", "name", "args", "restart"])]
        tree: Option<PathBuf>,
    },
    /// Stop child NAME of supervisor SUP.
    StopChild { supervisor: String, name: String },
    /// Start the stopped child NAME of supervisor SUP again.
    RestartChild { supervisor: String, name: String },
    /// Forget the stopped child NAME of static supervisor SUP.
    DeleteChild { supervisor: String, name: String },
    /// Count the children of supervisor SUP.
    CountChildren { supervisor: String },
    /// How full the instance pool is: live instances, capacity, memory.
    Instances,
    /// Stream the event stream (JSON lines) until interrupted.
    Events,
    /// Stop the tree in order.
    Shutdown,
}

/// How to print a response, where the command offers a choice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Text for people (for `call`: the reply's bytes as they are).
    Plain,
    /// `tree --json`.
    Json,
    /// `call --base64`.
    Base64,
}

impl Format {
    fn json_if(asked: bool) -> Format {
        if asked { Format::Json } else { Format::Plain }
    }

    fn base64_if(asked: bool) -> Format {
        if asked { Format::Base64 } else { Format::Plain }
    }
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
        let (request, format) = match args.command {
            CtlCommand::Tree { json } => (Request::Tree, Format::json_if(json)),
            CtlCommand::Call {
                name,
                message,
                base64,
            } => (Request::Call { name, message }, Format::base64_if(base64)),
            CtlCommand::Cast { name, message } => (Request::Cast { name, message }, Format::Plain),
            CtlCommand::StartChild {
                supervisor,
                tree: Some(file),
                ..
            } => {
                let tree = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let file = file.display().to_string();
                (
                    Request::StartSubtree {
                        supervisor,
                        file,
                        tree,
                    },
                    Format::Plain,
                )
            }
            CtlCommand::StartChild {
                supervisor,
                component,
                name,
                args,
                restart,
                tree: None,
            } => (
                Request::StartChild {
                    supervisor,
                    component: component.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    args,
                    restart,
                },
                Format::Plain,
            ),
            CtlCommand::StopChild { supervisor, name } => {
                (Request::StopChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::RestartChild { supervisor, name } => {
                (Request::RestartChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::DeleteChild { supervisor, name } => {
                (Request::DeleteChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::CountChildren { supervisor } => {
                (Request::CountChildren { supervisor }, Format::Plain)
            }
            CtlCommand::Instances => (Request::Instances, Format::Plain),
            CtlCommand::Events => (Request::Events, Format::Plain),
            CtlCommand::Shutdown => (Request::Shutdown, Format::Plain),
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
            Request::Tree if format == Format::Json => {
                emit_line(&mut out, serde_json::to_string_pretty(&value)?)?
            }
            Request::Tree => {
                let report: NodeReport =
                    serde_json::from_value(value).context("bad tree report")?;
                emit(&mut out, report.render().as_bytes())?;
            }
            Request::Call { .. } => {
                let reply: CallReply = serde_json::from_value(value).context("bad reply")?;
                if format == Format::Base64 {
                    emit_line(&mut out, reply.to_base64())?;
                } else {
                    emit(&mut out, reply.bytes())?;
                }
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
