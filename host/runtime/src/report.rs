//! Tree inspection: what `arbor ctl tree` and `count-children` show
//! (the tree as text is drawn by [`print_tree`]).

use serde::{Deserialize, Serialize};

pub mod print_tree;

use crate::vocab::{ChildStatus, RestartType};

/// One node of the live tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Slash-joined names from the root.
    pub path: String,
    /// `supervisor` or `worker`.
    pub kind: String,
    /// The component (workers).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub component: Option<String>,
    /// The version of the component a worker runs: its content hash.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// The file that version was loaded from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// The strategy (supervisors).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub strategy: Option<String>,
    /// permanent, transient or temporary.
    pub restart: RestartType,
    /// `running`, `stopped` or `restarting`.
    pub state: ChildStatus,
    /// How many times this place has started.
    pub generation: u64,
    /// How many of those starts were restarts.
    pub restarts: u64,
    /// Messages a worker has handled, across its restarts; counted only
    /// when the host observes (`arbor run --observe`), absent before the
    /// first.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub messages: Option<u64>,
    /// The linear memory a worker's live instance holds now, in bytes (0
    /// while it is not running; absent for supervisors).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<u64>,
    /// Messages queued for a worker now (the observer's snapshot only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mailbox: Option<u64>,
    /// A supervisor's restart intensity and the restarts inside its window
    /// at its last decision.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub intensity: Option<IntensityReport>,
    /// Children in start order (supervisors).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub children: Vec<NodeReport>,
}

impl NodeReport {
    /// The tree as text, drawn as OTP's `print_tree` draws it, without colour.
    pub fn render(&self) -> String {
        print_tree::render(self, print_tree::Colour::Off)
    }

    /// The tree as text, with ANSI colours when `colour` says so.
    pub fn render_with(&self, colour: print_tree::Colour) -> String {
        print_tree::render(self, colour)
    }
}

/// A supervisor's restarts against its intensity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntensityReport {
    /// Restarts inside the window at its last decision.
    pub restarts: u64,
    /// At most this many restarts...
    pub max_restarts: u32,
    /// ...within this many milliseconds.
    pub window_ms: u64,
}

/// What OTP's `count_children` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildCounts {
    /// Children in the spec list, running or not.
    pub specs: usize,
    /// Running children.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

impl std::fmt::Display for ChildCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "specs={} active={} supervisors={} workers={}",
            self.specs, self.active, self.supervisors, self.workers
        )
    }
}
