//! Hot swap: replacing the component a running child runs, without losing
//! a message, with its state carried over when both versions export the
//! contract's `handover` interface, and rolled back when the new version
//! fails.
//!
//! The sequence for one child (docs/hot-swap.md has the guarantees):
//! prepare (the new component is read, compiled and checked before any
//! child is touched: [`crate::NodeHandle::prepare_component`]) -> drain (the
//! child's task finishes its in-flight message on the old version and takes
//! no other) -> hand over (`snapshot` on the old instance, `init` and
//! `restore` on a fresh instance of the new version) -> commit (the same
//! mailbox now feeds the new instance) -> probation (a crash rolls the child
//! back to the old version and the pre-swap snapshot) -> retire.
//!
//! - [`request`]: the request that travels from the caller through the
//!   child's supervisor to the child's task, and what the task answers;
//! - `rollout`: the caller's side: one child, every child of a component
//!   (canary, batches), undo.
//!
//! The child's side of the sequence lives with the task that runs it
//! (`child::swap`).

use std::time::Duration;

pub(crate) mod request;
mod rollout;

pub use request::{StateHandover, SwapError, SwapReport};
pub use rollout::{ChildVersion, RolloutReport};

/// How a swap is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapOptions {
    /// When either version lacks the `handover` interface, run the new
    /// version from fresh state (the old one gets `terminate(shutdown)`).
    /// Without it such a swap is refused: a swap never drops state
    /// silently.
    pub fresh: bool,
    /// How long after its commit a crash of the new version rolls the
    /// child back to the old one.
    pub probation: Duration,
    /// How long to wait for the child to finish its in-flight message; past
    /// it the swap is abandoned and the child keeps its version.
    pub drain_timeout: Duration,
    /// Component swaps: how many children are swapped first, with the rest
    /// waiting until these have passed their probation (0: none).
    pub canary: usize,
    /// Component swaps: how many children are between their drain and the
    /// end of their probation at once.
    pub batch: usize,
    /// Prepare the new version and restore a copy of the child's state into
    /// it beside the live child, report, and touch nothing.
    pub dry_run: bool,
}

/// The probation of a swap unless told otherwise.
pub const DEFAULT_PROBATION: Duration = Duration::from_secs(3);
/// How long a swap waits for an in-flight message unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many children of a component swap at once unless told otherwise.
pub const DEFAULT_BATCH: usize = 16;

impl Default for SwapOptions {
    fn default() -> Self {
        SwapOptions {
            fresh: false,
            probation: DEFAULT_PROBATION,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            canary: 0,
            batch: DEFAULT_BATCH,
            dry_run: false,
        }
    }
}
