//! The scheduler threads: a fixed set of threads, each running one tokio
//! `LocalRuntime` that holds whole supervisor subtrees, and the rule that
//! they, and callers waiting on them from other threads, spin briefly
//! before they sleep.
//!
//! A message from another thread reaches a parked scheduler thread through
//! a futex or an eventfd, and its reply reaches a parked caller the same
//! way: two thread wake-ups per round trip, tens of microseconds each on a
//! virtual machine, where the work itself is one or two. The BEAM's
//! schedulers spin for a while before they sleep for this reason, and so do
//! these: a thread about to park first watches its runtime's injection
//! queue (where a task woken from another thread lands) for up to
//! [`SpinPolicy::park`], and [`wait_off_scheduler`] lets a caller on a
//! thread of its own watch for its reply for up to [`SpinPolicy::caller`]
//! before it awaits it. Both are bounded, so an idle host still sleeps, and
//! timers wait at most that long to be looked at.
//!
//! The scheduler threads have no I/O driver, since waking a runtime that
//! has one costs an `eventfd` write and an `epoll_wait` even while it
//! spins: sockets register with one I/O thread of the host's ([`io`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Handle, LocalOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long threads spin before they sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpinPolicy {
    /// A scheduler thread with nothing to run watches for work from other
    /// threads this long before it parks.
    pub park: Duration,
    /// A caller outside the scheduler threads watches for its reply this
    /// long before it awaits it (and lets its own runtime park).
    pub caller: Duration,
}

impl SpinPolicy {
    /// No spinning: every wait parks at once.
    pub const OFF: SpinPolicy = SpinPolicy {
        park: Duration::ZERO,
        caller: Duration::ZERO,
    };
}

impl Default for SpinPolicy {
    /// 50 us each: a round trip's work is a few microseconds, a thread
    /// wake-up on a VM tens. An idle thread spins once per sleep.
    fn default() -> Self {
        SpinPolicy {
            park: Duration::from_micros(50),
            caller: Duration::from_micros(50),
        }
    }
}

thread_local! {
    /// Whether this thread is a scheduler thread. Its tasks must never
    /// spin while they wait: the thread's other tasks, the callee among
    /// them perhaps, could not run meanwhile.
    static ON_SCHEDULER: Cell<bool> = const { Cell::new(false) };
    /// The scheduler thread's own runtime, for [`spawn_here`].
    static OWN_RUNTIME: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// The host's I/O thread: one runtime with tokio's I/O driver, with which
/// every socket is registered (HTTP listeners and connections, outgoing
/// connections, granted WASI sockets). The scheduler threads have no I/O
/// driver: a task woken there from another thread then costs an atomic
/// and, only when the thread sleeps, a futex, where an I/O driver's wake-up
/// is an `eventfd` write and an `epoll_wait` every time. A socket's
/// readiness comes from this thread to the task that polls it, wherever it
/// runs.
pub(crate) fn io() -> &'static Handle {
    static IO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("arbor-io")
            .enable_all()
            .build()
            .expect("the I/O thread starts")
    })
    .handle()
}

/// Polls `future` with the I/O runtime as the current one, so the sockets
/// it creates (tokio's, wasmtime-wasi's) register there. Inside, tasks are
/// spawned on the scheduler thread with [`spawn_here`], not `spawn_local`.
pub(crate) fn in_io<F: Future>(future: F) -> InIo<F> {
    InIo {
        future: Box::pin(future),
    }
}

/// The future of [`in_io`].
pub(crate) struct InIo<F> {
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InIo<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _io = io().enter();
        self.future.as_mut().poll(cx)
    }
}

/// `spawn_local` on this scheduler thread, also from inside [`in_io`]
/// (where the current runtime is the I/O one).
pub(crate) fn spawn_here<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Entered in place, not cloned: this runs on every restart.
    OWN_RUNTIME.with_borrow(|own| {
        // `None`: not a scheduler thread (a test's own LocalSet).
        let _here = own.as_ref().map(Handle::enter);
        tokio::task::spawn_local(future)
    })
}

/// A job for a scheduler thread: spawns its task there.
type Job = Box<dyn FnOnce() + Send>;

/// The scheduler threads of one host. Dropping the last handle lets each
/// thread finish: its runtime and every task still on it are dropped.
#[derive(Clone)]
pub(crate) struct Schedulers {
    threads: Arc<[Thread]>,
}

struct Thread {
    jobs: mpsc::UnboundedSender<Job>,
    runtime: Handle,
}

impl Schedulers {
    /// Starts `count` scheduler threads (at least one), each spinning up
    /// to `park_spin` before it sleeps ([`SpinPolicy::park`]; the caller's
    /// spin is the registry's, which makes the calls).
    pub fn start(count: usize, park_spin: Duration) -> std::io::Result<Schedulers> {
        let threads = (0..count.max(1))
            .map(|idx| Thread::start(idx, park_spin))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Schedulers {
            threads: threads.into(),
        })
    }

    pub fn num_threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs the task `create` makes on thread `idx`, with nobody to hand
    /// its output to (a supervisor reports its exit through its parent).
    pub fn spawn_detached<F, Fut>(&self, idx: usize, create: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let job: Job = Box::new(move || {
            drop(tokio::task::spawn_local(create()));
        });
        // The threads live as long as `self`: a send cannot fail.
        let _ = self.threads[idx].jobs.send(job);
    }

    /// Runs the task `create` makes on thread `idx`; the handle, awaited
    /// from anywhere, gives its output (and a panic of the task, as
    /// tokio's join handles do).
    pub fn spawn_on<F, Fut>(&self, idx: usize, create: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (handed, handle) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = handed.send(tokio::task::spawn_local(create()));
        });
        let thread = &self.threads[idx];
        let _ = thread.jobs.send(job);
        // A task of the thread's runtime that is `Send` forwards the local
        // task's outcome, so the handle can be awaited on any runtime.
        thread.runtime.spawn(async move {
            let local = handle.await.expect("the scheduler thread takes jobs");
            match local.await {
                Ok(output) => output,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("a task on a scheduler thread ended: {e}"),
            }
        })
    }
}

impl Thread {
    fn start(idx: usize, park_spin: Duration) -> std::io::Result<Thread> {
        let (jobs, mut incoming) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("arbor-sched-{idx}"))
            .spawn(move || {
                ON_SCHEDULER.with(|on| on.set(true));
                let mut builder = Builder::new_current_thread();
                // Time only: sockets live on the I/O thread (`io`).
                builder.enable_time();
                if !park_spin.is_zero() {
                    builder.on_thread_park(move || spin_until_woken(park_spin));
                }
                let runtime = match builder.build_local(LocalOptions::default()) {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                OWN_RUNTIME.with_borrow_mut(|own| *own = Some(runtime.handle().clone()));
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    while let Some(job) = incoming.recv().await {
                        job();
                    }
                });
            })?;
        let runtime = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("a scheduler thread ended at its start"))??;
        Ok(Thread { jobs, runtime })
    }
}

/// The park hook: watches the runtime's injection queue, where a task
/// woken from another thread lands, until something is there or `limit`
/// has passed. tokio parks right after; if a task did land, the waker has
/// already signalled the driver, so that park returns at once instead of
/// sleeping.
fn spin_until_woken(limit: Duration) {
    let metrics = Handle::current().metrics();
    spin_until(limit, || metrics.global_queue_depth() > 0);
}

/// Spins until `done` says so or `limit` has passed; `true` if `done` did.
/// The clock is read every 64 tries, and between rounds the thread yields:
/// spinning must not keep the thread we wait for off a busy CPU.
fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Waits for `answer`, first spinning up to `limit` when this thread is
/// not a scheduler thread (a scheduler thread's other tasks must run).
/// The spin asks the channel without registering a waker, so a reply
/// that comes during it wakes nobody. `None` when the sender was dropped.
pub(crate) async fn wait_off_scheduler<T>(
    mut answer: oneshot::Receiver<T>,
    limit: Duration,
) -> Option<T> {
    if !limit.is_zero() && !ON_SCHEDULER.with(Cell::get) {
        let mut outcome = None;
        let settled = spin_until(limit, || match answer.try_recv() {
            Ok(value) => {
                outcome = Some(value);
                true
            }
            Err(oneshot::error::TryRecvError::Empty) => false,
            // A closed receiver must not be awaited.
            Err(oneshot::error::TryRecvError::Closed) => true,
        });
        if settled {
            return outcome;
        }
    }
    answer.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_task_runs_on_the_thread_asked_and_its_output_comes_back() {
        let schedulers = Schedulers::start(2, SpinPolicy::default().park).unwrap();
        for idx in 0..2 {
            let name = schedulers
                .spawn_on(idx, || async {
                    assert!(ON_SCHEDULER.with(Cell::get));
                    std::thread::current().name().unwrap().to_string()
                })
                .await
                .unwrap();
            assert_eq!(name, format!("arbor-sched-{idx}"));
        }
    }

    #[tokio::test]
    async fn a_panic_in_a_task_reaches_its_handle() {
        let schedulers = Schedulers::start(1, SpinPolicy::default().park).unwrap();
        let joined = schedulers
            .spawn_on(0, || async { panic!("on purpose") })
            .await;
        assert!(joined.unwrap_err().is_panic());
    }

    #[tokio::test]
    async fn a_spinning_thread_still_serves_timers_and_other_threads_wakes() {
        let schedulers = Schedulers::start(1, SpinPolicy::default().park).unwrap();
        // A timer on the scheduler thread fires although the thread spins
        // before each park.
        let waited = schedulers
            .spawn_on(0, || async {
                let started = Instant::now();
                tokio::time::sleep(Duration::from_millis(20)).await;
                started.elapsed()
            })
            .await
            .unwrap();
        assert!(waited >= Duration::from_millis(20));
        // Wakes from this thread reach a task parked there, many times.
        let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
        let served = Arc::new(AtomicUsize::new(0));
        let counted = served.clone();
        let task = schedulers.spawn_on(0, move || async move {
            while let Some(n) = rx.recv().await {
                counted.store(n, Ordering::Release);
            }
        });
        for n in 1..=1000 {
            tx.send(n).unwrap();
            while served.load(Ordering::Acquire) != n {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_caller_off_the_schedulers_gets_its_reply_whether_it_comes_during_the_spin_or_after()
    {
        let (tx, rx) = oneshot::channel();
        tx.send(1).unwrap();
        assert_eq!(
            wait_off_scheduler(rx, Duration::from_micros(50)).await,
            Some(1)
        );
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tx.send(2).unwrap();
        });
        assert_eq!(
            wait_off_scheduler(rx, Duration::from_micros(50)).await,
            Some(2)
        );
        let (tx, rx) = oneshot::channel::<u32>();
        drop(tx);
        assert_eq!(
            wait_off_scheduler(rx, Duration::from_micros(50)).await,
            None
        );
    }
}
