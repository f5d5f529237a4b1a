//! The timers a guest sets with `timers.send-after`: OTP's
//! `erlang:send_after/3`, owned by the instance that set them.
//!
//! An instance's timers live in one [`Timers`] queue, made on its first
//! `send-after` (a child that sets none pays nothing), served by one task
//! that sleeps until the earliest is due. The queue is dropped with the
//! instance's store, and dropping it stops the task: a crashed, restarted
//! or stopped instance's timers never fire into its successor. A hot swap
//! hands the same queue to the new version (the child goes on).
//!
//! Timers are ordered by due time, then by the order they were set, so two
//! set for the same moment fire in the order they were set. A timer that
//! fires is a `cast` to its target by name, resolved then.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::mailbox::CallError;
use crate::routing::{self, Router};

/// Most timers one instance may have pending: each holds its message in
/// host memory, so a guest must not set them without bound.
pub const MAX_PENDING_TIMERS: usize = 100_000;

/// Longest delay a timer may have (365 days): far enough for any schedule
/// a child keeps in memory, short enough that a due time never overflows.
pub const MAX_TIMER_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// One instance's pending timers and the task that fires them.
pub(crate) struct Timers {
    queue: Arc<Queue>,
    task: AbortHandle,
}

struct Queue {
    pending: Mutex<Pending>,
    /// Wakes the task when a timer is set earlier than the one it sleeps for.
    changed: Notify,
}

#[derive(Default)]
struct Pending {
    /// Due timers by (due time, id): ids grow, so equal due times keep the
    /// order the timers were set in.
    by_due: BTreeMap<(Instant, u64), Due>,
    /// Each pending id's due time, to find it when it is cancelled.
    due_of: HashMap<u64, Instant>,
    next_id: u64,
}

struct Due {
    target: String,
    message: Vec<u8>,
}

impl Timers {
    /// An empty queue for the child at `path`, whose timers are cast
    /// through `router`. Must be called inside a tokio runtime.
    pub fn new(router: Arc<dyn Router>, path: Arc<str>) -> Timers {
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            changed: Notify::new(),
        });
        let task = tokio::spawn(fire(queue.clone(), router, path)).abort_handle();
        Timers { queue, task }
    }

    /// Sets a timer casting `message` to `target` after `delay`; answers
    /// its id.
    pub fn send_after(
        &self,
        target: &str,
        message: Vec<u8>,
        delay: Duration,
    ) -> Result<u64, CallError> {
        if delay > MAX_TIMER_DELAY {
            return Err(CallError::Rejected(format!(
                "a timer's delay is at most {} days, got {} ms",
                MAX_TIMER_DELAY.as_secs() / 86_400,
                delay.as_millis()
            )));
        }
        let due = Instant::now() + delay;
        let mut pending = self.queue.lock();
        if pending.due_of.len() >= MAX_PENDING_TIMERS {
            return Err(CallError::Rejected(format!(
                "this child already has {MAX_PENDING_TIMERS} timers pending (the limit)"
            )));
        }
        let id = pending.next_id;
        pending.next_id += 1;
        let earliest = pending
            .by_due
            .keys()
            .next()
            .is_none_or(|&(first, _)| due < first);
        pending.by_due.insert(
            (due, id),
            Due {
                target: target.to_string(),
                message,
            },
        );
        pending.due_of.insert(id, due);
        drop(pending);
        if earliest {
            self.queue.changed.notify_one();
        }
        Ok(id)
    }

    /// Cancels the pending timer `id`: `true` if it was pending.
    pub fn cancel(&self, id: u64) -> bool {
        let mut pending = self.queue.lock();
        match pending.due_of.remove(&id) {
            Some(due) => pending.by_due.remove(&(due, id)).is_some(),
            None => false,
        }
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The earliest timer if it is due at `now`, or when the next one is.
    fn take_due(&self, now: Instant) -> Result<Due, Option<Instant>> {
        let mut pending = self.lock();
        let Some(entry) = pending.by_due.first_entry() else {
            return Err(None);
        };
        let (due, id) = *entry.key();
        if due > now {
            return Err(Some(due));
        }
        let timer = entry.remove();
        pending.due_of.remove(&id);
        Ok(timer)
    }
}

/// Fires `queue`'s timers as they fall due, until the queue's owner drops
/// it (and aborts this task).
async fn fire(queue: Arc<Queue>, router: Arc<dyn Router>, path: Arc<str>) {
    loop {
        match queue.take_due(Instant::now()) {
            Ok(Due { target, message }) => {
                if let Err(error) = routing::cast(&*router, &target, message) {
                    tracing::warn!(
                        child = &*path,
                        "a timer's message to {target:?} was dropped: {error}"
                    );
                }
            }
            Err(None) => queue.changed.notified().await,
            Err(Some(next)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = queue.changed.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{Envelope, MailboxLimits, MailboxSender, mailbox};
    use crate::routing::{ChildError, ChildOrder};
    use crate::spec::WorkerSpec;

    /// A router with one name, `me`.
    struct One(MailboxSender);

    impl Router for One {
        fn resolve(&self, target: &str) -> Result<MailboxSender, CallError> {
            match target {
                "me" => Ok(self.0.clone()),
                other => Err(CallError::NoSuchName(other.to_string())),
            }
        }
        fn start_child(&self, _: &str, _: WorkerSpec) -> ChildOrder<String> {
            Box::pin(async { Err(ChildError::Timeout) })
        }
        fn stop_child(&self, _: &str, _: &str) -> ChildOrder<()> {
            Box::pin(async { Err(ChildError::Timeout) })
        }
    }

    fn text(envelope: Envelope) -> String {
        match envelope {
            Envelope::Cast { message } => String::from_utf8(message).unwrap(),
            _ => panic!("a timer casts"),
        }
    }

    #[tokio::test]
    async fn timers_fire_by_due_time_then_in_the_order_they_were_set() {
        let (tx, mut rx) = mailbox(MailboxLimits::default());
        let timers = Timers::new(Arc::new(One(tx)), Arc::from("root/me"));
        let ms = Duration::from_millis;
        timers.send_after("me", b"c".to_vec(), ms(30)).unwrap();
        timers.send_after("me", b"a".to_vec(), ms(10)).unwrap();
        timers.send_after("me", b"b1".to_vec(), ms(20)).unwrap();
        timers.send_after("me", b"b2".to_vec(), ms(20)).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(text(rx.recv().await.unwrap()));
        }
        assert_eq!(got, ["a", "b1", "b2", "c"]);
    }

    #[tokio::test]
    async fn a_cancelled_timer_never_fires_and_cancel_says_whether_it_was_pending() {
        let (tx, mut rx) = mailbox(MailboxLimits::default());
        let timers = Timers::new(Arc::new(One(tx)), Arc::from("root/me"));
        let gone = timers
            .send_after("me", b"gone".to_vec(), Duration::from_millis(10))
            .unwrap();
        timers
            .send_after("me", b"kept".to_vec(), Duration::from_millis(20))
            .unwrap();
        assert!(timers.cancel(gone));
        assert!(!timers.cancel(gone), "already cancelled");
        assert!(!timers.cancel(999), "never set");
        assert_eq!(text(rx.recv().await.unwrap()), "kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_none(), "nothing else fired");
    }

    #[tokio::test]
    async fn dropping_the_queue_cancels_every_pending_timer() {
        let (tx, mut rx) = mailbox(MailboxLimits::default());
        let timers = Timers::new(Arc::new(One(tx)), Arc::from("root/me"));
        timers
            .send_after("me", b"late".to_vec(), Duration::from_millis(10))
            .unwrap();
        drop(timers);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_none(), "the dropped queue's timer fired");
    }

    #[tokio::test]
    async fn an_absurd_delay_is_refused() {
        let (tx, _rx) = mailbox(MailboxLimits::default());
        let timers = Timers::new(Arc::new(One(tx)), Arc::from("root/me"));
        assert!(matches!(
            timers.send_after("me", vec![], Duration::from_millis(u64::MAX)),
            Err(CallError::Rejected(_))
        ));
    }
}
