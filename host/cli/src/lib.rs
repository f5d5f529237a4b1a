//! The `arbor` command line: thin clap commands over the library.
//!
//! Each subcommand is a module with an `execute` that returns `anyhow`
//! errors; [`main`] prints the whole chain on one line and maps it to an exit
//! code, as ripgrep does. clap types stay inside this module.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

use arbor::batch_writer::{BatchWriter, Overflow};

mod check;
mod config;
mod ctl;
mod grant_args;
mod new;
mod run;
mod scaffold;
mod watch;

/// The log's writer thread, so stderr output can wait for it.
static LOG: OnceLock<BatchWriter> = OnceLock::new();

/// Human-readable logs on stderr; `ARBOR_LOG` sets the filter (default
/// `info`). Lines go through a [`BatchWriter`], so a scheduler thread that
/// logs a restart does not wait for stderr; when stderr cannot keep up,
/// lines past its bound are dropped and a line says how many.
pub(crate) fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let Ok(writer) = BatchWriter::spawn(
        "arbor-log",
        Box::new(std::io::stderr()),
        Overflow::log_lines(),
    ) else {
        return;
    };
    let _ = LOG.set(writer.clone());
    let filter = EnvFilter::try_from_env("ARBOR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Waits until every log line so far is on stderr: call it before writing
/// to stderr directly, and before exiting.
pub(crate) fn flush_logs() {
    if let Some(writer) = LOG.get() {
        writer.wait_written();
    }
}

/// Default control socket: `$ARBOR_CONTROL`, else `arbor.sock` in the current directory.
pub fn default_control_path() -> PathBuf {
    std::env::var_os("ARBOR_CONTROL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("arbor.sock"))
}

#[derive(Parser)]
#[command(
    name = "arbor",
    version,
    about = "Run WebAssembly components under OTP-style supervision trees"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a tree and serve its control socket until stopped.
    Run(run::RunArgs),
    /// Validate a tree file and load every component, without running anything.
    Check(check::CheckArgs),
    /// Talk to a running host through its control socket.
    Ctl(ctl::CtlArgs),
    /// Create a guest project (rust, python, js or c) that builds and passes `arbor check`.
    New(new::NewArgs),
}

/// Runs the `arbor` command line with `args` (the first is the program name).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::execute(args),
        Command::Check(args) => check::execute(args),
        Command::Ctl(args) => ctl::execute(args),
        Command::New(args) => new::execute(args),
    };
    flush_logs();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
