//! The call timeouts of guests: one coarse deadline sweeper per scheduler
//! thread in place of a tokio timer per call.
//!
//! A tokio timer registers with the runtime's time driver when its call
//! first waits and deregisters when the reply comes, each time under the
//! driver's lock: a tenth of a guest -> guest round trip. A guest's call
//! always waits on the scheduler thread that runs the guest, so its
//! deadline can live in a table of that thread's own ([`SWEEPER`]): noting
//! it and removing it touch no lock and no atomic. One task per thread (the
//! sweeper, spawned on the thread's first guest call) sleeps until the
//! earliest deadline noted, wakes the calls whose deadline has passed, and
//! sleeps again. It keeps its tokio timer while calls come and go: a call
//! whose deadline is later than the one the sweeper sleeps for (every call
//! of a steady stream with one timeout) changes nothing, so the sweeper's
//! timer is moved once per timeout period, not once per call, and it wakes
//! only tasks of its own thread.
//!
//! A timeout fires no earlier than asked and, as a tokio timer's, within a
//! millisecond or so after (the sweeper sleeps on one).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// The call did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Runs `future` until it finishes or `timeout` has passed, whichever is
/// first. Only on a scheduler thread (inside its `LocalSet`): the deadline
/// is noted on the thread it is first polled on, and polled there after.
/// `future` is `Unpin` (a reply channel is) so this needs no unsafe pinning.
pub(crate) fn within<F: Future + Unpin>(timeout: Duration, future: F) -> Within<F> {
    Within {
        future,
        timeout,
        noted: None,
    }
}

/// The future of [`within`].
pub(crate) struct Within<F> {
    future: F,
    timeout: Duration,
    /// Its place in this thread's table, once it has waited.
    noted: Option<Noted>,
}

impl<F: Future + Unpin> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = Pin::new(&mut this.future).poll(cx) {
            // Out of the table at once: the caller may keep the future
            // (and so the entry) for a while after.
            this.noted = None;
            return Poll::Ready(Ok(output));
        }
        match &this.noted {
            None => {
                let deadline = Instant::now() + this.timeout;
                this.noted = Some(note(deadline, cx.waker()));
                Poll::Pending
            }
            Some(noted) if noted.check(cx.waker()) => {
                this.noted = None;
                Poll::Ready(Err(Elapsed))
            }
            Some(_) => Poll::Pending,
        }
    }
}

/// One waiting call's entry in its thread's table; dropping it removes the
/// entry. Two integers, so a call future holding it stays `Send` (wasmtime
/// asks it of host functions) though it never leaves its thread.
struct Noted {
    slot: usize,
    generation: u64,
}

impl Noted {
    /// Whether the deadline has passed (the sweeper said so); if not, the
    /// waker to wake when it does is `waker`.
    fn check(&self, waker: &Waker) -> bool {
        SWEEPER.with_borrow_mut(|s| {
            let entry = &mut s.entries[self.slot];
            debug_assert_eq!(entry.generation, self.generation, "polled on its thread");
            if entry.expired {
                return true;
            }
            if !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                entry.waker = Some(waker.clone());
            }
            false
        })
    }
}

impl Drop for Noted {
    fn drop(&mut self) {
        // `try_with`: a call dropped while its thread ends finds no table.
        let _ = SWEEPER.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.remove(self.slot, self.generation);
            }
        });
    }
}

thread_local! {
    /// This thread's waiting calls and its sweeper.
    static SWEEPER: RefCell<Sweeper> = RefCell::new(Sweeper::default());
}

#[derive(Default)]
struct Sweeper {
    /// The entries, live and free; a free one is reused before the table
    /// grows, so it holds as many as calls ever waited at once.
    entries: Vec<Entry>,
    free: Vec<usize>,
    /// Bumped at every removal, so a stale [`Noted`] cannot remove the
    /// entry that took its place.
    generation: u64,
    /// Whether this thread's sweeper task runs (it is gone with the
    /// thread's `LocalSet`, and spawned again on the next call).
    running: bool,
    /// The deadline the sweeper's timer is set for; `None` while it sleeps
    /// without one (no call waits).
    armed: Option<Instant>,
    /// The sweeper task, to wake when a deadline earlier than `armed` is
    /// noted.
    task: Option<Waker>,
}

struct Entry {
    deadline: Instant,
    waker: Option<Waker>,
    expired: bool,
    live: bool,
    generation: u64,
}

/// Notes `deadline` in this thread's table, to wake `waker` once it has
/// passed; spawns the thread's sweeper if it does not run.
fn note(deadline: Instant, waker: &Waker) -> Noted {
    let (noted, wake, spawn) = SWEEPER.with_borrow_mut(|s| {
        s.generation += 1;
        let entry = Entry {
            deadline,
            waker: Some(waker.clone()),
            expired: false,
            live: true,
            generation: s.generation,
        };
        let slot = match s.free.pop() {
            Some(slot) => {
                s.entries[slot] = entry;
                slot
            }
            None => {
                s.entries.push(entry);
                s.entries.len() - 1
            }
        };
        let noted = Noted {
            slot,
            generation: s.generation,
        };
        let spawn = !s.running;
        s.running = true;
        // Earlier than the sweeper's timer (or it has none): it must set it anew.
        let wake = if !spawn && s.armed.is_none_or(|armed| deadline < armed) {
            s.task.take()
        } else {
            None
        };
        (noted, wake, spawn)
    });
    if spawn {
        crate::scheduler::spawn_here(sweep());
    }
    if let Some(task) = wake {
        task.wake();
    }
    noted
}

impl Sweeper {
    fn remove(&mut self, slot: usize, generation: u64) {
        let entry = &mut self.entries[slot];
        if entry.live && entry.generation == generation {
            entry.live = false;
            entry.waker = None;
            self.free.push(slot);
        }
    }

    /// Marks the entries due by `now` expired and takes their wakers;
    /// returns the earliest deadline still to come.
    fn sweep(&mut self, now: Instant, due: &mut Vec<Waker>) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for entry in self.entries.iter_mut().filter(|e| e.live && !e.expired) {
            if entry.deadline <= now {
                entry.expired = true;
                due.extend(entry.waker.take());
            } else if earliest.is_none_or(|e| entry.deadline < e) {
                earliest = Some(entry.deadline);
            }
        }
        earliest
    }
}

/// Marks the thread's sweeper gone when its task is dropped (its
/// `LocalSet` ends), so the next call spawns another.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        let _ = SWEEPER.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.running = false;
                s.armed = None;
                s.task = None;
            }
        });
    }
}

/// The sweeper of this thread: sleeps until the earliest deadline, wakes
/// the calls past theirs, and sleeps again.
async fn sweep() {
    let _running = Running;
    // Set for real before it is first polled.
    let timer = tokio::time::sleep_until(Instant::now() + Duration::from_secs(3600));
    tokio::pin!(timer);
    let mut due = Vec::new();
    std::future::poll_fn(|cx| {
        loop {
            let now = Instant::now();
            let earliest = SWEEPER.with_borrow_mut(|s| {
                let earliest = s.sweep(now, &mut due);
                s.armed = earliest;
                if !s.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.task = Some(cx.waker().clone());
                }
                earliest
            });
            // Woken outside the borrow: a waker may run code of its own.
            for waker in due.drain(..) {
                waker.wake();
            }
            let Some(earliest) = earliest else {
                return Poll::<()>::Pending;
            };
            if timer.deadline() != earliest {
                timer.as_mut().reset(earliest);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, future)
    }

    #[test]
    fn a_future_that_finishes_in_time_gives_its_output_and_leaves_no_entry() {
        run(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                tx.send(7).unwrap();
            });
            assert_eq!(within(Duration::from_secs(1), rx).await, Ok(Ok(7)));
            SWEEPER.with_borrow(|s| assert!(s.entries.iter().all(|e| !e.live)));
        });
    }

    #[test]
    fn a_future_past_its_deadline_is_elapsed_not_before() {
        run(async {
            let started = Instant::now();
            let never = std::future::pending::<()>();
            assert_eq!(
                within(Duration::from_millis(200), never).await,
                Err(Elapsed)
            );
            assert!(started.elapsed() >= Duration::from_millis(200));
        });
    }

    #[test]
    fn a_shorter_deadline_noted_after_a_longer_one_fires_first() {
        run(async {
            let long = tokio::task::spawn_local(within(
                Duration::from_secs(3600),
                std::future::pending::<()>(),
            ));
            // Twice: the call notes its deadline, then the sweeper sleeps on it.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            SWEEPER.with_borrow(|s| assert!(s.armed.is_some()));
            let started = Instant::now();
            assert_eq!(
                within(Duration::from_millis(50), std::future::pending::<()>()).await,
                Err(Elapsed)
            );
            assert!(started.elapsed() >= Duration::from_millis(50));
            // The longer one still waits: dropped here, its entry goes.
            assert!(!long.is_finished());
            long.abort();
            let _ = long.await;
            SWEEPER.with_borrow(|s| assert!(s.entries.iter().all(|e| !e.live)));
        });
    }
}
