//! `GET /metrics`: the host in Prometheus text format (version 0.0.4).
//!
//! Written by hand rather than through a client library: the counters are
//! the runtime's own atomics ([`super::stats`]), made when a group first
//! appears and read only here, so a library's metric objects would only be
//! a second copy filled at each scrape; the format itself is a few lines
//! of text with one escaping rule.
//!
//! Series are per supervisor and component (see [`super::stats`] for why);
//! gauges of the live tree (children by state, mailbox depth) are summed
//! over the same groups when scraped, from what supervisors publish; the
//! memory gauge is kept summed as instances grow and go.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::stats::{EXIT_REASONS, LATENCY_BUCKETS_US};
use crate::node::NodeHandle;
use crate::registry::Entry;
use crate::report::NodeReport;
use crate::vocab::ChildStatus;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// Writes `# HELP` and `# TYPE` for one metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{a="x",b="y"}` from label pairs.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// What the live tree adds up to, per supervisor and component.
#[derive(Default)]
struct Live {
    /// Direct children of each supervisor, by state.
    children: BTreeMap<String, [u64; 3]>,
    /// Messages queued, summed and the largest, per group.
    mailbox: BTreeMap<(String, String), (u64, u64)>,
}

fn state_index(state: ChildStatus) -> usize {
    match state {
        ChildStatus::Running => 0,
        ChildStatus::Stopped => 1,
        ChildStatus::Restarting => 2,
    }
}

const STATES: [&str; 3] = ["running", "stopped", "restarting"];

fn walk(node: &NodeHandle, report: &NodeReport, live: &mut Live) {
    let counts = live.children.entry(report.path.clone()).or_default();
    for child in &report.children {
        counts[state_index(child.state)] += 1;
    }
    for child in &report.children {
        if let Some(component) = &child.component {
            let name = crate::vocab::last_name(&child.path);
            let queued = match node.shared().registry.lookup(name) {
                Some(Entry::Worker(tx)) => tx.queued(),
                _ => 0,
            };
            let entry = live
                .mailbox
                .entry((report.path.clone(), component.clone()))
                .or_default();
            entry.0 += queued;
            entry.1 = entry.1.max(queued);
        }
        if child.strategy.is_some() {
            walk(node, child, live);
        }
    }
}

/// The whole page of metrics for `node`.
pub fn render(node: &NodeHandle) -> String {
    let mut out = String::new();
    let stats = &node.shared().stats;
    let groups = stats.groups();

    family(
        &mut out,
        "arbor_child_restarts_total",
        "counter",
        "Restarts of workers, per supervisor and component.",
    );
    for ((sup, component), g) in &groups {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(
            out,
            "arbor_child_restarts_total{l} {}",
            g.restarts.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "arbor_child_exits_total",
        "counter",
        "Exits of workers by reason, per supervisor and component.",
    );
    for ((sup, component), g) in &groups {
        for reason in EXIT_REASONS {
            let reason_text = reason.to_string();
            let l = labels(&[
                ("supervisor", sup),
                ("component", component),
                ("reason", &reason_text),
            ]);
            let _ = writeln!(out, "arbor_child_exits_total{l} {}", g.exits(reason));
        }
    }
    family(
        &mut out,
        "arbor_messages_total",
        "counter",
        "Messages handled (calls and casts), per supervisor and component.",
    );
    for ((sup, component), g) in &groups {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(
            out,
            "arbor_messages_total{l} {}",
            g.messages.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "arbor_message_errors_total",
        "counter",
        "Messages whose handle answered err, per supervisor and component.",
    );
    for ((sup, component), g) in &groups {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(
            out,
            "arbor_message_errors_total{l} {}",
            g.errors.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "arbor_callback_duration_seconds",
        "histogram",
        "How long handle took, per supervisor and component.",
    );
    for ((sup, component), g) in &groups {
        let (counts, sum_us) = g.latency.read();
        for (i, count) in counts.iter().enumerate() {
            let le = match LATENCY_BUCKETS_US.get(i) {
                Some(us) => format!("{}", *us as f64 / 1e6),
                None => "+Inf".to_string(),
            };
            let l = labels(&[("supervisor", sup), ("component", component), ("le", &le)]);
            let _ = writeln!(out, "arbor_callback_duration_seconds_bucket{l} {count}");
        }
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(
            out,
            "arbor_callback_duration_seconds_sum{l} {}",
            sum_us as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "arbor_callback_duration_seconds_count{l} {}",
            counts.last().copied().unwrap_or(0)
        );
    }

    let supervisors = stats.supervisors();
    family(
        &mut out,
        "arbor_supervisor_restarts_total",
        "counter",
        "Children (workers and supervisors) a supervisor restarted.",
    );
    for (sup, s) in &supervisors {
        let l = labels(&[("supervisor", sup)]);
        let _ = writeln!(
            out,
            "arbor_supervisor_restarts_total{l} {}",
            s.restarts.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "arbor_supervisor_gave_up_total",
        "counter",
        "Times a supervisor reached its restart intensity and shut down.",
    );
    for (sup, s) in &supervisors {
        let l = labels(&[("supervisor", sup)]);
        let _ = writeln!(
            out,
            "arbor_supervisor_gave_up_total{l} {}",
            s.gave_up.load(Ordering::Relaxed)
        );
    }

    let mut live = Live::default();
    if let Ok(tree) = node.tree_now() {
        walk(node, &tree, &mut live);
    }
    family(
        &mut out,
        "arbor_children",
        "gauge",
        "A supervisor's children now, by state.",
    );
    for (sup, counts) in &live.children {
        for (i, state) in STATES.iter().enumerate() {
            let l = labels(&[("supervisor", sup), ("state", state)]);
            let _ = writeln!(out, "arbor_children{l} {}", counts[i]);
        }
    }
    family(
        &mut out,
        "arbor_mailbox_messages",
        "gauge",
        "Messages queued now, summed over a supervisor's workers of one component.",
    );
    for ((sup, component), (sum, _)) in &live.mailbox {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(out, "arbor_mailbox_messages{l} {sum}");
    }
    family(
        &mut out,
        "arbor_mailbox_messages_max",
        "gauge",
        "The longest queue now among a supervisor's workers of one component.",
    );
    for ((sup, component), (_, max)) in &live.mailbox {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(out, "arbor_mailbox_messages_max{l} {max}");
    }
    family(
        &mut out,
        "arbor_memory_bytes",
        "gauge",
        "Linear memory held now by a supervisor's live instances of one component.",
    );
    for ((sup, component), g) in &groups {
        let l = labels(&[("supervisor", sup), ("component", component)]);
        let _ = writeln!(
            out,
            "arbor_memory_bytes{l} {}",
            g.memory.load(Ordering::Relaxed)
        );
    }

    if let Some(usage) = node.instances() {
        family(
            &mut out,
            "arbor_instances_live",
            "gauge",
            "Live component instances.",
        );
        let _ = writeln!(out, "arbor_instances_live {}", usage.live);
        family(
            &mut out,
            "arbor_instances_capacity",
            "gauge",
            "Instances the pool has room for.",
        );
        let _ = writeln!(out, "arbor_instances_capacity {}", usage.capacity);
        family(
            &mut out,
            "arbor_instance_memory_slot_bytes",
            "gauge",
            "Size of each instance's linear-memory slot.",
        );
        let _ = writeln!(
            out,
            "arbor_instance_memory_slot_bytes {}",
            usage.memory_slot_bytes
        );
        family(
            &mut out,
            "arbor_pool_freed_resident_bytes",
            "gauge",
            "Bytes kept resident by slots that stopped children freed.",
        );
        let _ = writeln!(
            out,
            "arbor_pool_freed_resident_bytes {}",
            usage.freed_resident_bytes
        );
    }
    if let Some(rss) = resident_bytes() {
        family(
            &mut out,
            "arbor_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the host process.",
        );
        let _ = writeln!(out, "arbor_process_resident_memory_bytes {rss}");
    }
    out
}

/// The process's resident set, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslashes_quotes_and_newlines() {
        assert_eq!(
            labels(&[("a", "x\"y\\z\nw")]),
            r#"{a="x\"y\\z\nw"}"#.to_string()
        );
    }
}
