//! The tree as the observer serves it: what supervisors publish, plus each
//! worker's queue length read from its mailbox (one relaxed load each).

use crate::node::{CommandError, NodeHandle};
use crate::registry::Entry;
use crate::report::NodeReport;

/// The live tree with mailbox depths.
pub fn snapshot(node: &NodeHandle) -> Result<NodeReport, CommandError> {
    let mut tree = node.tree_now()?;
    fill(node, &mut tree);
    Ok(tree)
}

fn fill(node: &NodeHandle, report: &mut NodeReport) {
    if report.component.is_some() {
        let name = crate::vocab::last_name(&report.path);
        if let Some(Entry::Worker(tx)) = node.shared().registry.lookup(name) {
            report.mailbox = Some(tx.queued());
        }
    }
    for child in &mut report.children {
        fill(node, child);
    }
}
