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
    pub kind: PlaceKind,
    pub restart: RestartType,
    status: AtomicU8,
    generation: AtomicU64,
}

impl PlaceView {
    pub fn new(name: String, path: String, kind: PlaceKind, restart: RestartType) -> Self {
        PlaceView {
            name,
            path,
            kind,
            restart,
            status: AtomicU8::new(status_code(ChildStatus::Stopped)),
            generation: AtomicU64::new(0),
        }
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
        let (kind, component, strategy) = match &self.kind {
            PlaceKind::Worker { component } => ("worker", Some(component.clone()), None),
            PlaceKind::Supervisor { strategy } => ("supervisor", None, Some(strategy.clone())),
        };
        let generation = self.generation();
        NodeReport {
            path: self.path.clone(),
            kind: kind.to_string(),
            component,
            strategy,
            restart: self.restart,
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
    header: Mutex<PlaceView>,
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
            header: Mutex::new(header),
            places: Mutex::new(BTreeMap::new()),
        }
    }

    /// The strategy label inspection shows for the supervisor itself.
    pub fn set_strategy(&self, strategy: String) {
        let mut header = self.header.lock().unwrap_or_else(|p| p.into_inner());
        header.kind = PlaceKind::Supervisor { strategy };
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
        let supervisors = places
            .values()
            .filter(|p| matches!(p.kind, PlaceKind::Supervisor { .. }))
            .count();
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
        let mut report = self.header.lock().unwrap_or_else(|p| p.into_inner()).leaf();
        report.children = self
            .children()
            .iter()
            .map(|view| child_report(view, lookup))
            .collect();
        report
    }
}

fn child_report(view: &PlaceView, lookup: &dyn Fn(&str) -> Option<Arc<Published>>) -> NodeReport {
    let nested = match view.kind {
        PlaceKind::Supervisor { .. } if view.status() == ChildStatus::Running => lookup(&view.name),
        _ => None,
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
