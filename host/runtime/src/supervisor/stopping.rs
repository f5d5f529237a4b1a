//! Stopping children: one at a time in reverse start order for a static
//! supervisor (each within its own shutdown budget, as OTP does), all at
//! once for a dynamic supervisor (each killed at its own deadline, counted
//! from the same moment, so N children whose `terminate` takes a second stop
//! in about a second), and all at once without `terminate` when the
//! supervisor itself is killed.
//!
//! A child stays in its place's `live` slot until its exit is received, so
//! if the supervisor is killed while it waits for a child to stop, the kill
//! still reaches that child and every child that existed gets exactly one
//! terminal event.

use std::collections::{BTreeSet, HashMap};

use tokio::time::Instant;

use crate::supervisor::driver::Supervisor;
use crate::supervisor::protocol::{ChildExit, Signal};
use crate::vocab::{ChildId, Shutdown};

/// How the children are asked to stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `terminate` within each child's shutdown budget.
    Orderly,
    /// Dropped at once.
    Kill,
}

impl Supervisor {
    /// Stops one running child within its shutdown budget (nothing if it
    /// is not running).
    pub(crate) async fn stop_one(&mut self, id: ChildId) {
        self.stop_together(&[id], Mode::Orderly).await;
    }

    /// Stops every running child: in reverse start order, one after
    /// another, or all at once for a dynamic supervisor.
    pub(crate) async fn shutdown_all(&mut self) {
        let order = self.places.live_in_reverse();
        if self.is_dynamic() {
            self.stop_together(&order, Mode::Orderly).await;
        } else {
            for id in order {
                self.stop_one(id).await;
            }
        }
    }

    /// Kills every running child at once (this supervisor was killed).
    pub(crate) async fn kill_all(&mut self) {
        let order = self.places.live_in_reverse();
        self.stop_together(&order, Mode::Kill).await;
    }

    /// Signals every child in `ids` now, kills each one still running at its
    /// own deadline, and returns once every exit is received.
    async fn stop_together(&mut self, ids: &[ChildId], mode: Mode) {
        let now = Instant::now();
        // (id -> generation) still to hear from, and the kill deadlines.
        let mut pending: HashMap<ChildId, u64> = HashMap::new();
        let mut deadlines: BTreeSet<(Instant, ChildId)> = BTreeSet::new();
        for &id in ids {
            let Some(place) = self.places.get(id) else {
                continue;
            };
            let Some(live) = &place.live else {
                continue;
            };
            let budget = match mode {
                Mode::Kill => Shutdown::BrutalKill,
                Mode::Orderly => place.spec.shutdown(),
            };
            let first = match budget {
                Shutdown::BrutalKill => Signal::Kill,
                Shutdown::Timeout(limit) => {
                    deadlines.insert((now + limit, id));
                    Signal::Shutdown
                }
                Shutdown::Infinity => Signal::Shutdown,
            };
            // A child that already exited has dropped its receiver; its exit
            // is on its way or already stashed.
            let _ = live.signal.send(first);
            pending.insert(id, live.generation);
        }
        // Exits that arrived earlier, while waiting for something else.
        let stashed: Vec<ChildExit> = self.stash.drain(..).collect();
        for exit in stashed {
            self.receive(exit, &mut pending);
        }
        while !pending.is_empty() {
            let next = deadlines.first().map(|(at, _)| *at);
            let kill_due = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                exit = self.exits_rx.recv() => {
                    let exit = exit.expect("the supervisor holds a sender");
                    self.receive(exit, &mut pending);
                }
                () = kill_due => {
                    let now = Instant::now();
                    while let Some(&(at, id)) = deadlines.first() {
                        if at > now {
                            break;
                        }
                        deadlines.pop_first();
                        if pending.contains_key(&id)
                            && let Some(live) = self.places.get(id).and_then(|p| p.live.as_ref())
                        {
                            let _ = live.signal.send(Signal::Kill);
                        }
                    }
                }
            }
        }
    }

    /// Records `exit` if it is one `pending` waits for; keeps any other
    /// for the loop.
    fn receive(&mut self, exit: ChildExit, pending: &mut HashMap<ChildId, u64>) {
        if pending.get(&exit.id) == Some(&exit.generation) {
            pending.remove(&exit.id);
            self.finish_exit(exit);
        } else {
            self.stash.push_back(exit);
        }
    }
}
