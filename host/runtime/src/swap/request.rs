//! What travels from whoever asks for a swap, through the child's
//! supervisor, to the task running the child, and what comes back: one
//! reply per request, sent when the swap ends (its probation passed, it
//! was refused, or it was rolled back).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::engine::LoadedComponent;
use crate::events::EventSink;
use crate::supervisor::inspect::PlaceView;

/// Where a worker's task finds its swap requests. One per running worker,
/// made with its task: a lock, a flag and a waker, ~100 bytes (a channel
/// would allocate a block of 32 requests per worker up front, ~5 KB each of
/// 100,000 idle children); the queue allocates only when used. The task
/// asks [`SwapInbox::posted`] before every message, so asking costs one
/// atomic load, and a waker registration only when nothing else woke it.
#[derive(Default)]
pub(crate) struct SwapInbox {
    requests: Mutex<VecDeque<SwapRequest>>,
    posted: AtomicBool,
    waker: AtomicWaker,
}

impl SwapInbox {
    /// Queues `request` and wakes the task; it takes the request between
    /// two messages. Dropped with the inbox if the task has ended, which its
    /// caller hears as the child having stopped.
    pub fn post(&self, request: SwapRequest) {
        self.lock().push_back(request);
        self.posted.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The oldest request not taken yet.
    pub fn take(&self) -> Option<SwapRequest> {
        self.lock().pop_front()
    }

    /// Ready once a request has been posted since it was last ready.
    pub fn posted(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.posted.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A post between the check and the registration woke nobody.
        if self.posted.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SwapRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which version a child is asked to run.
pub(crate) enum SwapTo {
    /// This one.
    Version(Arc<LoadedComponent>),
    /// The one it ran before its last swap (`arbor ctl swap --undo`).
    Previous,
}

impl SwapTo {
    /// The version to run instead of `current`, for the child at `path`
    /// whose version before its last swap is `previous`: refused when there
    /// is nothing to undo, or when it is the version already running.
    pub fn resolve(
        &self,
        current: &LoadedComponent,
        previous: Option<&Arc<LoadedComponent>>,
        path: &str,
    ) -> Result<Arc<LoadedComponent>, SwapError> {
        let to = match self {
            SwapTo::Version(to) => to.clone(),
            SwapTo::Previous => previous
                .cloned()
                .ok_or_else(|| SwapError::NothingToUndo(path.to_string()))?,
        };
        if to.hash == current.hash {
            return Err(SwapError::SameVersion {
                child: path.to_string(),
                version: current.hash.clone(),
            });
        }
        Ok(to)
    }
}

/// A swap of one child, as its task receives it.
pub(crate) struct SwapRequest {
    pub to: SwapTo,
    pub fresh: bool,
    pub dry_run: bool,
    pub probation: Duration,
    /// Sent at; the drain is measured from here.
    pub sent: Instant,
    /// Past this, a task that only now gets to the request refuses it.
    pub drain_deadline: Instant,
    pub events: EventSink,
    /// The child's `init` args and callback budget (`timeout`); set by its
    /// supervisor, which holds its spec.
    pub args: Vec<u8>,
    pub callback_timeout: Duration,
    /// The child's published place, so `tree` shows the version it runs;
    /// set by its supervisor.
    pub view: Option<Arc<PlaceView>>,
    pub reply: oneshot::Sender<Result<SwapReport, SwapError>>,
}

/// State to restore into a new instance right after its `init`: a
/// snapshot taken before a swap that was rolled back.
pub(crate) struct Restore {
    pub state: Vec<u8>,
    /// The version the snapshot came from.
    pub from: String,
}

/// What happened to the child's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateHandover {
    /// `snapshot` and `restore` carried this many bytes.
    Moved {
        /// The snapshot's size.
        bytes: u64,
    },
    /// The new version started from fresh state (`--fresh`).
    Fresh,
    /// The child was not running: its next start runs the new version.
    NotRunning,
}

/// A swap that went through (or, for a dry run, would have).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapReport {
    /// The child's path.
    pub child: String,
    /// The version it ran (content hash).
    pub from: String,
    /// The version it runs now.
    pub to: String,
    /// The file the old version was loaded from.
    pub from_file: String,
    /// The file the new version was loaded from.
    pub to_file: String,
    /// What happened to its state.
    pub state: StateHandover,
    /// How long the in-flight message kept the swap waiting, microseconds.
    pub drain_us: u64,
    /// How long the child took no message: from the end of the drain to
    /// the commit (snapshot, instantiate, `init`, `restore`), microseconds.
    pub unavailable_us: u64,
    /// The probation it passed, milliseconds.
    pub probation_ms: u64,
    /// Nothing was changed: the new version was tried beside the child.
    pub dry_run: bool,
}

impl std::fmt::Display for SwapReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would swap"
        } else {
            "swapped"
        };
        write!(f, "{verb} {}: {} -> {}", self.child, self.from, self.to)?;
        match self.state {
            StateHandover::Moved { bytes } => write!(f, ", state moved ({bytes} bytes)")?,
            StateHandover::Fresh => write!(f, ", fresh state")?,
            StateHandover::NotRunning => {
                return write!(f, ", not running (its next start runs {})", self.to);
            }
        }
        write!(
            f,
            ", drain {}, unavailable {}",
            micros(self.drain_us),
            micros(self.unavailable_us)
        )?;
        if !self.dry_run {
            write!(f, ", probation {} ms passed", self.probation_ms)?;
        }
        Ok(())
    }
}

/// A duration in microseconds, as people read it.
pub(crate) fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} us")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.1} s", us as f64 / 1e6)
    }
}

/// Why a swap did not happen, or was undone. Every case names the child
/// (or the component) and says which version it runs now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SwapError {
    /// The new component could not be read, compiled or checked; nothing
    /// was touched.
    #[error("{0}")]
    Load(String),
    /// No child of that name is running in the host.
    #[error("no child named {0:?} in the tree")]
    NoSuchChild(String),
    /// The name is a supervisor's: only workers run components.
    #[error("{0:?} is a supervisor: only workers run a component (swap them, or swap a component)")]
    NotAWorker(String),
    /// No such component in `[components]`.
    #[error("unknown component {0:?}")]
    NoSuchComponent(String),
    /// The child's supervisor stopped before it could pass the request on.
    #[error("the supervisor of {0} stopped before the swap began")]
    SupervisorGone(String),
    /// The child already runs that version.
    #[error("{child} already runs version {version}")]
    SameVersion {
        /// The child's path.
        child: String,
        /// Its version.
        version: String,
    },
    /// One side lacks the `handover` interface, and `--fresh` was not given.
    #[error(
        "{child}: {which} does not export `arbor:supervised/handover`, so its state cannot be \
         carried over; nothing was changed (swap with --fresh to run the new version from fresh \
         state)"
    )]
    NoHandover {
        /// The child's path.
        child: String,
        /// Which version lacks it, in words.
        which: String,
    },
    /// The in-flight message did not finish within the drain timeout.
    #[error(
        "{child}: its in-flight message did not finish within the drain timeout ({waited_ms} ms); \
         nothing was changed, it runs {version}"
    )]
    DrainTimeout {
        /// The child's path.
        child: String,
        /// How long the swap waited.
        waited_ms: u64,
        /// The version it still runs.
        version: String,
    },
    /// The new version failed before the commit: the old instance goes on,
    /// untouched.
    #[error(
        "{child}: the new version {to} failed in {phase}: {detail}; {}",
        if *dry_run { format!("a dry run: nothing was changed, it runs {from}") }
        else { format!("rolled back, it runs {from} with its state") }
    )]
    NewVersionFailed {
        /// The swap was a dry run.
        dry_run: bool,
        /// The child's path.
        child: String,
        /// The version it runs (the old one).
        from: String,
        /// The version that failed.
        to: String,
        /// `instantiate`, `init` or `restore`.
        phase: String,
        /// What went wrong.
        detail: String,
    },
    /// The old instance's `snapshot` failed.
    #[error("{child}: snapshot of version {from} failed: {detail}")]
    SnapshotFailed {
        /// The child's path.
        child: String,
        /// The version it runs.
        from: String,
        /// What went wrong; a trap there is a crash of the child, handled
        /// by its supervisor as any crash.
        detail: String,
    },
    /// The new version crashed during its probation: the child went back
    /// to the old version and the pre-swap state, and its supervisor
    /// handled the crash as any other.
    #[error(
        "{child}: the new version {to} crashed during its probation ({reason}); rolled back to \
         {from} with the state from before the swap"
    )]
    RolledBack {
        /// The child's path.
        child: String,
        /// The version it went back to.
        from: String,
        /// The version that crashed.
        to: String,
        /// The crash.
        reason: String,
    },
    /// The child stopped (shutdown, a kill, a sibling's restart) before its
    /// swap ended.
    #[error("{child} stopped before its swap ended: {detail}")]
    Interrupted {
        /// The child's path.
        child: String,
        /// What is known.
        detail: String,
    },
    /// `--undo` of a child that was never swapped.
    #[error("{0} has no previous version to go back to")]
    NothingToUndo(String),
    /// A swap of many children stopped part way.
    #[error("{0}")]
    Rollout(Box<crate::swap::RolloutReport>),
}

impl SwapError {
    /// The child the error is about, when the request reached one.
    pub fn child(&self) -> Option<&str> {
        match self {
            SwapError::SameVersion { child, .. }
            | SwapError::NoHandover { child, .. }
            | SwapError::DrainTimeout { child, .. }
            | SwapError::NewVersionFailed { child, .. }
            | SwapError::SnapshotFailed { child, .. }
            | SwapError::RolledBack { child, .. }
            | SwapError::Interrupted { child, .. } => Some(child),
            _ => None,
        }
    }
}
