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

use crate::engine::LoadedComponent;
use crate::report::{ChildCounts, NodeReport};
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
        }
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
        }
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
