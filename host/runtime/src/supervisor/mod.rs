//! Supervisors, in layers that point one way:
//!
//! - [`state`]: OTP's decisions as a pure state machine (no tasks, no clock);
//! - `backoff`: how long a restart waits, when a tree file asks for it;
//! - [`protocol`]: the messages between a supervisor and its children, and
//!   the commands it answers;
//! - [`inspect`]: what each supervisor publishes so the tree can be read
//!   without asking it;
//! - `places`: the table of a supervisor's children and their names;
//! - `driver`: the async loop that carries decisions out;
//! - `explain`: what each decision is recorded as, for "why did this restart";
//! - `starting`: starting children and recording their exits;
//! - `commands`: the commands a supervisor answers;
//! - `stopping`: stopping children in order, at once, or by killing them;
//! - `admitting`: the grants of a child added at run time, checked
//!   against the supervisor's `child_grants`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::engine::{ArborEngine, LoadedComponent};
use crate::events::EventSink;
use crate::registry::Registry;
use crate::routing::Router;

mod admitting;
mod backoff;
mod commands;
pub(crate) mod driver;
mod explain;
pub(crate) mod inspect;
mod places;
pub mod protocol;
mod starting;
pub mod state;
mod stopping;

/// What every supervisor of one host shares.
pub(crate) struct Shared {
    /// The tree file's directory: relative host directories in run-time
    /// grants are resolved against it, as in the file.
    pub base: std::path::PathBuf,
    pub engine: ArborEngine,
    pub registry: Registry,
    /// The registry as the children's call path sees it.
    pub router: Arc<dyn Router>,
    pub events: EventSink,
    /// The durable key-value store, opened on first use.
    pub keyvalue: Arc<crate::keyvalue::KvStore>,
    /// The TLS client of children's `https` requests, built on first use.
    pub tls: Arc<crate::tls::TlsClient>,
    /// Messages that crashed a worker with `poison` too often.
    pub dead_letters: Arc<crate::dead_letters::DeadLetters>,
    /// The current version of each component in `[components]`: what a
    /// child added from now on runs. A swap of a whole component, or an
    /// `apply`, replaces entries; each worker's place keeps the version it
    /// runs.
    pub components: RwLock<BTreeMap<String, Arc<LoadedComponent>>>,
    pub schedulers: crate::scheduler::Schedulers,
    pub next_thread: AtomicUsize,
    pub origin: Instant,
    /// The counters behind `/metrics` ([`crate::observe::stats`]).
    pub stats: Arc<crate::observe::stats::StatsTable>,
    /// Whether workers count each message ([`crate::NodeOptions::observe`]).
    pub observe: bool,
}

impl Shared {
    /// The current version of the component `name`.
    pub fn component(&self, name: &str) -> Option<Arc<LoadedComponent>> {
        self.components
            .read()
            .expect("the component table is never poisoned")
            .get(name)
            .cloned()
    }
}
