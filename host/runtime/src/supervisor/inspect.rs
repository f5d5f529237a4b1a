//! Inspection without asking: every supervisor publishes its children's
//! state, and the tree (`arbor ctl tree`, `count-children`) is assembled
//! from what is published, so a supervisor busy stopping or starting a child
//! never holds up an inspection, and an inspection never holds up a
//! supervisor.
//!
//! A supervisor writes here only when something changes: one map insert or
//! removal (under a lock nobody holds for long) when a child is added or
//! forgotten, and two relaxed atomic stores when a child starts or stops, so
//! a restart pays almost nothing for being visible.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::engine::LoadedComponent;
use crate::observe::stats::{GroupStats, MemoryGauge};
use crate::observe::why::{History, Link};
use crate::report::{ChildCounts, IntensityReport, NodeReport};
use crate::vocab::{ChildId, ChildStatus, RestartType};

/// What kind of child a place holds.
#[derive(Debug, Clone)]
pub(crate) enum PlaceKind {
    /// A worker running this component.
    Worker { component: String },
    /// A supervisor with this strategy label (`one_for_all`, `dynamic`, ...).
    Supervisor { strategy: String },
}

/// One child as inspection sees it.
#[derive(Debug)]
pub(crate) struct PlaceView {
    pub name: String,
    pub path: String,
    /// Whether it is a supervisor (which never changes in place).
    supervisor: bool,
    /// Its kind's label (component id, strategy) and restart type: changed
    /// only by `apply`, so the lock is never contended.
    terms: Mutex<(PlaceKind, RestartType)>,
    status: AtomicU8,
    generation: AtomicU64,
    /// The component version a worker runs; changed only by a swap, so
    /// the lock is never contended on a hot path.
    version: Mutex<Option<Arc<LoadedComponent>>>,
    /// Messages its instances handled (counted when the host observes).
    handled: AtomicU64,
    /// A worker's group in [`crate::observe::stats`]: its supervisor and
    /// component.
    group: Option<Arc<GroupStats>>,
    /// The linear memory its live instances hold (counted by their
    /// stores' limiters, [`crate::limits`]).
    pub memory: Arc<MemoryGauge>,
    /// Its last exits and the decisions on them ([`crate::observe::why`]).
    pub history: History,
}

impl PlaceView {
    pub fn new(name: String, path: String, kind: PlaceKind, restart: RestartType) -> Self {
        PlaceView {
            name,
            path,
            supervisor: matches!(kind, PlaceKind::Supervisor { .. }),
            terms: Mutex::new((kind, restart)),
            status: AtomicU8::new(status_code(ChildStatus::Stopped)),
            generation: AtomicU64::new(0),
            version: Mutex::new(None),
            handled: AtomicU64::new(0),
            group: None,
            memory: Arc::new(MemoryGauge::default()),
            history: History::default(),
        }
    }

    /// The same view, counting into `group`.
    pub fn with_group(mut self, group: Arc<GroupStats>) -> Self {
        self.memory = Arc::new(MemoryGauge::new(Some(group.clone())));
        self.group = Some(group);
        self
    }

    /// One message handled in `took`; `error` when `handle` answered `err`.
    /// Relaxed adds on counters of this worker's thread: no lock, no
    /// allocation.
    pub fn count_message(&self, took: Duration, error: bool) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if let Some(group) = &self.group {
            group.messages.fetch_add(1, Ordering::Relaxed);
            if error {
                group.errors.fetch_add(1, Ordering::Relaxed);
            }
            group.latency.observe(took);
        }
    }

    /// The worker exited with `reason`.
    pub fn count_exit(&self, reason: crate::vocab::ExitReason) {
        if let Some(group) = &self.group {
            group.exited(reason);
        }
    }

    /// The worker was restarted.
    pub fn count_restart(&self) {
        if let Some(group) = &self.group {
            group.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages its instances handled so far.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// New label and restart type (the child's spec changed in place; a
    /// worker stays a worker).
    pub fn set_terms(&self, kind: PlaceKind, restart: RestartType) {
        debug_assert_eq!(
            self.supervisor,
            matches!(kind, PlaceKind::Supervisor { .. })
        );
        *self.terms.lock().unwrap_or_else(|p| p.into_inner()) = (kind, restart);
    }

    fn terms(&self) -> (PlaceKind, RestartType) {
        self.terms.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records the component version the worker runs.
    pub fn set_version(&self, component: Arc<LoadedComponent>) {
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = Some(component);
    }

    fn version(&self) -> Option<Arc<LoadedComponent>> {
        self.version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_status(&self, status: ChildStatus) {
        self.status.store(status_code(status), Ordering::Relaxed);
    }

    pub fn status(&self) -> ChildStatus {
        match self.status.load(Ordering::Relaxed) {
            0 => ChildStatus::Running,
            1 => ChildStatus::Stopped,
            _ => ChildStatus::Restarting,
        }
    }

    pub fn set_generation(&self, generation: u64) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Its path, generation and kept history.
    pub fn link(&self) -> Link {
        Link {
            path: self.path.clone(),
            generation: self.generation(),
            history: self.history.entries(),
        }
    }

    fn leaf(&self) -> NodeReport {
        let (place_kind, restart) = self.terms();
        let (kind, component, strategy) = match place_kind {
            PlaceKind::Worker { component } => ("worker", Some(component), None),
            PlaceKind::Supervisor { strategy } => ("supervisor", None, Some(strategy)),
        };
        let generation = self.generation();
        let version = self.version();
        NodeReport {
            path: self.path.clone(),
            kind: kind.to_string(),
            component,
            version: version.as_ref().map(|v| v.hash.clone()),
            file: version.as_ref().map(|v| v.path.display().to_string()),
            strategy,
            restart,
            state: self.status(),
            generation,
            restarts: generation.saturating_sub(1),
            messages: Some(self.handled()).filter(|&n| n > 0),
            memory: (!self.supervisor).then(|| self.memory.bytes()),
            mailbox: None,
            intensity: None,
            children: Vec::new(),
        }
    }
}

fn status_code(status: ChildStatus) -> u8 {
    match status {
        ChildStatus::Running => 0,
        ChildStatus::Stopped => 1,
        ChildStatus::Restarting => 2,
    }
}

/// What one supervisor publishes: itself and its children in start order.
#[derive(Debug)]
pub(crate) struct Published {
    /// The supervisor as a leaf (its own path, strategy, restart type);
    /// its strategy changes when it takes new settings.
    header: PlaceView,
    places: Mutex<BTreeMap<ChildId, Arc<PlaceView>>>,
    /// Its intensity and the restarts in its window at its last decision.
    intensity: Mutex<IntensityReport>,
}

impl Published {
    pub fn new(path: String, strategy: String, restart: RestartType) -> Self {
        let header = PlaceView::new(
            String::new(),
            path,
            PlaceKind::Supervisor { strategy },
            restart,
        );
        header.set_status(ChildStatus::Running);
        header.set_generation(1);
        Published {
            header,
            places: Mutex::new(BTreeMap::new()),
            intensity: Mutex::new(IntensityReport {
                restarts: 0,
                max_restarts: 0,
                window_ms: 0,
            }),
        }
    }

    /// Its restarts against its intensity, as of its last decision.
    pub fn set_intensity(&self, intensity: IntensityReport) {
        *self.intensity.lock().unwrap_or_else(|p| p.into_inner()) = intensity;
    }

    /// The strategy label inspection shows for the supervisor itself.
    pub fn set_strategy(&self, strategy: String) {
        let (_, restart) = self.header.terms();
        self.header
            .set_terms(PlaceKind::Supervisor { strategy }, restart);
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ChildId, Arc<PlaceView>>> {
        self.places.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, id: ChildId, view: Arc<PlaceView>) {
        self.lock().insert(id, view);
    }

    pub fn remove(&self, id: ChildId) {
        self.lock().remove(&id);
    }

    /// The child named `name` here or below (through running nested
    /// supervisors, found by `lookup`), with the places of the supervisors
    /// on the way pushed on `ancestors`, outermost first.
    pub fn find(
        &self,
        name: &str,
        lookup: &dyn Fn(&str) -> Option<Arc<Published>>,
        ancestors: &mut Vec<Arc<PlaceView>>,
    ) -> Option<Arc<PlaceView>> {
        let children = self.children();
        if let Some(found) = children.iter().find(|v| v.name == name) {
            return Some(found.clone());
        }
        for view in children.iter().filter(|v| v.supervisor) {
            let Some(nested) = lookup(&view.name) else {
                continue;
            };
            ancestors.push(view.clone());
            if let Some(found) = nested.find(name, lookup, ancestors) {
                return Some(found);
            }
            ancestors.pop();
        }
        None
    }

    fn children(&self) -> Vec<Arc<PlaceView>> {
        self.lock().values().cloned().collect()
    }

    /// What OTP's `count_children` answers.
    pub fn counts(&self) -> ChildCounts {
        let places = self.lock();
        let supervisors = places.values().filter(|p| p.supervisor).count();
        ChildCounts {
            specs: places.len(),
            active: places
                .values()
                .filter(|p| p.status() == ChildStatus::Running)
                .count(),
            supervisors,
            workers: places.len() - supervisors,
        }
    }

    /// This supervisor's subtree, following running nested supervisors
    /// by name through `lookup` (the registry, which this module does not
    /// import: the registry's entries hold what is published here).
    pub fn report(&self, lookup: &dyn Fn(&str) -> Option<Arc<Published>>) -> NodeReport {
        let mut report = self.header.leaf();
        report.intensity = Some(*self.intensity.lock().unwrap_or_else(|p| p.into_inner()));
        report.children = self
            .children()
            .iter()
            .map(|view| child_report(view, lookup))
            .collect();
        report
    }
}

fn child_report(view: &PlaceView, lookup: &dyn Fn(&str) -> Option<Arc<Published>>) -> NodeReport {
    let nested = if view.supervisor && view.status() == ChildStatus::Running {
        lookup(&view.name)
    } else {
        None
    };
    match nested {
        Some(nested) => {
            let mut report = nested.report(lookup);
            // The parent knows the place's restart type and its starts.
            let leaf = view.leaf();
            report.restart = leaf.restart;
            report.generation = leaf.generation;
            report.restarts = leaf.restarts;
            report
        }
        None => view.leaf(),
    }
}
