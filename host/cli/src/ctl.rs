//! `arbor ctl ...`: commands to a running host over its control socket.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use arbor::DeadLetterList;
use arbor::allocator::InstanceUsage;
use arbor::control::{ApplyCommand, CallReply, ControlClient, KvCommand, Request, SwapCommand};
use arbor::observe::why::Why;
use arbor::report::print_tree::Colour;
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
enum KvSubcommand {
    /// Print the value of KEY in BUCKET: its bytes exactly, no newline
    /// added (exit 1 when there is none).
    Get { bucket: String, key: String },
    /// Set KEY in BUCKET to VALUE; prints `ok` once it is committed.
    Set {
        bucket: String,
        key: String,
        value: String,
    },
    /// Print the keys of BUCKET, one a line, in order.
    List { bucket: String },
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Show the live tree as OTP's print_tree draws it: each child's name,
    /// component version or strategy, restart type, state, generation and
    /// restarts, under box-drawing lines.
    Tree {
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
        /// Colours: on a terminal unless NO_COLOR is set (auto), always, never.
        #[arg(long, value_name = "WHEN", default_value = "auto")]
        color: ColorWhen,
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
    /// Read or write the host's durable key-value store (`[node] data`),
    /// the one the guests' `wasi:keyvalue` uses.
    Kv {
        #[command(subcommand)]
        command: KvSubcommand,
    },
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
        /// the new child; its workers use the host's `[components]` (and
        /// their grants are its own fields, as in a tree file).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["component", "name", "args", "restart"])]
        tree: Option<PathBuf>,
        /// Grants, within the supervisor's `child_grants` (boxed: seven
        /// lists would make every command as large).
        #[command(flatten)]
        grants: Box<crate::grant_args::GrantArgs>,
    },
    /// Kill child NAME (a name or a path) as if it had crashed, OTP's
    /// `exit(Pid, kill)`: no `terminate`, exit reason `killed`, and its
    /// supervisor restarts it, or not, as after any crash.
    Crash { name: String },
    /// Stop child NAME of supervisor SUP.
    StopChild { supervisor: String, name: String },
    /// Start the stopped child NAME of supervisor SUP again.
    RestartChild { supervisor: String, name: String },
    /// Forget the stopped child NAME of static supervisor SUP.
    DeleteChild { supervisor: String, name: String },
    /// Hot-swap worker NAME to the component in WASM, keeping its state
    /// (both versions must export `handover`, or pass --fresh); or every
    /// worker of a component (--component ID WASM); or go back to a
    /// worker's previous version (--undo NAME). Exits non-zero, saying why,
    /// when the swap is refused or rolled back.
    #[command(override_usage = "arbor ctl swap NAME WASM [OPTIONS]\n       \
        arbor ctl swap --component ID WASM [OPTIONS]\n       \
        arbor ctl swap --undo NAME [OPTIONS]")]
    Swap {
        /// NAME WASM, or WASM with --component, or NAME with --undo.
        #[arg(value_name = "NAME|WASM", num_args = 1..=2, required = true)]
        targets: Vec<String>,
        /// Swap every worker running this `[components]` entry, dynamic
        /// children included, and make WASM its version for new children.
        #[arg(long, value_name = "ID", conflicts_with = "undo")]
        component: Option<String>,
        /// Go back to NAME's version before its last swap.
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        how: SwapFlags,
        /// With --component: swap N workers first and wait for their
        /// probation before the rest.
        #[arg(long, value_name = "N", default_value_t = 0, requires = "component")]
        canary: usize,
        /// With --component: at most N workers swapping (or on probation) at once.
        #[arg(long, value_name = "N", requires = "component")]
        batch: Option<usize>,
        /// Try the new version beside the live child with a copy of its
        /// state, report, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change the running tree to match TREE (a changed tree file): print
    /// the plan and carry it out in order (swaps, settings, removals,
    /// additions); a failing step stops it and rolls its swaps back.
    Apply {
        /// The changed tree file.
        tree: PathBuf,
        /// Print the plan (and check the changed components) and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        how: SwapFlags,
    },
    /// Why child NAME is at its current generation: its last exits (reason,
    /// detail, the message it was handling), its supervisor's decisions
    /// (strategy, siblings stopped, restarts in the intensity window), and
    /// those of the supervisors above it.
    Why {
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the dead-letter store: messages that crashed a worker with
    /// `poison` `after` times in a row (of worker NAME only, when given).
    DeadLetters {
        /// A worker's name or path.
        name: Option<String>,
        /// Print JSON (the messages as base64) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letter ID to its child again, as a call, and print the
    /// reply: its bytes exactly, no newline added. The letter leaves the
    /// store once the message is queued.
    Redeliver {
        id: u64,
        /// Print the reply as base64 text with a newline instead.
        #[arg(long)]
        base64: bool,
    },
    /// Count the children of supervisor SUP.
    CountChildren { supervisor: String },
    /// How full the instance pool is: live instances, capacity, memory.
    Instances,
    /// Stream the event stream (JSON lines) until interrupted.
    Events,
    /// Stop the tree in order.
    Shutdown,
}

/// How each swap is carried out, for `swap` and for the swaps of `apply`.
#[derive(clap::Args)]
struct SwapFlags {
    /// Run the new version from fresh state when either version lacks
    /// `handover` (the old one gets `terminate`).
    #[arg(long)]
    fresh: bool,
    /// How long a crash of the new version rolls it back (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    probation: Option<std::time::Duration>,
    /// How long to wait for the in-flight message before giving up.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    drain_timeout: Option<std::time::Duration>,
}

impl SwapFlags {
    /// The swap request these flags make, the rest left at its defaults.
    fn command(&self) -> SwapCommand {
        SwapCommand {
            fresh: self.fresh,
            probation_ms: self.probation.map(|d| d.as_millis() as u64),
            drain_timeout_ms: self.drain_timeout.map(|d| d.as_millis() as u64),
            ..SwapCommand::default()
        }
    }
}

/// When `tree` colours its text.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    /// When stdout is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    fn colour(self) -> Colour {
        use std::io::IsTerminal;
        let on = match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            // https://no-color.org: present and not empty turns colour off.
            ColorWhen::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        if on { Colour::On } else { Colour::Off }
    }
}

/// How to print a response, where the command offers a choice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Text for people (for `call`: the reply's bytes as they are).
    Plain,
    /// `tree` on a terminal.
    Coloured,
    /// `tree --json`, `why --json`, `dead-letters --json`.
    Json,
    /// `call --base64`, `redeliver --base64`.
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
            CtlCommand::Tree { json: true, .. } => (Request::Tree, Format::Json),
            CtlCommand::Tree { color, .. } => (
                Request::Tree,
                match color.colour() {
                    Colour::On => Format::Coloured,
                    Colour::Off => Format::Plain,
                },
            ),
            CtlCommand::Call {
                name,
                message,
                base64,
            } => (Request::Call { name, message }, Format::base64_if(base64)),
            CtlCommand::Cast { name, message } => (Request::Cast { name, message }, Format::Plain),
            CtlCommand::Kv { command } => {
                let command = match command {
                    KvSubcommand::Get { bucket, key } => KvCommand::Get { bucket, key },
                    KvSubcommand::Set { bucket, key, value } => {
                        KvCommand::Set { bucket, key, value }
                    }
                    KvSubcommand::List { bucket } => KvCommand::List { bucket },
                };
                (Request::Kv(command), Format::Plain)
            }
            CtlCommand::StartChild {
                supervisor,
                tree: Some(file),
                ..
            } => {
                let tree = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                // Absolute: the host resolves the subtree's directories
                // against the file's directory, whatever its own cwd.
                let file = std::path::absolute(&file)
                    .unwrap_or(file)
                    .display()
                    .to_string();
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
                grants,
            } => (
                Request::StartChild {
                    supervisor,
                    component: component.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    args,
                    restart,
                    grants: grants.request()?,
                },
                Format::Plain,
            ),
            CtlCommand::Crash { name } => (Request::Crash { name }, Format::Plain),
            CtlCommand::StopChild { supervisor, name } => {
                (Request::StopChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::RestartChild { supervisor, name } => {
                (Request::RestartChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::DeleteChild { supervisor, name } => {
                (Request::DeleteChild { supervisor, name }, Format::Plain)
            }
            CtlCommand::Swap {
                targets,
                component,
                undo,
                how,
                canary,
                batch,
                dry_run,
            } => {
                let (name, wasm) = swap_targets(targets, component.is_some(), undo)?;
                let file = match wasm {
                    Some(wasm) => Some(prepare_file(std::path::Path::new(&wasm))?),
                    None => None,
                };
                let command = SwapCommand {
                    name,
                    component,
                    file,
                    undo,
                    canary,
                    batch,
                    dry_run,
                    ..how.command()
                };
                (Request::Swap(command), Format::Plain)
            }
            CtlCommand::Apply { tree, dry_run, how } => {
                let file = std::path::absolute(&tree)
                    .with_context(|| format!("cannot resolve {}", tree.display()))?;
                let command = ApplyCommand {
                    file: file.display().to_string(),
                    dry_run,
                    swap: how.command(),
                };
                (Request::Apply(command), Format::Plain)
            }
            CtlCommand::DeadLetters { name, json } => {
                (Request::DeadLetters { name }, Format::json_if(json))
            }
            CtlCommand::Redeliver { id, base64 } => {
                (Request::Redeliver { id }, Format::base64_if(base64))
            }
            CtlCommand::CountChildren { supervisor } => {
                (Request::CountChildren { supervisor }, Format::Plain)
            }
            CtlCommand::Why { name, json } => (Request::Why { name }, Format::json_if(json)),
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
            Request::Why { .. } if format == Format::Json => {
                emit_line(&mut out, serde_json::to_string_pretty(&value)?)?
            }
            Request::Why { .. } => {
                let why: Why = serde_json::from_value(value).context("bad answer")?;
                emit(&mut out, why.to_string().as_bytes())?;
            }
            Request::Tree => {
                let report: NodeReport =
                    serde_json::from_value(value).context("bad tree report")?;
                let colour = if format == Format::Coloured {
                    Colour::On
                } else {
                    Colour::Off
                };
                emit(&mut out, report.render_with(colour).as_bytes())?;
            }
            Request::DeadLetters { .. } if format == Format::Json => {
                emit_line(&mut out, serde_json::to_string_pretty(&value)?)?
            }
            Request::DeadLetters { .. } => {
                let list: DeadLetterList =
                    serde_json::from_value(value).context("bad dead-letter list")?;
                emit(&mut out, list.render().as_bytes())?;
            }
            Request::Call { .. } | Request::Redeliver { .. } => {
                let reply: CallReply = serde_json::from_value(value).context("bad reply")?;
                if format == Format::Base64 {
                    emit_line(&mut out, reply.to_base64())?;
                } else {
                    emit(&mut out, reply.bytes())?;
                }
            }
            Request::Kv(KvCommand::Get { .. }) => {
                let reply: CallReply = serde_json::from_value(value).context("bad value")?;
                emit(&mut out, reply.bytes())?;
            }
            Request::Kv(KvCommand::List { .. }) => {
                let keys: Vec<String> = serde_json::from_value(value).context("bad key list")?;
                for key in keys {
                    emit_line(&mut out, key)?;
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
            // The report is whole lines already, one step a line.
            Request::Apply(_) => emit(&mut out, value.as_str().unwrap_or_default().as_bytes())?,
            _ => match value {
                serde_json::Value::String(text) => emit_line(&mut out, text)?,
                serde_json::Value::Null => emit_line(&mut out, "ok")?,
                other => emit_line(&mut out, other)?,
            },
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The worker and the file of `arbor ctl swap`'s positional arguments:
/// NAME WASM, WASM with --component, NAME with --undo.
fn swap_targets(
    targets: Vec<String>,
    component: bool,
    undo: bool,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let mut targets = targets.into_iter();
    let (first, second) = (targets.next(), targets.next());
    match (component, undo, first, second) {
        (true, _, Some(wasm), None) => Ok((None, Some(wasm))),
        (true, _, _, _) => {
            bail!("swap --component ID takes one file: arbor ctl swap --component ID WASM")
        }
        (false, true, Some(name), None) => Ok((Some(name), None)),
        (false, true, _, _) => {
            bail!("swap --undo takes the worker's name only: arbor ctl swap --undo NAME")
        }
        (false, false, Some(name), Some(wasm)) => Ok((Some(name), Some(wasm))),
        (false, false, _, _) => bail!("swap needs a worker and a file: arbor ctl swap NAME WASM"),
    }
}

/// `10s`, `500ms`, `2m` or a number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// The component file as the host will read it: its canonical path (the
/// host's working directory is not ctl's), announced when it is big
/// enough for its compile to take a while.
fn prepare_file(wasm: &std::path::Path) -> anyhow::Result<String> {
    let path =
        std::fs::canonicalize(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > 1 << 20 {
        eprintln!(
            "compiling {} ({:.1} MB) in the host; this takes a few seconds the first time...",
            path.display(),
            size as f64 / (1 << 20) as f64
        );
    }
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(
            parse_duration("ten")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("3h").unwrap_err().contains("unknown unit"));
    }
}
