//! Restart backoff as a supervisor carries it out: which delay a restart
//! waits ([`Backoff`] has the policy), the per-child count of restarts in
//! a row, and the queue of restarts waiting for their time.
//!
//! Beyond OTP and off by default: a supervisor whose children set no
//! `backoff` (nor it) restarts at once, as OTP does, and holds nothing of
//! this. The intensity window still counts each restart when it is
//! decided, so a child failing without end still takes its supervisor
//! down, only more slowly. A waiting restart is a place marked
//! `restarting`: its mailbox keeps the messages sent meanwhile, a
//! shutdown does not wait for it (nothing runs), and when its time comes
//! it starts only if nothing else started or removed it in between.

use std::time::Duration;

use crate::vocab::{Backoff, ChildId};

/// A child's backoff: how many restarts in a row, and from when a
/// failure counts as the first again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streak {
    attempt: u32,
    /// A failure at or after this time (since the host's origin) has
    /// followed `reset` of quiet running: it starts over.
    quiet_after: Duration,
}

/// The delay of a restart decided at `now` under `policy`, given the
/// child's `streak` (updated; made on its first delayed restart) and
/// `draw`, uniform in `0.0..=1.0`, for the jitter.
pub(crate) fn next_delay(
    policy: &Backoff,
    streak: &mut Option<Box<Streak>>,
    now: Duration,
    draw: f64,
) -> Duration {
    let attempt = match streak.as_deref() {
        Some(s) if now < s.quiet_after => s.attempt,
        _ => 0,
    };
    let delay = policy.delay(attempt, draw);
    let next = Streak {
        attempt: attempt.saturating_add(1),
        quiet_after: now + delay + policy.reset,
    };
    match streak {
        Some(s) => **s = next,
        None => *streak = Some(Box::new(next)),
    }
    delay
}

/// Restarts waiting for their time: each a group started together (the
/// failed child and the siblings its strategy restarts with it), in the
/// order they are due.
#[derive(Default)]
pub(crate) struct Waiting {
    queue: Vec<(Duration, Vec<ChildId>)>,
}

impl Waiting {
    /// Queues `group` to start at `due` (since the host's origin).
    pub fn push(&mut self, due: Duration, group: Vec<ChildId>) {
        let at = self.queue.partition_point(|(d, _)| *d <= due);
        self.queue.insert(at, (due, group));
    }

    /// When the next group is due, if any waits.
    pub fn next_due(&self) -> Option<Duration> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// The next group, if it is due at `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<Vec<ChildId>> {
        if self.queue.first().is_some_and(|(due, _)| *due <= now) {
            Some(self.queue.remove(0).1)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const POLICY: Backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(100),
        reset: Duration::from_millis(1000),
    };

    #[test]
    fn delays_double_up_to_the_cap() {
        let bases: Vec<_> = (0..6).map(|n| POLICY.base(n)).collect();
        assert_eq!(bases, [ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]);
        assert_eq!(POLICY.base(u32::MAX), ms(100));
    }

    #[test]
    fn jitter_keeps_a_delay_between_half_the_base_and_the_base() {
        assert_eq!(POLICY.delay(1, 0.0), ms(10));
        assert_eq!(POLICY.delay(1, 1.0), ms(20));
        assert_eq!(POLICY.delay(1, 0.5), ms(15));
    }

    #[test]
    fn failures_in_a_row_grow_the_delay_and_a_quiet_run_resets_it() {
        let mut streak = None;
        let mut now = ms(0);
        let mut delays = Vec::new();
        for _ in 0..4 {
            let delay = next_delay(&POLICY, &mut streak, now, 1.0);
            delays.push(delay);
            // It fails again right after it restarts.
            now += delay + ms(1);
        }
        assert_eq!(delays, [ms(10), ms(20), ms(40), ms(80)]);
        // It ran quietly past `reset` after its last restart: first again.
        now += ms(1000);
        assert_eq!(next_delay(&POLICY, &mut streak, now, 1.0), ms(10));
    }

    #[test]
    fn waiting_groups_come_out_in_due_order_only_when_due() {
        let mut waiting = Waiting::default();
        waiting.push(ms(30), vec![ChildId(3)]);
        waiting.push(ms(10), vec![ChildId(1)]);
        waiting.push(ms(30), vec![ChildId(4)]);
        assert_eq!(waiting.next_due(), Some(ms(10)));
        assert_eq!(waiting.pop_due(ms(5)), None);
        assert_eq!(waiting.pop_due(ms(10)), Some(vec![ChildId(1)]));
        assert_eq!(waiting.pop_due(ms(40)), Some(vec![ChildId(3)]));
        assert_eq!(waiting.pop_due(ms(40)), Some(vec![ChildId(4)]));
        assert_eq!(waiting.next_due(), None);
    }
}
