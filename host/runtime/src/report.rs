//! Tree inspection: what `arbor ctl tree` and `count-children` show.

use serde::{Deserialize, Serialize};

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
    /// Children in start order (supervisors).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub children: Vec<NodeReport>,
}

impl NodeReport {
    /// The tree as indented text, one node per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(0, &mut out);
        out
    }

    fn render_into(&self, depth: usize, out: &mut String) {
        let what = match (&self.strategy, &self.component) {
            (Some(strategy), _) => format!("supervisor {strategy}"),
            (_, Some(component)) => match &self.version {
                Some(version) => format!("worker {component}@{version}"),
                None => format!("worker {component}"),
            },
            _ => self.kind.clone(),
        };
        out.push_str(&format!(
            "{:indent$}{}  [{what}, {}, {}, generation {}, restarts {}]\n",
            "",
            self.path,
            self.restart,
            self.state,
            self.generation,
            self.restarts,
            indent = depth * 2
        ));
        for child in &self.children {
            child.render_into(depth + 1, out);
        }
    }
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
