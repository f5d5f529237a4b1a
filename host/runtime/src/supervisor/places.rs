//! The table of one supervisor's children: each place's spec, its live
//! instance or supervisor task, its mailbox while no instance holds it, and
//! its name in the host's registry.
//!
//! A place owns its name from the moment it is added until it is forgotten,
//! whether or not the child is running, so no other child can take the name
//! of one that is restarting. Every change of a place is also published for
//! inspection ([`super::inspect`]) here, so the table and what `arbor ctl
//! tree` shows cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::watch;

use crate::engine::LoadedComponent;
use crate::http::server::HttpListener;
use crate::mailbox::{self, MailboxReceiver, close_mailbox};
use crate::observe::stats::{StatsTable, SupervisorStats};
use crate::registry::{Entry, Registry};
use crate::spec::ChildSpec;
use crate::supervisor::backoff::Streak;
use crate::supervisor::inspect::{PlaceKind, PlaceView, Published};
use crate::supervisor::protocol::{ChildCommandError, Signal, SupervisorRef};
use crate::swap::request::{Restore, SwapInbox};
use crate::vocab::{ChildId, ChildStatus};

/// A child that exists: from its task's spawn until its exit is received.
pub(crate) struct Live {
    /// Which start of the place this is.
    pub generation: u64,
    /// How the supervisor tells it to stop.
    pub signal: watch::Sender<Signal>,
    /// A nested supervisor, once it has finished starting.
    pub supervisor: Option<SupervisorRef>,
    /// A worker's task, for hot swaps.
    pub swaps: Option<Arc<SwapInbox>>,
    /// It was killed on request (`arbor ctl crash`): its exit says so.
    pub crashed_on_request: bool,
}

/// One child's place in the supervisor.
pub(crate) struct Place {
    pub spec: ChildSpec,
    /// Shared with each instance's host state and each exit report, so a
    /// restart copies a pointer, not the path.
    pub path: Arc<str>,
    /// How many times this place has started.
    pub generation: u64,
    /// The running child, if any. Cleared only when its exit is received,
    /// so a stop interrupted by a kill still finds it.
    pub live: Option<Live>,
    /// Its restart failed and another try is queued, or its restart
    /// waits out a backoff delay.
    pub restarting: bool,
    /// Its restarts in a row, for `backoff`; made on its first delayed
    /// restart, so a child without backoff holds a null pointer.
    pub streak: Option<Box<Streak>>,
    /// A worker's queue while no instance holds it; `None` once closed.
    pub mailbox: Option<MailboxReceiver>,
    /// The component version a worker runs: fixed when the place is made,
    /// changed only by a swap, so a restart runs what ran before.
    pub component: Option<Arc<LoadedComponent>>,
    /// The version a worker ran before its last swap: what `--undo` goes
    /// back to.
    pub previous: Option<Arc<LoadedComponent>>,
    /// State for the next start to restore: the pre-swap snapshot after a
    /// swap rolled back by a crash.
    pub restore: Option<Restore>,
    pub view: Arc<PlaceView>,
    /// An HTTP child's listener: bound at its first start, kept while the
    /// place is (so requests wait across restarts), closed with it.
    pub http: Option<HttpListener>,
}

impl Place {
    /// Whether the child is running, or about to be restarted: what
    /// `auto_shutdown = all_significant` counts as still active.
    pub fn is_active(&self) -> bool {
        self.live.is_some() || self.restarting
    }

    /// Publishes the place's status and generation for inspection.
    pub fn publish(&self) {
        let status = if self.live.is_some() {
            ChildStatus::Running
        } else if self.restarting {
            ChildStatus::Restarting
        } else {
            ChildStatus::Stopped
        };
        self.view.set_generation(self.generation);
        self.view.set_status(status);
    }

    pub fn is_worker(&self) -> bool {
        matches!(self.spec, ChildSpec::Worker(_))
    }
}

/// How inspection shows a child of this spec.
fn kind_of(spec: &ChildSpec) -> PlaceKind {
    match spec {
        ChildSpec::Worker(w) => PlaceKind::Worker {
            component: w.component.clone(),
        },
        ChildSpec::Supervisor(s) => PlaceKind::Supervisor {
            strategy: s.strategy_label().to_string(),
        },
    }
}

/// A supervisor's places in start order, with a name index.
pub(crate) struct Places {
    registry: Registry,
    path: String,
    places: BTreeMap<ChildId, Place>,
    by_name: HashMap<String, ChildId>,
    next_id: u64,
    published: Arc<Published>,
    /// Where its workers' groups and its own counters are kept.
    stats: Arc<StatsTable>,
    /// Its own counters (restarts it made).
    pub counters: Arc<SupervisorStats>,
}

impl Places {
    pub fn new(
        registry: Registry,
        path: String,
        published: Arc<Published>,
        stats: Arc<StatsTable>,
    ) -> Self {
        Places {
            counters: stats.supervisor(&path),
            stats,
            registry,
            path,
            places: BTreeMap::new(),
            by_name: HashMap::new(),
            next_id: 0,
            published,
        }
    }

    /// Creates a place for `spec` at the end of the start order and takes
    /// its name in the registry.
    pub fn add(
        &mut self,
        spec: ChildSpec,
        component: Option<Arc<LoadedComponent>>,
    ) -> Result<ChildId, ChildCommandError> {
        let name = spec.name().to_string();
        let (entry, mailbox) = match &spec {
            ChildSpec::Worker(worker) => {
                let (tx, rx) = mailbox::mailbox(worker.mailbox);
                (Entry::Worker(tx), Some(rx))
            }
            ChildSpec::Supervisor(_) => (Entry::Supervisor(None), None),
        };
        self.registry
            .register(&name, entry)
            .map_err(|_| ChildCommandError::NameTaken(name.clone()))?;
        let id = ChildId(self.next_id);
        self.next_id += 1;
        let path: Arc<str> = Arc::from(format!("{}/{}", self.path, name));
        let mut view = PlaceView::new(
            name.clone(),
            path.to_string(),
            kind_of(&spec),
            spec.restart(),
        );
        if let ChildSpec::Worker(worker) = &spec {
            view = view.with_group(self.stats.group(&self.path, &worker.component));
        }
        let view = Arc::new(view);
        if let Some(component) = &component {
            view.set_version(component.clone());
        }
        self.published.insert(id, view.clone());
        self.by_name.insert(name, id);
        self.places.insert(
            id,
            Place {
                spec,
                path,
                generation: 0,
                live: None,
                restarting: false,
                streak: None,
                mailbox,
                component,
                previous: None,
                restore: None,
                view,
                http: None,
            },
        );
        Ok(id)
    }

    /// Replaces the spec of the place at `id` (same name, kind and
    /// component id). Its mailbox takes the new bounds at once; inspection
    /// shows the new restart type (and strategy) at once.
    pub fn set_spec(&mut self, id: ChildId, spec: ChildSpec) {
        let Some(place) = self.places.get_mut(&id) else {
            return;
        };
        if let ChildSpec::Worker(worker) = &spec
            && let Some(Entry::Worker(mailbox)) = self.registry.lookup(&worker.name)
        {
            mailbox.set_limits(worker.mailbox);
        }
        place.view.set_terms(kind_of(&spec), spec.restart());
        place.spec = spec;
    }

    /// The restarts against the intensity inspection shows for this supervisor.
    pub fn publish_intensity(&self, intensity: crate::report::IntensityReport) {
        self.published.set_intensity(intensity);
    }

    /// The strategy label inspection shows for this supervisor.
    pub fn relabel(&self, strategy: &str) {
        self.published.set_strategy(strategy.to_string());
    }

    /// Forgets a place: its callers get errors and its name is freed.
    pub fn remove(&mut self, id: ChildId, why: &str) {
        let Some(mut place) = self.places.remove(&id) else {
            return;
        };
        if let Some(rx) = place.mailbox.take() {
            close_mailbox(rx, why);
        }
        let name = place.spec.name();
        self.by_name.remove(name);
        self.registry.unregister(name);
        self.published.remove(id);
    }

    /// A stopped child that is not coming back (for now): callers get
    /// errors at once; a later start opens a fresh mailbox.
    pub fn close(&mut self, id: ChildId, why: &str) {
        if let Some(place) = self.places.get_mut(&id) {
            place.restarting = false;
            place.publish();
            if let Some(rx) = place.mailbox.take() {
                close_mailbox(rx, why);
            }
        }
    }

    /// Forgets every place.
    pub fn remove_all(&mut self, why: &str) {
        let ids: Vec<ChildId> = self.places.keys().copied().collect();
        for id in ids {
            self.remove(id, why);
        }
    }

    /// A worker's mailbox for its next instance: the kept one, or a fresh
    /// one under the same name if it was closed.
    pub fn take_mailbox(&mut self, id: ChildId) -> Option<MailboxReceiver> {
        let place = self.places.get_mut(&id)?;
        let ChildSpec::Worker(worker) = &place.spec else {
            return None;
        };
        Some(match place.mailbox.take() {
            Some(rx) => rx,
            None => {
                let (tx, rx) = mailbox::mailbox(worker.mailbox);
                self.registry.set_worker(&worker.name, tx);
                rx
            }
        })
    }

    /// Records that the child at `id` exists from now on, as start number
    /// `generation`, stopped through `signal` (and, a worker, swapped
    /// through `swaps`).
    pub fn set_live(
        &mut self,
        id: ChildId,
        generation: u64,
        signal: watch::Sender<Signal>,
        swaps: Option<Arc<SwapInbox>>,
    ) {
        if let Some(place) = self.places.get_mut(&id) {
            place.generation = generation;
            place.live = Some(Live {
                generation,
                signal,
                supervisor: None,
                swaps,
                crashed_on_request: false,
            });
        }
    }

    /// Points a nested supervisor's name at the running supervisor (or at
    /// nothing while it is down).
    pub fn set_supervisor(&self, id: ChildId, running: Option<SupervisorRef>) {
        if let Some(place) = self.places.get(&id) {
            self.registry.set_supervisor(place.spec.name(), running);
        }
    }

    pub fn get(&self, id: ChildId) -> Option<&Place> {
        self.places.get(&id)
    }

    pub fn get_mut(&mut self, id: ChildId) -> Option<&mut Place> {
        self.places.get_mut(&id)
    }

    pub fn find(&self, name: &str) -> Option<ChildId> {
        self.by_name.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// The path of a child, for messages.
    pub fn path_of(&self, id: ChildId) -> String {
        self.places
            .get(&id)
            .map(|p| p.path.to_string())
            .unwrap_or_default()
    }

    /// Whether `id` is running or about to be restarted.
    pub fn is_active(&self, id: ChildId) -> bool {
        self.places.get(&id).is_some_and(Place::is_active)
    }

    /// Live children in reverse start order: the shutdown order.
    pub fn live_in_reverse(&self) -> Vec<ChildId> {
        self.places
            .iter()
            .rev()
            .filter(|(_, p)| p.live.is_some())
            .map(|(id, _)| *id)
            .collect()
    }
}
