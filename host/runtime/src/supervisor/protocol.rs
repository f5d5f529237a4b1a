//! What supervisors and their children say to each other: the signal a
//! supervisor sends down (run, shutdown, kill), the exit a child sends up,
//! the commands a supervisor answers and their errors, and the handle by
//! which a running supervisor is reached.
//!
//! This module only defines messages. The driver, the worker runner and the
//! registry all depend on it, and it depends on none of them, so the layers
//! point one way: driver -> child -> host_api -> registry -> protocol.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::LoadedComponent;
use crate::mailbox::MailboxReceiver;
use crate::spec::{ChildSpec, SupervisorSettings};
use crate::supervisor::inspect::Published;
use crate::swap::request::{Restore, SwapRequest};
use crate::vocab::{ChildId, ExitReason, StartOutcome, SupervisorStop};

/// What a supervisor tells a running child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Keep going.
    Run,
    /// Stop in order: finish the current callback, run `terminate`, exit.
    Shutdown,
    /// Drop everything now.
    Kill,
}

/// Waits until the signal satisfies `pred` (or its sender is gone).
///
/// Never hold the `watch::Ref` that `wait_for` returns across an await: it is
/// a read lock, and the supervisor's next `send` on this thread would block on
/// it forever. This returns only once the guard is dropped.
pub(crate) async fn signalled(
    signal: &mut watch::Receiver<Signal>,
    pred: impl FnMut(&Signal) -> bool,
) {
    let _ = signal.wait_for(pred).await.map(|_| ());
}

/// [`signalled`] for a task woken for every message (a worker's): after
/// its first poll it looks at the channel's waiter list, which takes the
/// list's lock, only once the channel has changed, which a clone of the
/// receiver sees with one atomic load. A worker polls this at every
/// wake-up, twice per message it serves, where nothing has changed.
///
/// The waiter its first poll registered holds that poll's waker: polled
/// within one task, as a worker's signal is, the waker never changes.
pub(crate) async fn signalled_once_changed(
    signal: &mut watch::Receiver<Signal>,
    pred: impl FnMut(&Signal) -> bool,
) {
    // Sees a change the original has not looked at yet, as the original does.
    let peek = signal.clone();
    let mut waiting = std::pin::pin!(signalled(signal, pred));
    let mut registered = false;
    std::future::poll_fn(|cx| {
        // A closed channel is an `Err`: the waiter answers it.
        if registered && matches!(peek.has_changed(), Ok(false)) {
            return std::task::Poll::Pending;
        }
        registered = true;
        waiting.as_mut().poll(cx)
    })
    .await
}

/// A child's exit, sent to its supervisor.
pub(crate) struct ChildExit {
    pub id: ChildId,
    pub generation: u64,
    pub reason: ExitReason,
    pub detail: Option<String>,
    /// Set when a supervisor stopped by its own decision.
    pub stop: Option<SupervisorStop>,
    /// The mailbox, handed back so the next instance gets the queued messages.
    pub mailbox: Option<MailboxReceiver>,
    /// Set when a hot swap changed the worker's version while it ran.
    pub version: Option<Box<VersionChange>>,
}

/// The versions a worker's task leaves its place after a hot swap: which
/// one its next start runs, which one `--undo` goes back to, and the state
/// to restore after a rollback.
pub(crate) struct VersionChange {
    pub component: Arc<LoadedComponent>,
    pub previous: Option<Arc<LoadedComponent>>,
    pub restore: Option<Restore>,
}

/// Why a start failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub reason: ExitReason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: ExitReason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}

/// Sends the child's exit to its supervisor exactly once, even if the task
/// panics or is dropped, so a supervisor never waits for an exit that
/// cannot come.
pub(crate) struct ExitNotifier {
    tx: Option<mpsc::UnboundedSender<ChildExit>>,
    id: ChildId,
    generation: u64,
}

impl ExitNotifier {
    pub fn new(tx: mpsc::UnboundedSender<ChildExit>, id: ChildId, generation: u64) -> Self {
        ExitNotifier {
            tx: Some(tx),
            id,
            generation,
        }
    }

    /// A supervisor's exit (or a worker's that never got its mailbox).
    pub fn send(
        mut self,
        reason: ExitReason,
        detail: Option<String>,
        stop: Option<SupervisorStop>,
        mailbox: Option<MailboxReceiver>,
    ) {
        self.deliver(reason, detail, stop, mailbox, None);
    }

    /// A worker's exit: its mailbox goes back to the place, and so do its
    /// versions if a swap changed them.
    pub fn send_worker(
        mut self,
        reason: ExitReason,
        detail: Option<String>,
        mailbox: MailboxReceiver,
        version: Option<Box<VersionChange>>,
    ) {
        self.deliver(reason, detail, None, Some(mailbox), version);
    }

    /// Sends the exit, once: later calls (the drop after a send) do nothing.
    fn deliver(
        &mut self,
        reason: ExitReason,
        detail: Option<String>,
        stop: Option<SupervisorStop>,
        mailbox: Option<MailboxReceiver>,
        version: Option<Box<VersionChange>>,
    ) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(ChildExit {
                id: self.id,
                generation: self.generation,
                reason,
                detail,
                stop,
                mailbox,
                version,
            });
        }
    }
}

impl Drop for ExitNotifier {
    fn drop(&mut self) {
        // Nothing to build after a send, the usual case.
        if self.tx.is_some() {
            let detail = "the child's task ended without reporting (host bug)";
            self.deliver(
                ExitReason::Killed,
                Some(detail.to_string()),
                None,
                None,
                None,
            );
        }
    }
}

/// How to reach a running supervisor.
#[derive(Clone)]
pub struct SupervisorRef {
    pub(crate) commands: mpsc::UnboundedSender<SupervisorCommand>,
    /// The scheduler thread its task and its workers run on.
    pub(crate) thread: usize,
    /// What it publishes for inspection, read without asking it.
    pub(crate) published: Arc<Published>,
}

/// Who asks for a child to be added: what decides whether its grants are
/// checked against the supervisor's `child_grants`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The tree file (`arbor ctl apply`): its grants are the operator's,
    /// as written there.
    TreeFile,
    /// A run-time request (`start_child` from Rust, `arbor ctl`, a guest):
    /// its grants must fit within the supervisor's `child_grants`.
    Request,
}

/// Requests a running supervisor answers.
pub(crate) enum SupervisorCommand {
    /// Add a child (a worker or a whole supervisor) and start it.
    StartChild(
        ChildSpec,
        Origin,
        oneshot::Sender<Result<StartOutcome, ChildCommandError>>,
    ),
    /// Stop a child (kept in the spec list unless temporary or dynamic).
    TerminateChild(String, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Start a stopped child again.
    RestartChild(
        String,
        oneshot::Sender<Result<StartOutcome, ChildCommandError>>,
    ),
    /// Forget a stopped child of a static supervisor.
    DeleteChild(String, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Kill a running child as if it had crashed (OTP's `exit(Pid, kill)`):
    /// answered once the kill is sent; its exit is then decided like any
    /// other.
    CrashChild(String, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Take new settings (strategy, intensity, auto_shutdown,
    /// max_children) without restarting.
    UpdateSettings(SupervisorSettings, oneshot::Sender<()>),
    /// Replace the spec of the child of the same name (same kind and
    /// component id): its restart type, shutdown, significance and mailbox
    /// bounds rule from now on, the rest (args, deadlines, memory,
    /// may_call) at its next start; a nested supervisor's children are what
    /// it restarts with.
    UpdateChild(ChildSpec, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Pass a hot swap on to the worker `name` (its task carries it out and
    /// answers the request); a worker that is not running just gets the
    /// version for its next start.
    SwapChild(String, SwapRequest),
}

/// Why a child command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildCommandError {
    /// The name is not valid.
    #[error("invalid child name: {0}")]
    InvalidName(String),
    /// The name is taken somewhere in the host.
    #[error("the name {0:?} is already in use")]
    NameTaken(String),
    /// No such component in `[components]`.
    #[error("unknown component {0:?}")]
    UnknownComponent(String),
    /// The dynamic supervisor is full.
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    /// The child asks for more linear memory than the host's memory slots hold.
    #[error(
        "max_memory_mb {asked} is above the {slot} MiB memory slots this host was sized with \
         (the largest max_memory_mb in the tree file; raise one there)"
    )]
    MemoryAboveSlot {
        /// The child's limit, MiB.
        asked: usize,
        /// The slot size, MiB.
        slot: usize,
    },
    /// The child's `init` failed or trapped.
    #[error("the child failed to start ({reason}): {detail}")]
    StartFailed {
        /// crash or error.
        reason: ExitReason,
        /// What went wrong.
        detail: String,
    },
    /// No child of that name under this supervisor.
    #[error("no child named {0:?} under this supervisor")]
    NoSuchChild(String),
    /// The child is already running.
    #[error("the child {0:?} is already running")]
    AlreadyRunning(String),
    /// The child waits for a queued restart (a retry, or a backoff delay).
    #[error(
        "the child {0:?} is restarting (a restart is queued: its last restart failed, or it waits out a backoff delay)"
    )]
    Restarting(String),
    /// `crash` of a child that is not running.
    #[error("the child {0:?} is not running")]
    NotRunning(String),
    /// `delete-child` of a child that is running.
    #[error("the child {0:?} is running: stop it first")]
    Running(String),
    /// A child's new spec is of another kind (worker / supervisor) than
    /// its place: that is a new child, not a change of settings.
    #[error(
        "the child {0:?} is a {1} and cannot become a {2} in place: stop it, delete it and start the new one"
    )]
    KindChanged(String, &'static str, &'static str),
    /// A worker's new spec names another component id: a swap changes the
    /// version a child runs, a new id is a new child.
    #[error(
        "the child {child:?} runs component {from:?}, not {to:?}: stop it, delete it and start it \
         with the new component (or swap the component)"
    )]
    ComponentChanged {
        /// The child.
        child: String,
        /// The id it runs.
        from: String,
        /// The id asked for.
        to: String,
    },
    /// `delete-child` under a dynamic supervisor, which forgets its
    /// children when they stop.
    #[error("a dynamic supervisor forgets its children when they stop: use stop-child")]
    Dynamic,
    /// A run-time child asks for more than the supervisor's `child_grants`.
    #[error(transparent)]
    GrantDenied(#[from] crate::grants::Denied),
    /// A run-time child's grant cannot be read (a missing directory, an
    /// address that is not one).
    #[error("bad grant: {0}")]
    BadGrant(#[from] crate::grants::GrantError),
}
