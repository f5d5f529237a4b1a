//! `arbor run TREE`: start a tree, serve the control socket, stop on a signal.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use arbor::control::ControlServer;
use arbor::observe::server::ObserveServer;
use arbor::{EventSink, Node, NodeOptions, RootExit, SupervisorStop, TreeSpec};

/// Arguments of `arbor run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The tree file.
    tree: PathBuf,
    /// Write the event stream (JSON lines) to FILE, or `-` for stdout.
    #[arg(long, value_name = "FILE|-")]
    events: Option<PathBuf>,
    /// The control socket [default: $ARBOR_CONTROL or ./arbor.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Scheduler threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// Follow the files: a changed component file is swapped into every
    /// child running it (state kept when both versions have `handover`), a
    /// changed tree file is applied as `arbor ctl apply` does.
    #[arg(long)]
    watch: bool,
    /// Serve the observer (the live tree page, `/metrics`, the JSON API)
    /// on ADDR: `127.0.0.1:PORT`, or a bare PORT on the loopback address.
    #[arg(long, value_name = "ADDR", value_parser = parse_observe)]
    observe: Option<SocketAddr>,
    /// Let the observer's page stop, restart and start children and swap
    /// them; each action needs the token printed at start.
    #[arg(long, requires = "observe")]
    observe_actions: bool,
}

fn actions_on(observe: &Option<(SocketAddr, bool)>) -> bool {
    observe.is_some_and(|(_, actions)| actions)
}

/// `--observe`: an address, or a port on the loopback address (the
/// observer is for this machine unless an address says otherwise).
fn parse_observe(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not an address (e.g. 127.0.0.1:9000) or a port"))
}

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    super::init_logging();
    let tree = TreeSpec::load(&args.tree)?;
    for warning in tree.warnings() {
        tracing::warn!("{warning}");
    }
    let events = EventSink::new();
    if let Some(target) = &args.events {
        let writer: Box<dyn Write + Send> =
            if target.as_os_str() == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(File::create(target).with_context(|| {
                    format!("cannot create the events file {}", target.display())
                })?)
            };
        events.add_writer(writer);
    }
    let mut options = NodeOptions {
        events,
        ..crate::config::EnvConfig::from_env()?.node_options()
    };
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    options.observe = args.observe.is_some();
    let control = args.control.unwrap_or_else(super::default_control_path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let observe = args.observe.map(|address| (address, args.observe_actions));
    runtime.block_on(serve(tree, options, control, args.watch, observe))
}

async fn serve(
    tree: TreeSpec,
    options: NodeOptions,
    control: PathBuf,
    watch: bool,
    observe: Option<(SocketAddr, bool)>,
) -> anyhow::Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let server = ControlServer::bind(&control)
        .await
        .context("cannot open the control socket")?;
    let observer = match observe {
        Some((address, actions)) => Some(
            ObserveServer::bind(address, actions)
                .await
                .context("cannot start the observer")?,
        ),
        None => None,
    };
    let node = Arc::new(
        Node::start(&tree, options)
            .await
            .with_context(|| format!("cannot start {}", tree.source.display()))?,
    );
    let watching = if watch {
        Some(crate::watch::start(node.handle(), &tree.source).await?)
    } else {
        None
    };
    super::flush_logs();
    eprintln!(
        "arbor: tree {:?} running; control socket {} (try `arbor ctl --control {} tree`); Ctrl-C stops it",
        node.root_name(),
        server.path().display(),
        server.path().display()
    );
    let observing = observer.map(|observer| {
        eprintln!(
            "arbor: observer on http://{}/ (metrics at /metrics)",
            observer.address()
        );
        if actions_on(&observe) {
            eprintln!(
                "arbor: observer actions are on; their token: {}",
                observer.token()
            );
        }
        tokio::spawn(observer.serve(node.handle()))
    });
    if watching.is_some() {
        eprintln!(
            "arbor: watching {} and its components: a change is swapped in or applied",
            tree.source.display()
        );
    }
    let (shutdown_tx, mut shutdown_rx) = mpsc::unbounded_channel();
    let serving = tokio::spawn(server.serve(node.clone(), shutdown_tx));
    let stopped_by = tokio::select! {
        _ = sigint.recv() => Some("SIGINT"),
        _ = sigterm.recv() => Some("SIGTERM"),
        _ = shutdown_rx.recv() => Some("arbor ctl shutdown"),
        _ = node.wait() => None,
    };
    let exit = match stopped_by {
        Some(cause) => {
            super::flush_logs();
            eprintln!("arbor: {cause}: stopping the tree");
            node.shutdown().await
        }
        None => node.wait().await,
    };
    drop(watching);
    if let Some(observing) = observing {
        observing.abort();
    }
    node.events().flush();
    serving.abort();
    let _ = serving.await; // drops the server, which removes the socket file
    if exit.gave_up() {
        anyhow::bail!("{}", root_exit_message(node.root_name(), &exit));
    }
    super::flush_logs();
    if exit.stop == Some(SupervisorStop::AutoShutdown) {
        eprintln!(
            "arbor: the root supervisor shut itself down (auto_shutdown: its significant children ended)"
        );
    }
    eprintln!("arbor: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The last line of a run whose root gave up. Only a root that reached
/// its restart intensity is said to have had too many restarts; any other
/// cause (a crash's trap, say) is printed as it is.
fn root_exit_message(root: &str, exit: &RootExit) -> String {
    let why = match (exit.stop, exit.detail.as_deref()) {
        (Some(SupervisorStop::MaxRestarts), _) => {
            " (max_restarts: too many restarts in its window)".to_string()
        }
        (_, Some(detail)) => format!(" ({detail})"),
        (_, None) => String::new(),
    };
    format!("the root supervisor {root:?} gave up: {}{why}", exit.reason)
}

#[cfg(test)]
mod tests {
    use arbor::{ExitReason, RootExit, SupervisorStop};

    use super::root_exit_message;

    fn exit(reason: ExitReason, detail: Option<&str>, stop: Option<SupervisorStop>) -> RootExit {
        RootExit {
            reason,
            detail: detail.map(str::to_string),
            stop,
        }
    }

    #[test]
    fn only_max_restarts_is_called_too_many_restarts() {
        let gave_up = exit(
            ExitReason::Shutdown,
            Some("max_restarts"),
            Some(SupervisorStop::MaxRestarts),
        );
        assert_eq!(
            root_exit_message("root", &gave_up),
            "the root supervisor \"root\" gave up: shutdown (max_restarts: too many restarts in its window)"
        );
        let crashed = root_exit_message(
            "root",
            &exit(ExitReason::Crash, Some("wasm trap: unreachable"), None),
        );
        assert!(!crashed.contains("too many restarts"), "{crashed}");
        assert!(
            crashed.ends_with(": crash (wasm trap: unreachable)"),
            "{crashed}"
        );
        let killed = root_exit_message("root", &exit(ExitReason::Killed, None, None));
        assert!(killed.ends_with(": killed"), "{killed}");
    }
}
