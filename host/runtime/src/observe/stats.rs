//! The counters behind `/metrics` and the observer's page, kept by the
//! runtime as things happen and read only when someone looks.
//!
//! Label cardinality stays bounded however many children come and go: a
//! message, an error, a callback's latency, a restart and an exit are
//! counted per *group* (a supervisor and a component: every worker of
//! `shop/sessions` running `probe` shares one), not per child, so 100,000
//! dynamic children of one component make one series, not 100,000. A
//! group is made when its first child is added and kept for the host's
//! life, so its counters only grow (a child forgotten by a dynamic
//! supervisor takes nothing with it). The exact figures of one child (its
//! generation, restarts, messages handled) are in the tree snapshot.
//!
//! The hot path (one message) costs three relaxed atomic adds on a cache
//! line of the supervisor's own thread, where its workers run, and one
//! clock read; nothing is locked or allocated. A host started without the
//! observer ([`crate::NodeOptions::observe`]) does not even do that.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::vocab::ExitReason;

/// Upper bounds of the callback latency buckets, in microseconds: from a
/// plain reply (a few microseconds) to a callback near its deadline.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 25_000, 100_000, 1_000_000,
];

/// The exit reasons, in the order [`GroupStats::exits`] counts them.
pub const EXIT_REASONS: [ExitReason; 5] = [
    ExitReason::Normal,
    ExitReason::Shutdown,
    ExitReason::Crash,
    ExitReason::Error,
    ExitReason::Killed,
];

fn reason_index(reason: ExitReason) -> usize {
    EXIT_REASONS
        .iter()
        .position(|r| *r == reason)
        .expect("every reason is listed")
}

/// A latency histogram of fixed buckets (cumulative only when read).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let i = LATENCY_BUCKETS_US.partition_point(|&bound| bound < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket (the last is the total) and the sum.
    pub fn read(&self) -> (Vec<u64>, u64) {
        let mut total = 0;
        let counts = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        (counts, self.sum_us.load(Ordering::Relaxed))
    }
}

/// The counters of one supervisor and component.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Messages handled (calls and casts that ran `handle`).
    pub messages: AtomicU64,
    /// `handle` answered `err` (or a reply was refused): business errors.
    pub errors: AtomicU64,
    /// Restarts of its workers.
    pub restarts: AtomicU64,
    /// Exits of its workers, by reason ([`EXIT_REASONS`] order).
    exits: [AtomicU64; EXIT_REASONS.len()],
    /// How long `handle` took.
    pub latency: Histogram,
    /// Linear memory its workers' live instances hold now, in bytes.
    pub memory: AtomicU64,
}

impl GroupStats {
    /// Counts one exit.
    pub fn exited(&self, reason: ExitReason) {
        self.exits[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    /// Exits so far with `reason`.
    pub fn exits(&self, reason: ExitReason) -> u64 {
        self.exits[reason_index(reason)].load(Ordering::Relaxed)
    }
}

/// The linear memory one child's live instances hold, in bytes, kept by
/// their stores' limiters ([`crate::limits`]) as memories are made, grow
/// and are dropped; each change is also added to its group's total, so
/// `/metrics` sums nothing when read.
#[derive(Debug, Default)]
pub struct MemoryGauge {
    bytes: AtomicU64,
    group: Option<Arc<GroupStats>>,
}

impl MemoryGauge {
    /// A gauge at zero, adding to `group`'s total too, when there is one.
    pub fn new(group: Option<Arc<GroupStats>>) -> Self {
        MemoryGauge {
            bytes: AtomicU64::new(0),
            group,
        }
    }

    /// A memory was made or grew by `bytes`.
    pub fn grew(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(group) = &self.group {
            group.memory.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// An instance holding `bytes` was dropped.
    pub fn freed(&self, bytes: u64) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        if let Some(group) = &self.group {
            group.memory.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// What the child's live instances hold now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The counters of one supervisor: restarts it made, of any child.
#[derive(Debug, Default)]
pub struct SupervisorStats {
    /// Children it restarted (workers and supervisors).
    pub restarts: AtomicU64,
    /// Times it gave up (reached its restart intensity).
    pub gave_up: AtomicU64,
}

/// Every group and supervisor of one host, by path: made on first use,
/// never removed (see the module doc for why that stays bounded).
#[derive(Debug, Default)]
pub struct StatsTable {
    groups: Mutex<BTreeMap<(String, String), Arc<GroupStats>>>,
    supervisors: Mutex<BTreeMap<String, Arc<SupervisorStats>>>,
}

impl StatsTable {
    /// The group of `supervisor`'s workers running `component`.
    pub fn group(&self, supervisor: &str, component: &str) -> Arc<GroupStats> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .entry((supervisor.to_string(), component.to_string()))
            .or_default()
            .clone()
    }

    /// The counters of `supervisor`.
    pub fn supervisor(&self, supervisor: &str) -> Arc<SupervisorStats> {
        let mut sups = self.supervisors.lock().unwrap_or_else(|p| p.into_inner());
        sups.entry(supervisor.to_string()).or_default().clone()
    }

    /// Every group, by (supervisor, component).
    pub fn groups(&self) -> Vec<((String, String), Arc<GroupStats>)> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Every supervisor, by path.
    pub fn supervisors(&self) -> Vec<(String, Arc<SupervisorStats>)> {
        let sups = self.supervisors.lock().unwrap_or_else(|p| p.into_inner());
        sups.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_the_first_bucket_that_holds_it() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(3));
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(6));
        h.observe(Duration::from_secs(3));
        let (counts, sum) = h.read();
        assert_eq!(counts[0], 2, "<= 5 us");
        assert_eq!(counts[1], 3, "<= 10 us, cumulative");
        assert_eq!(counts[LATENCY_BUCKETS_US.len() - 1], 3, "<= 1 s");
        assert_eq!(*counts.last().unwrap(), 4, "+Inf is the total");
        assert_eq!(sum, 3 + 5 + 6 + 3_000_000);
    }

    #[test]
    fn a_group_is_shared_by_every_child_of_one_supervisor_and_component() {
        let table = StatsTable::default();
        let a = table.group("root/pool", "probe");
        let b = table.group("root/pool", "probe");
        assert!(Arc::ptr_eq(&a, &b));
        a.exited(ExitReason::Crash);
        assert_eq!(b.exits(ExitReason::Crash), 1);
        assert_eq!(table.groups().len(), 1);
        table.group("root/pool", "other");
        assert_eq!(table.groups().len(), 2);
    }

    #[test]
    fn a_memory_gauge_adds_to_its_group_and_gives_back_what_is_freed() {
        let table = StatsTable::default();
        let group = table.group("root", "probe");
        let a = MemoryGauge::new(Some(group.clone()));
        let b = MemoryGauge::new(Some(group.clone()));
        a.grew(1 << 16);
        a.grew(2 << 16);
        b.grew(1 << 16);
        assert_eq!(a.bytes(), 3 << 16);
        assert_eq!(group.memory.load(Ordering::Relaxed), 4 << 16);
        a.freed(3 << 16);
        assert_eq!(a.bytes(), 0);
        assert_eq!(group.memory.load(Ordering::Relaxed), 1 << 16);
    }
}
