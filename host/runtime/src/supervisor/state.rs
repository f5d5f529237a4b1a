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
//!   if the child that failed to start had just exited (the driver queues the
//!   retry behind whatever else arrived, as OTP's `try_again_restart` does);
//! - a child that is not restarted keeps its place in a static supervisor
//!   (temporary ones excepted) and is forgotten by a dynamic one;
//! - a `significant` child that exits by itself and is not restarted stops
//!   the supervisor when `auto_shutdown` says so (`any_significant`, or
//!   `all_significant` once no other significant child is active).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::vocab::{
    AutoShutdown, ChildId, ExitReason, RestartIntensity, RestartType, Strategy, SupervisorStop,
};

/// What is known of the exit a decision is made on (what "why" records
/// beside the decision).
pub(crate) struct ExitFacts {
    pub generation: u64,
    pub reason: ExitReason,
    pub detail: Option<String>,
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

    /// Counts against `intensity` from now on; the restarts already in the
    /// window stay (as OTP's `code_change` keeps a supervisor's restarts).
    pub fn set_intensity(&mut self, intensity: RestartIntensity) {
        self.intensity = intensity;
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
    /// The child stays stopped and keeps its place (a transient child of a
    /// static supervisor that exited normally).
    Keep(ChildId),
    /// Forget the child: it is temporary, or belongs to a dynamic
    /// supervisor, and is not restarted.
    Remove(ChildId),
    /// Stop `stop` in that order (reverse start order; the driver skips
    /// those not running), forget the children in `remove` (temporaries
    /// among them), then start `start` in that order (start order).
    Restart {
        /// Children to stop first, in this order.
        stop: Vec<ChildId>,
        /// Children to forget once stopped.
        remove: Vec<ChildId>,
        /// Children to (re)start, in this order.
        start: Vec<ChildId>,
    },
    /// Stop every child in reverse start order and exit with reason
    /// `shutdown`, for this cause.
    Stop(SupervisorStop),
}

/// What the rules need to know of a child.
#[derive(Debug, Clone, Copy)]
struct ChildTerms {
    restart: RestartType,
    significant: bool,
}

/// How a supervisor is set up, as far as its decisions go.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How failures spread.
    pub strategy: Strategy,
    /// How many restarts in how long.
    pub intensity: RestartIntensity,
    /// Whether significant children's exits stop the supervisor.
    pub auto_shutdown: AutoShutdown,
    /// A dynamic supervisor forgets every child that is not restarted.
    pub dynamic: bool,
}

impl Rules {
    /// `strategy` and `intensity`, a static supervisor, no auto shutdown.
    pub fn new(strategy: Strategy, intensity: RestartIntensity) -> Rules {
        Rules {
            strategy,
            intensity,
            auto_shutdown: AutoShutdown::Never,
            dynamic: false,
        }
    }
}

/// A supervisor's children in start order, its rules and its restart window.
///
/// Whether a child is running is not kept here: the driver owns that (it
/// holds the running instance), and passes it in where a rule depends on
/// it. Ids are handed out in increasing order and a child keeps its id
/// across restarts, so ordering by id is the start order: a map keyed by id
/// makes every per-child step O(log n), which matters for a dynamic
/// supervisor holding 100,000 children.
#[derive(Debug, Clone)]
pub struct SupervisorState {
    rules: Rules,
    window: RestartWindow,
    children: BTreeMap<ChildId, ChildTerms>,
}

impl SupervisorState {
    /// A supervisor with no children yet.
    pub fn new(rules: Rules) -> Self {
        SupervisorState {
            window: RestartWindow::new(rules.intensity),
            rules,
            children: BTreeMap::new(),
        }
    }

    /// Appends a child at the end of the start order.
    pub fn add_child(&mut self, id: ChildId, restart: RestartType, significant: bool) {
        debug_assert!(
            self.children
                .last_key_value()
                .is_none_or(|(last, _)| *last < id),
            "ids grow in start order"
        );
        self.children.insert(
            id,
            ChildTerms {
                restart,
                significant,
            },
        );
    }

    /// New rules for a running supervisor (`arbor ctl apply`): its next
    /// decision follows them, with the restarts it has made still counted.
    pub fn set_rules(&mut self, rules: Rules) {
        self.window.set_intensity(rules.intensity);
        self.rules = rules;
    }

    /// New restart type and significance for the child `id` (ignored if it
    /// is not known): its next exit is judged by them.
    pub fn set_child_terms(&mut self, id: ChildId, restart: RestartType, significant: bool) {
        if let Some(terms) = self.children.get_mut(&id) {
            *terms = ChildTerms {
                restart,
                significant,
            };
        }
    }

    /// Forgets a child.
    pub fn remove_child(&mut self, id: ChildId) {
        self.children.remove(&id);
    }

    /// Restarts inside the current window.
    pub fn recent_restarts(&self) -> usize {
        self.window.len()
    }

    /// A child exited by itself (not stopped by this supervisor) with
    /// `reason`; `active` says whether another child is running or about to
    /// be restarted (for `auto_shutdown = all_significant`).
    pub fn child_exited(
        &mut self,
        id: ChildId,
        reason: ExitReason,
        now: Duration,
        active: impl Fn(ChildId) -> bool,
    ) -> Decision {
        let Some(terms) = self.children.get(&id).copied() else {
            return Decision::Keep(id);
        };
        if terms.restart.restarts_after(reason) {
            return self.restart_after_failure(id, now);
        }
        let forget = self.rules.dynamic || terms.restart == RestartType::Temporary;
        if forget {
            self.remove_child(id);
        }
        if terms.significant {
            let stop = match self.rules.auto_shutdown {
                AutoShutdown::Never => false,
                AutoShutdown::AnySignificant => true,
                AutoShutdown::AllSignificant => !self
                    .children
                    .iter()
                    .any(|(other, t)| *other != id && t.significant && active(*other)),
            };
            if stop {
                return Decision::Stop(SupervisorStop::AutoShutdown);
            }
        }
        if forget {
            Decision::Remove(id)
        } else {
            Decision::Keep(id)
        }
    }

    /// Starting `id` during a restart failed: that counts as another restart,
    /// retried as if `id` had just exited.
    pub fn restart_failed(&mut self, id: ChildId, now: Duration) -> Decision {
        self.restart_after_failure(id, now)
    }

    fn restart_after_failure(&mut self, id: ChildId, now: Duration) -> Decision {
        if !self.window.add_restart(now) {
            return Decision::Stop(SupervisorStop::MaxRestarts);
        }
        if !self.children.contains_key(&id) {
            return Decision::Keep(id);
        }
        let group: Vec<(ChildId, ChildTerms)> = match self.rules.strategy {
            Strategy::OneForOne => vec![(id, self.children[&id])],
            Strategy::OneForAll => self.children.iter().map(|(i, t)| (*i, *t)).collect(),
            Strategy::RestForOne => self.children.range(id..).map(|(i, t)| (*i, *t)).collect(),
        };
        let stop: Vec<ChildId> = group
            .iter()
            .rev()
            .map(|(c, _)| *c)
            .filter(|c| *c != id)
            .collect();
        // A temporary sibling stopped for this restart is never started again;
        // the failed child itself is restartable or we would not be here.
        let remove: Vec<ChildId> = group
            .iter()
            .filter(|(c, t)| t.restart == RestartType::Temporary && *c != id)
            .map(|(c, _)| *c)
            .collect();
        let start: Vec<ChildId> = group
            .iter()
            .filter(|(c, t)| t.restart != RestartType::Temporary || *c == id)
            .map(|(c, _)| *c)
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

    fn with_rules(rules: Rules, types: &[(RestartType, bool)]) -> SupervisorState {
        let mut s = SupervisorState::new(rules);
        for (i, (t, significant)) in types.iter().enumerate() {
            s.add_child(ChildId(i as u64), *t, *significant);
        }
        s
    }

    fn state(strategy: Strategy, types: &[RestartType]) -> SupervisorState {
        let types: Vec<_> = types.iter().map(|t| (*t, false)).collect();
        with_rules(Rules::new(strategy, RestartIntensity::default()), &types)
    }

    fn ids(v: &[u64]) -> Vec<ChildId> {
        v.iter().map(|&i| ChildId(i)).collect()
    }

    fn all_active(_: ChildId) -> bool {
        true
    }

    fn exited(s: &mut SupervisorState, id: u64, reason: ExitReason, at: f64) -> Decision {
        s.child_exited(ChildId(id), reason, secs(at), all_active)
    }

    #[test]
    fn one_for_one_restarts_only_the_failed_child() {
        let mut s = state(Strategy::OneForOne, &[T, T, T]);
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 0.0),
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
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 0.0),
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
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 0.0),
            Decision::Restart {
                stop: ids(&[3, 2]),
                remove: vec![],
                start: ids(&[1, 2, 3])
            }
        );
    }

    #[test]
    fn rest_for_one_forgets_a_temporary_sibling_after_the_failed_child() {
        let mut s = state(Strategy::RestForOne, &[T, T, RestartType::Temporary, T]);
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 0.0),
            Decision::Restart {
                stop: ids(&[3, 2]),
                remove: ids(&[2]),
                start: ids(&[1, 3])
            }
        );
    }

    #[test]
    fn permanent_is_restarted_after_a_normal_exit() {
        let mut s = state(Strategy::OneForOne, &[RestartType::Permanent]);
        let d = exited(&mut s, 0, ExitReason::Normal, 0.0);
        assert!(matches!(d, Decision::Restart { .. }));
    }

    #[test]
    fn transient_is_restarted_only_after_an_abnormal_exit() {
        for reason in [ExitReason::Crash, ExitReason::Error, ExitReason::Killed] {
            let mut s = state(Strategy::OneForOne, &[RestartType::Transient]);
            let d = exited(&mut s, 0, reason, 0.0);
            assert!(matches!(d, Decision::Restart { .. }), "{reason}");
        }
        for reason in [ExitReason::Normal, ExitReason::Shutdown] {
            let mut s = state(Strategy::OneForOne, &[RestartType::Transient]);
            let d = exited(&mut s, 0, reason, 0.0);
            assert_eq!(d, Decision::Keep(ChildId(0)), "{reason}");
            assert_eq!(s.recent_restarts(), 0);
        }
    }

    #[test]
    fn a_dynamic_supervisor_forgets_a_transient_child_that_exits_normally() {
        let mut rules = Rules::new(Strategy::OneForOne, RestartIntensity::default());
        rules.dynamic = true;
        let mut s = with_rules(rules, &[(RestartType::Transient, false)]);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Normal, 0.0),
            Decision::Remove(ChildId(0))
        );
        assert!(s.children.is_empty());
    }

    #[test]
    fn temporary_is_never_restarted_and_is_removed() {
        let mut s = state(Strategy::OneForOne, &[RestartType::Temporary]);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
            Decision::Remove(ChildId(0))
        );
        assert!(s.children.is_empty());
    }

    #[test]
    fn temporary_sibling_stopped_by_one_for_all_is_removed_not_restarted() {
        let mut s = state(Strategy::OneForAll, &[T, RestartType::Temporary, T]);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
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
            let d = exited(&mut s, 0, ExitReason::Crash, i as f64);
            assert!(matches!(d, Decision::Restart { .. }), "restart {i}");
        }
        assert_eq!(
            exited(&mut s, 0, ExitReason::Crash, 3.0),
            Decision::Stop(SupervisorStop::MaxRestarts)
        );
    }

    #[test]
    fn intensity_window_slides_old_restarts_out() {
        let mut s = state(Strategy::OneForOne, &[T]);
        for t in [0.0, 1.0, 2.0, 5.5, 6.5, 7.5] {
            let d = exited(&mut s, 0, ExitReason::Crash, t);
            assert!(matches!(d, Decision::Restart { .. }), "at {t}");
        }
        assert_eq!(s.recent_restarts(), 3);
    }

    #[test]
    fn zero_max_restarts_gives_up_on_the_first_failure() {
        let intensity = RestartIntensity {
            max_restarts: 0,
            max_seconds: secs(5.0),
        };
        let mut s = with_rules(Rules::new(Strategy::OneForOne, intensity), &[(T, false)]);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
            Decision::Stop(SupervisorStop::MaxRestarts)
        );
    }

    #[test]
    fn a_failed_restart_counts_as_another_restart() {
        let mut s = state(Strategy::OneForOne, &[T]);
        assert!(matches!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
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
        assert_eq!(
            s.restart_failed(ChildId(0), secs(0.3)),
            Decision::Stop(SupervisorStop::MaxRestarts)
        );
    }

    #[test]
    fn failed_restart_under_rest_for_one_retries_from_the_failed_child() {
        let mut s = state(Strategy::RestForOne, &[T, T, T]);
        let _ = exited(&mut s, 0, ExitReason::Crash, 0.0);
        // 0 restarted fine, 1 failed to start; 2 was never started.
        assert_eq!(
            s.restart_failed(ChildId(1), secs(0.1)),
            Decision::Restart {
                stop: ids(&[2]),
                remove: vec![],
                start: ids(&[1, 2])
            }
        );
    }

    #[test]
    fn failed_restart_under_one_for_all_restarts_the_whole_group_again() {
        let mut s = state(Strategy::OneForAll, &[T, T, T]);
        let _ = exited(&mut s, 2, ExitReason::Crash, 0.0);
        assert_eq!(
            s.restart_failed(ChildId(1), secs(0.1)),
            Decision::Restart {
                stop: ids(&[2, 0]),
                remove: vec![],
                start: ids(&[0, 1, 2])
            }
        );
    }

    fn significant_rules(auto_shutdown: AutoShutdown) -> Rules {
        let mut rules = Rules::new(Strategy::OneForOne, RestartIntensity::default());
        rules.auto_shutdown = auto_shutdown;
        rules
    }

    #[test]
    fn any_significant_stops_the_supervisor_when_one_significant_child_exits() {
        let children = [
            (RestartType::Transient, true),
            (RestartType::Transient, true),
        ];
        let mut s = with_rules(significant_rules(AutoShutdown::AnySignificant), &children);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Normal, 0.0),
            Decision::Stop(SupervisorStop::AutoShutdown)
        );
    }

    #[test]
    fn a_significant_child_that_is_restarted_does_not_stop_the_supervisor() {
        let children = [(RestartType::Transient, true)];
        let mut s = with_rules(significant_rules(AutoShutdown::AnySignificant), &children);
        assert!(matches!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn all_significant_waits_for_the_last_active_significant_child() {
        let children = [
            (RestartType::Transient, true),
            (RestartType::Temporary, true),
            (T, false),
        ];
        let mut s = with_rules(significant_rules(AutoShutdown::AllSignificant), &children);
        // Child 1 is still active: no stop yet.
        let d = s.child_exited(ChildId(0), ExitReason::Normal, secs(0.0), |id| {
            id == ChildId(1)
        });
        assert_eq!(d, Decision::Keep(ChildId(0)));
        // Now the last significant one exits.
        let d = s.child_exited(ChildId(1), ExitReason::Normal, secs(0.1), |_| false);
        assert_eq!(d, Decision::Stop(SupervisorStop::AutoShutdown));
    }

    #[test]
    fn new_rules_take_effect_at_the_next_decision_with_past_restarts_still_counted() {
        let mut s = state(Strategy::OneForOne, &[T, T, T]);
        for t in [0.0, 1.0] {
            assert!(matches!(
                exited(&mut s, 1, ExitReason::Crash, t),
                Decision::Restart { .. }
            ));
        }
        s.set_rules(Rules::new(
            Strategy::RestForOne,
            RestartIntensity {
                max_restarts: 2,
                max_seconds: secs(5.0),
            },
        ));
        // The two restarts already made count against the new intensity.
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 2.0),
            Decision::Stop(SupervisorStop::MaxRestarts)
        );
        let mut s = state(Strategy::OneForOne, &[T, T, T]);
        s.set_rules(Rules::new(
            Strategy::RestForOne,
            RestartIntensity::default(),
        ));
        assert_eq!(
            exited(&mut s, 1, ExitReason::Crash, 0.0),
            Decision::Restart {
                stop: ids(&[2]),
                remove: vec![],
                start: ids(&[1, 2])
            }
        );
    }

    #[test]
    fn a_child_whose_restart_type_changes_is_judged_by_the_new_one() {
        let mut s = state(Strategy::OneForOne, &[T, T]);
        s.set_child_terms(ChildId(0), RestartType::Temporary, false);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Crash, 0.0),
            Decision::Remove(ChildId(0))
        );
        s.set_child_terms(ChildId(1), RestartType::Transient, false);
        assert_eq!(
            exited(&mut s, 1, ExitReason::Normal, 0.0),
            Decision::Keep(ChildId(1))
        );
    }

    #[test]
    fn never_ignores_significance() {
        let children = [(RestartType::Transient, true)];
        let mut s = with_rules(significant_rules(AutoShutdown::Never), &children);
        assert_eq!(
            exited(&mut s, 0, ExitReason::Normal, 0.0),
            Decision::Keep(ChildId(0))
        );
    }
}
