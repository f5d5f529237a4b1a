//! The supervisor's decisions as a pure state machine.
//!
//! Nothing here runs a child or reads a clock: the async driver
//! ([`super::driver`]) reports what happened (a child started, exited, failed
//! to restart) together with the current time, and this module answers with a
//! [`Decision`]: which children to stop, which to start, or that the
//! supervisor must give up. Keeping it pure lets the OTP rules be tested
//! exactly with a fake clock.
//!
//! The rules follow `supervisor.erl`:
//! - `permanent` children are always restarted, `transient` ones only after an
//!   abnormal exit (crash, error, killed), `temporary` ones never, and a
//!   temporary child stopped because a sibling failed is removed, not restarted;
//! - `one_for_one` restarts the failed child, `one_for_all` stops the others in
//!   reverse start order and restarts all, `rest_for_one` stops the children
//!   started after the failed one in reverse order and restarts it and them;
//! - every restart is added to a sliding window; more than `max_restarts` in
//!   `max_seconds` and the supervisor gives up (`add_restart` in OTP keeps the
//!   restarts at or after `now - max_seconds`);
//! - a restart whose start fails counts as one more restart and is retried as
//!   if the child that failed to start had just exited.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

/// Identifies a child's place in its supervisor; stable across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(pub u64);

/// How a supervisor reacts when one of its children exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the failed child restarts.
    OneForOne,
    /// All children stop (reverse order) and restart (start order).
    OneForAll,
    /// The failed child and those started after it stop and restart.
    RestForOne,
}

impl Strategy {
    /// The tree-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        }
    }
}

/// When a child is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartType {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit.
    Transient,
    /// Never restarted; removed from the tree once it exits.
    Temporary,
}

impl RestartType {
    /// The tree-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartType::Permanent => "permanent",
            RestartType::Transient => "transient",
            RestartType::Temporary => "temporary",
        }
    }

    /// Parses the tree-file spelling.
    pub fn parse(text: &str) -> Result<RestartType, String> {
        match text {
            "permanent" => Ok(RestartType::Permanent),
            "transient" => Ok(RestartType::Transient),
            "temporary" => Ok(RestartType::Temporary),
            other => Err(format!(
                "unknown restart type {other:?} (expected permanent, transient or temporary)"
            )),
        }
    }

    /// Whether a child of this type is restarted after exiting with `reason`.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            RestartType::Permanent => true,
            RestartType::Transient => reason.is_abnormal(),
            RestartType::Temporary => false,
        }
    }
}

/// Why a child (worker or supervisor) stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// The child asked to stop normally.
    Normal,
    /// An orderly stop (asked by the supervisor, or a supervisor giving up).
    Shutdown,
    /// The child trapped (panic, out-of-bounds, deadline, memory limit, ...).
    Crash,
    /// The child asked to stop with an error, or its `init` returned `err`.
    Error,
    /// The child was dropped without a chance to clean up.
    Killed,
}

impl ExitReason {
    /// The word used in events and reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExitReason::Normal => "normal",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Crash => "crash",
            ExitReason::Error => "error",
            ExitReason::Killed => "killed",
        }
    }

    /// Crash, error and killed are abnormal; normal and shutdown are not.
    pub fn is_abnormal(&self) -> bool {
        matches!(
            self,
            ExitReason::Crash | ExitReason::Error | ExitReason::Killed
        )
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `max_restarts` restarts allowed within `max_seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartIntensity {
    /// Restarts allowed within the window; one more and the supervisor gives up.
    pub max_restarts: u32,
    /// Length of the sliding window.
    pub max_seconds: Duration,
}

impl Default for RestartIntensity {
    /// OTP's default: 3 restarts in 5 seconds.
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 3,
            max_seconds: Duration::from_secs(5),
        }
    }
}

/// The sliding window of recent restarts.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    intensity: RestartIntensity,
    /// Times of recent restarts, newest first, as offsets from any fixed origin.
    restarts: VecDeque<Duration>,
}

impl RestartWindow {
    /// An empty window.
    pub fn new(intensity: RestartIntensity) -> Self {
        RestartWindow {
            intensity,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; `false` when that makes more restarts in
    /// the window than the intensity allows.
    pub fn add_restart(&mut self, now: Duration) -> bool {
        let threshold = now.saturating_sub(self.intensity.max_seconds);
        while self.restarts.back().is_some_and(|&t| t < threshold) {
            self.restarts.pop_back();
        }
        self.restarts.push_front(now);
        self.restarts.len() <= self.intensity.max_restarts as usize
    }

    /// Restarts currently inside the window.
    pub fn len(&self) -> usize {
        self.restarts.len()
    }

    /// Whether no restart is inside the window.
    pub fn is_empty(&self) -> bool {
        self.restarts.is_empty()
    }
}

/// What the driver must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: the child stays stopped (a transient child that exited normally).
    Nothing,
    /// The exited child is temporary (or otherwise done): forget it.
    Remove(ChildId),
    /// Stop `stop` in that order (already reverse start order), forget the
    /// children in `remove` (temporaries among them), then start `start` in
    /// that order (start order).
    Restart {
        /// Running children to stop first, in this order.
        stop: Vec<ChildId>,
        /// Children to forget once stopped.
        remove: Vec<ChildId>,
        /// Children to (re)start, in this order.
        start: Vec<ChildId>,
    },
    /// Restart intensity exceeded: stop every child in reverse start order
    /// and exit with reason `shutdown`, detail `max_restarts`.
    GiveUp,
}

#[derive(Debug, Clone)]
struct ChildRecord {
    id: ChildId,
    restart: RestartType,
    running: bool,
}

/// A supervisor's children in start order, its strategy and its restart window.
///
/// Ids are handed out in increasing order and a child keeps its id across
/// restarts, so ordering by id is the start order: a map keyed by id makes
/// every per-child step O(log n), which matters for a dynamic supervisor
/// holding 100,000 children.
#[derive(Debug, Clone)]
pub struct SupervisorState {
    strategy: Strategy,
    window: RestartWindow,
    children: BTreeMap<ChildId, ChildRecord>,
}

impl SupervisorState {
    /// A supervisor with no children yet.
    pub fn new(strategy: Strategy, intensity: RestartIntensity) -> Self {
        SupervisorState {
            strategy,
            window: RestartWindow::new(intensity),
            children: BTreeMap::new(),
        }
    }

    /// Appends a child (not yet running) at the end of the start order.
    pub fn add_child(&mut self, id: ChildId, restart: RestartType) {
        debug_assert!(
            self.children
                .last_key_value()
                .is_none_or(|(last, _)| *last < id),
            "ids grow in start order"
        );
        self.children.insert(
            id,
            ChildRecord {
                id,
                restart,
                running: false,
            },
        );
    }

    /// Forgets a child.
    pub fn remove_child(&mut self, id: ChildId) {
        self.children.remove(&id);
    }

    /// Records that a child is running.
    pub fn mark_running(&mut self, id: ChildId) {
        self.set_running(id, true);
    }

    /// Records that a child stopped (for whatever reason).
    pub fn mark_stopped(&mut self, id: ChildId) {
        self.set_running(id, false);
    }

    fn set_running(&mut self, id: ChildId, running: bool) {
        if let Some(c) = self.children.get_mut(&id) {
            c.running = running;
        }
    }

    /// Whether the child is known and running.
    pub fn is_running(&self, id: ChildId) -> bool {
        self.children.get(&id).is_some_and(|c| c.running)
    }

    /// Running children in reverse start order: the shutdown order.
    pub fn shutdown_order(&self) -> Vec<ChildId> {
        self.children
            .values()
            .rev()
            .filter(|c| c.running)
            .map(|c| c.id)
            .collect()
    }

    /// Restarts inside the current window.
    pub fn recent_restarts(&self) -> usize {
        self.window.len()
    }

    /// A child exited by itself (not stopped by this supervisor) with `reason`.
    pub fn child_exited(&mut self, id: ChildId, reason: &ExitReason, now: Duration) -> Decision {
        self.mark_stopped(id);
        let Some(record) = self.children.get(&id) else {
            return Decision::Nothing;
        };
        if !record.restart.restarts_after(reason) {
            return if record.restart == RestartType::Temporary {
                self.remove_child(id);
                Decision::Remove(id)
            } else {
                Decision::Nothing
            };
        }
        self.restart_after_failure(id, now)
    }

    /// Starting `id` during a restart failed: that counts as another restart,
    /// retried as if `id` had just exited.
    pub fn restart_failed(&mut self, id: ChildId, now: Duration) -> Decision {
        self.mark_stopped(id);
        self.restart_after_failure(id, now)
    }

    fn restart_after_failure(&mut self, id: ChildId, now: Duration) -> Decision {
        if !self.window.add_restart(now) {
            return Decision::GiveUp;
        }
        if !self.children.contains_key(&id) {
            return Decision::Nothing;
        }
        let group: Vec<&ChildRecord> = match self.strategy {
            Strategy::OneForOne => self.children.range(id..=id).map(|(_, c)| c).collect(),
            Strategy::OneForAll => self.children.values().collect(),
            Strategy::RestForOne => self.children.range(id..).map(|(_, c)| c).collect(),
        };
        let stop: Vec<ChildId> = group
            .iter()
            .rev()
            .filter(|c| c.running && c.id != id)
            .map(|c| c.id)
            .collect();
        // A temporary sibling stopped for this restart is never started again;
        // the failed child itself is restartable or we would not be here.
        let remove: Vec<ChildId> = group
            .iter()
            .filter(|c| c.restart == RestartType::Temporary && c.id != id)
            .map(|c| c.id)
            .collect();
        let start: Vec<ChildId> = group
            .iter()
            .filter(|c| c.restart != RestartType::Temporary || c.id == id)
            .map(|c| c.id)
            .collect();
        for removed in &remove {
            self.remove_child(*removed);
        }
        Decision::Restart {
            stop,
            remove,
            start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: RestartType = RestartType::Permanent;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn state(strategy: Strategy, types: &[RestartType]) -> SupervisorState {
        let mut s = SupervisorState::new(strategy, RestartIntensity::default());
        for (i, t) in types.iter().enumerate() {
            s.add_child(ChildId(i as u64), *t);
            s.mark_running(ChildId(i as u64));
        }
        s
    }

    fn ids(v: &[u64]) -> Vec<ChildId> {
        v.iter().map(|&i| ChildId(i)).collect()
    }

    #[test]
    fn one_for_one_restarts_only_the_failed_child() {
        let mut s = state(Strategy::OneForOne, &[T, T, T]);
        let d = s.child_exited(ChildId(1), &ExitReason::Crash, secs(0.0));
        assert_eq!(
            d,
            Decision::Restart {
                stop: vec![],
                remove: vec![],
                start: ids(&[1])
            }
        );
    }

    #[test]
    fn one_for_all_stops_others_in_reverse_then_restarts_all_in_order() {
        let mut s = state(Strategy::OneForAll, &[T, T, T, T]);
        let d = s.child_exited(ChildId(1), &ExitReason::Crash, secs(0.0));
        assert_eq!(
            d,
            Decision::Restart {
                stop: ids(&[3, 2, 0]),
                remove: vec![],
                start: ids(&[0, 1, 2, 3])
            }
        );
    }

    #[test]
    fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
        let mut s = state(Strategy::RestForOne, &[T, T, T, T]);
        let d = s.child_exited(ChildId(1), &ExitReason::Crash, secs(0.0));
        assert_eq!(
            d,
            Decision::Restart {
                stop: ids(&[3, 2]),
                remove: vec![],
                start: ids(&[1, 2, 3])
            }
        );
    }

    #[test]
    fn permanent_is_restarted_after_a_normal_exit() {
        let mut s = state(Strategy::OneForOne, &[RestartType::Permanent]);
        let d = s.child_exited(ChildId(0), &ExitReason::Normal, secs(0.0));
        assert!(matches!(d, Decision::Restart { .. }));
    }

    #[test]
    fn transient_is_restarted_only_after_an_abnormal_exit() {
        for reason in [ExitReason::Crash, ExitReason::Error, ExitReason::Killed] {
            let mut s = state(Strategy::OneForOne, &[RestartType::Transient]);
            let d = s.child_exited(ChildId(0), &reason, secs(0.0));
            assert!(matches!(d, Decision::Restart { .. }), "{reason}");
        }
        for reason in [ExitReason::Normal, ExitReason::Shutdown] {
            let mut s = state(Strategy::OneForOne, &[RestartType::Transient]);
            let d = s.child_exited(ChildId(0), &reason, secs(0.0));
            assert_eq!(d, Decision::Nothing, "{reason}");
            assert!(!s.is_running(ChildId(0)));
            assert_eq!(s.recent_restarts(), 0);
        }
    }

    #[test]
    fn temporary_is_never_restarted_and_is_removed() {
        let mut s = state(Strategy::OneForOne, &[RestartType::Temporary]);
        let d = s.child_exited(ChildId(0), &ExitReason::Crash, secs(0.0));
        assert_eq!(d, Decision::Remove(ChildId(0)));
        assert!(s.shutdown_order().is_empty());
    }

    #[test]
    fn temporary_sibling_stopped_by_one_for_all_is_removed_not_restarted() {
        let mut s = state(Strategy::OneForAll, &[T, RestartType::Temporary, T]);
        let d = s.child_exited(ChildId(0), &ExitReason::Crash, secs(0.0));
        assert_eq!(
            d,
            Decision::Restart {
                stop: ids(&[2, 1]),
                remove: ids(&[1]),
                start: ids(&[0, 2])
            }
        );
    }

    #[test]
    fn intensity_allows_max_restarts_then_gives_up_on_the_next() {
        let mut s = state(Strategy::OneForOne, &[T]);
        for i in 0..3 {
            let d = s.child_exited(ChildId(0), &ExitReason::Crash, secs(i as f64));
            assert!(matches!(d, Decision::Restart { .. }), "restart {i}");
            s.mark_running(ChildId(0));
        }
        let d = s.child_exited(ChildId(0), &ExitReason::Crash, secs(3.0));
        assert_eq!(d, Decision::GiveUp);
    }

    #[test]
    fn intensity_window_slides_old_restarts_out() {
        let mut s = state(Strategy::OneForOne, &[T]);
        for t in [0.0, 1.0, 2.0, 5.5, 6.5, 7.5] {
            let d = s.child_exited(ChildId(0), &ExitReason::Crash, secs(t));
            assert!(matches!(d, Decision::Restart { .. }), "at {t}");
            s.mark_running(ChildId(0));
        }
        assert_eq!(s.recent_restarts(), 3);
    }

    #[test]
    fn zero_max_restarts_gives_up_on_the_first_failure() {
        let mut s = SupervisorState::new(
            Strategy::OneForOne,
            RestartIntensity {
                max_restarts: 0,
                max_seconds: secs(5.0),
            },
        );
        s.add_child(ChildId(0), T);
        s.mark_running(ChildId(0));
        assert_eq!(
            s.child_exited(ChildId(0), &ExitReason::Crash, secs(0.0)),
            Decision::GiveUp
        );
    }

    #[test]
    fn a_failed_restart_counts_as_another_restart() {
        let mut s = state(Strategy::OneForOne, &[T]);
        assert!(matches!(
            s.child_exited(ChildId(0), &ExitReason::Crash, secs(0.0)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            s.restart_failed(ChildId(0), secs(0.1)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            s.restart_failed(ChildId(0), secs(0.2)),
            Decision::Restart { .. }
        ));
        assert_eq!(s.restart_failed(ChildId(0), secs(0.3)), Decision::GiveUp);
    }

    #[test]
    fn failed_restart_under_rest_for_one_retries_from_the_failed_child() {
        let mut s = state(Strategy::RestForOne, &[T, T, T]);
        let _ = s.child_exited(ChildId(0), &ExitReason::Crash, secs(0.0));
        // 0 restarted fine, 1 failed to start; 2 was never started.
        s.mark_running(ChildId(0));
        s.mark_stopped(ChildId(2));
        let d = s.restart_failed(ChildId(1), secs(0.1));
        assert_eq!(
            d,
            Decision::Restart {
                stop: vec![],
                remove: vec![],
                start: ids(&[1, 2])
            }
        );
    }

    #[test]
    fn shutdown_order_is_reverse_start_order_of_running_children() {
        let mut s = state(Strategy::OneForOne, &[T, T, T]);
        s.mark_stopped(ChildId(1));
        assert_eq!(s.shutdown_order(), ids(&[2, 0]));
    }
}
