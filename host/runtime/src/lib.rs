//! Arbor runs WebAssembly components under Erlang/OTP-style supervision trees.
//!
//! Each child is a sandboxed component that exports `init`, `handle` and
//! `terminate` (see `wit/`). A trap is a crash: the instance is dropped and a
//! fresh one started as its supervisor's strategy says. The supervision rules
//! are OTP's (`one_for_one`, `one_for_all`, `rest_for_one`; `permanent`,
//! `transient`, `temporary`; restart intensity; ordered shutdown), with one
//! addition: a child's mailbox belongs to its place in the tree and survives
//! its restarts.
//!
//! Key types: [`TreeSpec`] (a validated tree file), [`Node`] (a running host),
//! [`EventSink`] (the event stream).

#![deny(missing_docs)]

pub mod allocator;
pub mod batch_writer;
mod bindings;
mod child;
pub mod compile_cache;
pub mod control;
pub mod dead_letters;
mod deadlines;
pub mod engine;
pub mod events;
pub mod grants;
pub mod guest_log;
mod host_api;
pub mod http;
pub mod keyvalue;
mod limits;
pub mod mailbox;
pub mod node;
pub mod observe;
pub mod registry;
pub mod report;
mod routing;
pub mod scheduler;
pub mod spec;
pub mod supervisor;
pub mod swap;
pub mod timers;
pub mod tls;
pub mod upgrade;
pub mod vocab;

pub use allocator::{Allocation, InstanceUsage, PoolSize};
pub use dead_letters::{DeadLetter, DeadLetterLimits, DeadLetterList};
pub use engine::{ArborEngine, ContractVersion, EngineSettings, LoadError};
pub use events::{Event, EventKind, EventSink};
pub use grants::{ChildGrants, Grants};
pub use guest_log::LogRate;
pub use keyvalue::{KvError, KvStore};
pub use mailbox::{CallError, MAX_MESSAGE_BYTES};
pub use node::{CommandError, Node, NodeError, NodeHandle, NodeOptions, RedeliverError, RootExit};
pub use report::{ChildCounts, NodeReport};
pub use scheduler::SpinPolicy;
pub use spec::{ChildSpec, SpecError, SupervisorSettings, SupervisorSpec, TreeSpec, WorkerSpec};
pub use supervisor::protocol::ChildCommandError;
pub use swap::{RolloutReport, StateHandover, SwapError, SwapOptions, SwapReport};
pub use upgrade::apply::{ApplyError, ApplyOptions, ApplyReport};
pub use upgrade::plan::Plan;
pub use vocab::{
    AutoShutdown, Backoff, ChildId, ChildStatus, ExitReason, RestartIntensity, RestartType,
    Shutdown, StartOutcome, Strategy, SupervisorStop,
};
