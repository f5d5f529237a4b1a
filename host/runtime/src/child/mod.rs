//! Runs one worker: a fresh `Store` per start, `init`, then a task that
//! serves the mailbox one message at a time until the child exits. It knows
//! nothing of supervisors beyond the signal it obeys and the exit it sends
//! ([`crate::supervisor::protocol`]). Between two messages the task may
//! carry out a hot swap of its own instance (`swap`).
//!
//! An `init` may also answer `ignore` (contract 0.2.0): the instance is
//! dropped at once and [`start`] says so, for the supervisor to keep the
//! place stopped. Which contract version a guest was built against is
//! settled by [`Supervised`]; nothing here depends on it.
//!
//! Three outcomes of a callback are kept apart: a reply (`ok`), a business
//! error (`err`, answered to the caller, the child keeps running) and a trap
//! (a crash: the instance is dead, the message that killed it is answered
//! with an error, or kept for the next instance when the child has
//! `poison` (see `poison`), and the task exits so the supervisor can
//! decide). Every
//! callback runs under a deadline: the store yields at each epoch tick so a
//! spinning guest cannot starve its neighbours on the same thread, and a
//! host-side timeout drops the call (and with it the instance) once the
//! deadline passes, which also covers a guest waiting in a host call.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::Instrument;
use wasmtime::{Engine, Store, Trap, UpdateDeadline, WasmBacktrace};

use crate::bindings::{GuestExit, InitOutcome, Supervised};
use crate::engine::LoadedComponent;
use crate::grants::sandbox::Sandbox;
use crate::host_api::{ChildState, GuestCrash};
use crate::keyvalue::KvGrant;
use crate::mailbox::{CallError, Envelope, MAX_MESSAGE_BYTES, MailboxReceiver, Reply};
use crate::observe::stats::MemoryGauge;
use crate::routing::Router;
use crate::spec::WorkerSpec;
use crate::supervisor::inspect::PlaceView;
use crate::supervisor::protocol::{ExitNotifier, Failure, Signal, signalled_once_changed};
use crate::swap::request::{Restore, SwapInbox};
use crate::tls::TlsClient;

mod http;
mod poison;
mod swap;

use crate::vocab::ExitReason;
use swap::Versions;

/// What a start that did not fail produced.
pub(crate) enum Started {
    /// `init` returned `ok` (`running`): serve the mailbox.
    Running(Instance),
    /// `init` answered `ignore`: the instance is already dropped.
    Ignored,
}

/// A live instance, the `Store` it lives in and the component version it
/// is an instance of.
pub(crate) struct Instance {
    store: Store<ChildState>,
    bindings: Supervised,
    component: Arc<LoadedComponent>,
}

/// Classifies an error that came out of a guest call. A guest that ended
/// itself through `host.crash` crashed with its own text as the detail; a
/// hardware trap's detail is wasmtime's ("wasm trap: ...").
pub(crate) fn describe(error: &wasmtime::Error) -> (ExitReason, String) {
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return if exit.0 == 0 {
            (ExitReason::Normal, "exit(0)".to_string())
        } else {
            (ExitReason::Error, format!("exit({})", exit.0))
        };
    }
    let mut detail = if let Some(crash) = error.downcast_ref::<GuestCrash>() {
        crash.detail.clone()
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        // `Trap`'s Display already reads "wasm trap: ...".
        trap.to_string()
    } else {
        return (ExitReason::Crash, crate::engine::one_line(error));
    };
    // Only with `ARBOR_WASM_BACKTRACE=1`: wasmtime then records the guest's
    // frames for a trap and for an error returned by an import alike.
    if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
        detail.push_str(" in ");
        detail.push_str(&backtrace_line(backtrace));
    }
    (ExitReason::Crash, detail)
}

/// The guest's frames, innermost first, on one line (`ARBOR_WASM_BACKTRACE=1`).
fn backtrace_line(backtrace: &WasmBacktrace) -> String {
    backtrace
        .frames()
        .iter()
        .map(|frame| match frame.func_name() {
            Some(name) => name.to_string(),
            None => format!("wasm-function[{}]", frame.func_index()),
        })
        .collect::<Vec<_>>()
        .join(" <- ")
}

/// Explains an instantiation failure; running out of memory mappings is
/// the usual limit past ~10k live children, so it names the sysctl.
fn instantiate_failure(error: &wasmtime::Error) -> String {
    let detail = describe(error).1;
    if crate::allocator::pool_exhausted(error) {
        return format!(
            "instantiate: the instance pool is full ({detail}); the host makes room for the children \
             its tree can hold: raise `[node] max_instances` in the tree file"
        );
    }
    if !(detail.contains("os error 12") || detail.contains("Cannot allocate memory")) {
        return format!("instantiate: {detail}");
    }
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    format!(
        "instantiate: out of memory mappings ({detail}); each live child uses several, and the kernel allows \
         vm.max_map_count = {limit} per process: raise it ({}) for large trees",
        crate::allocator::RAISE_MAP_COUNT
    )
}

/// The node's services a start of a child may reach, as its grants allow.
pub(crate) struct Reach<'a> {
    /// Its buckets in the key-value store, if it is granted any.
    pub keyvalue: Option<KvGrant>,
    /// The node's TLS client, for the `https` requests `http_outgoing` allows.
    pub tls: &'a Arc<TlsClient>,
}

/// Builds a fresh `Store`, instantiates the component and runs `init`
/// (and `restore`, when a rolled-back swap left state to restore). An
/// `init` that answers `ignore` is not a failure: its instance is dropped
/// here, before anything can reach it. The linear memory of its instance
/// is counted on `memory`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start(
    engine: &Engine,
    component: &Arc<LoadedComponent>,
    spec: &WorkerSpec,
    path: Arc<str>,
    router: Arc<dyn Router>,
    reach: Reach<'_>,
    restore: Option<Restore>,
    memory: &Arc<MemoryGauge>,
) -> Result<Started, Failure> {
    let Reach { keyvalue, tls } = reach;
    // A granted child's directories are opened once per start; a child
    // without grants has no sandbox and pays nothing for one.
    let sandbox = match &spec.grants {
        Some(grants) => {
            Some(Arc::new(Sandbox::open(grants, tls).map_err(|e| {
                Failure::new(ExitReason::Error, e.to_string())
            })?))
        }
        None => None,
    };
    let boot = async {
        let state = || {
            ChildState::new(
                spec,
                path.clone(),
                router.clone(),
                keyvalue.clone(),
                sandbox.clone(),
                memory.clone(),
            )
        };
        let mut instance = instantiate(engine, component, state).await?;
        // A trace-level span, free unless a subscriber wants it: the
        // runtime bench times a start's phases with it and `instantiate`'s.
        let outcome = run_init(&mut instance, &spec.args)
            .instrument(tracing::trace_span!("init"))
            .await?;
        match outcome {
            InitOutcome::Running => {}
            InitOutcome::Ignore => return Ok(None),
        }
        if let Some(restore) = restore {
            restore_into(&mut instance, &restore.state, &restore.from).await?;
        }
        Ok(Some(instance))
    };
    // No timer unless `init` waits: most finish in their first poll.
    let mut instance = match within(spec.init_timeout, Instant::now(), boot).await {
        Ok(Ok(Some(instance))) => instance,
        // The instance and its store were dropped with the `init` future.
        Ok(Ok(None)) => return Ok(Started::Ignored),
        Ok(Err(failure)) => return Err(failure),
        Err(_) => return Err(Failure::new(ExitReason::Crash, "init: timeout")),
    };
    // A `stop` during init has no callback to finish: ignore it.
    instance.store.data_mut().stop_request = None;
    Ok(Started::Running(instance))
}

/// A fresh `Store` with `state` and an instance of `component` in it;
/// nothing of the guest has run but its start functions.
pub(crate) async fn instantiate(
    engine: &Engine,
    component: &Arc<LoadedComponent>,
    state: impl Fn() -> ChildState,
) -> Result<Instance, Failure> {
    let new_store = || {
        let mut store = Store::new(engine, state());
        store.limiter(|state| &mut state.limits);
        // Yield to the scheduler at every tick; the host-side timeout is the
        // deadline. The yield is tokio's `yield_now`, not a plain self-wake:
        // a task that wakes itself goes back in the thread's local queue,
        // which the scheduler serves ahead of wake-ups from other threads
        // (those it checks only every 31 tasks), so a spinning guest would
        // hold a sibling's call from outside its thread for ~30 ticks;
        // `yield_now` waits until the scheduler has looked at the rest.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store
    };
    let mut store = new_store();
    loop {
        let instantiated = component
            .pre
            .instantiate_async(&mut store)
            .instrument(tracing::trace_span!("instantiate"))
            .await;
        match instantiated {
            Ok(bindings) => {
                return Ok(Instance {
                    store,
                    bindings,
                    component: component.clone(),
                });
            }
            // A full pool may only be waiting for instances this thread
            // is about to drop (`drop_later`): let them go, then retry.
            Err(e) if crate::allocator::pool_exhausted(&e) && drops_pending() => {
                tokio::task::yield_now().await;
                store = new_store();
            }
            Err(e) => return Err(Failure::new(ExitReason::Crash, instantiate_failure(&e))),
        }
    }
}

/// Runs `init`: `ok` is what it answered, an `err` or a trap a failure.
pub(crate) async fn run_init(instance: &mut Instance, args: &[u8]) -> Result<InitOutcome, Failure> {
    match instance.bindings.init(&mut instance.store, args).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(text)) => Err(Failure::new(
            ExitReason::Error,
            format!("init returned an error: {text}"),
        )),
        Err(trap) => {
            let (reason, detail) = describe(&trap);
            Err(Failure::new(reason, format!("init: {detail}")))
        }
    }
}

/// Runs `restore` with `state` from version `from`: an `err`, a trap or a
/// component without `handover` is a failure.
pub(crate) async fn restore_into(
    instance: &mut Instance,
    state: &[u8],
    from: &str,
) -> Result<(), Failure> {
    let handover = match instance
        .component
        .pre
        .handover(&mut instance.store, &instance.bindings)
    {
        Ok(Some(handover)) => handover,
        Ok(None) => {
            return Err(Failure::new(
                ExitReason::Error,
                "restore: the component does not export `arbor:supervised/handover`",
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                ExitReason::Crash,
                format!("restore: {}", describe(&e).1),
            ));
        }
    };
    match handover.restore(&mut instance.store, state, from).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(text)) => Err(Failure::new(
            ExitReason::Error,
            format!("restore returned an error: {text}"),
        )),
        Err(trap) => {
            let (reason, detail) = describe(&trap);
            Err(Failure::new(reason, format!("restore: {detail}")))
        }
    }
}

thread_local! {
    /// Instances handed to `drop_later` on this thread and not yet dropped.
    static DROPS_PENDING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn drops_pending() -> bool {
    DROPS_PENDING.get() > 0
}

/// Drops a dead instance after the tasks already queued on this thread have
/// run, so the supervisor's restart does not wait for it: giving a linear
/// memory back to the pool (finding and resetting its dirty pages) takes a
/// third of a restart.
fn drop_later(instance: Instance) {
    DROPS_PENDING.set(DROPS_PENDING.get() + 1);
    crate::scheduler::spawn_here(async move {
        drop(instance);
        DROPS_PENDING.set(DROPS_PENDING.get() - 1);
    });
}

/// Runs `call` under `deadline` without arming a timer when it finishes at
/// once: most callbacks compute and return in their first poll, and a timer
/// per message would cost a fifth of a round trip. A callback that waits or
/// yields at an epoch tick gets the timer, for what is left of its deadline.
async fn within<F: std::future::Future>(
    deadline: Duration,
    started: Instant,
    call: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut call = std::pin::pin!(call);
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => timeout_at(started + deadline, call).await,
    }
}

/// Runs the instance as a task on this thread until it exits; the exit goes
/// to `notifier`. Swap requests arrive in `swaps`; `previous` is the version
/// the child ran before its last swap (what `--undo` goes back to).
/// A crash's message is noted in `view`; with `counting`, each message is
/// counted there too ([`crate::observe::stats`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    instance: Instance,
    mailbox: MailboxReceiver,
    deadline: Duration,
    signal: watch::Receiver<Signal>,
    notifier: ExitNotifier,
    swaps: Arc<SwapInbox>,
    previous: Option<Arc<LoadedComponent>>,
    view: Arc<PlaceView>,
    counting: bool,
) {
    // The worker runs with the I/O thread's runtime as the current one:
    // the sockets its guest opens (granted WASI sockets, outgoing HTTP)
    // register there ([`crate::scheduler::io`]).
    crate::scheduler::spawn_here(crate::scheduler::in_io(async move {
        let mut task = Task {
            instance,
            mailbox,
            deadline,
            swaps,
            versions: Versions::new(previous),
            view,
            counting,
        };
        let mut kill = signal.clone();
        let mut signal = signal;
        let (reason, detail) = tokio::select! {
            biased;
            // A closed channel means the supervisor is gone: die with it.
            _ = signalled_once_changed(&mut kill, |s| *s == Signal::Kill) => (ExitReason::Killed, None),
            outcome = task.serve(&mut signal) => outcome,
        };
        let Task {
            instance,
            mailbox,
            versions,
            ..
        } = task;
        let version = versions.on_exit(&instance, reason, detail.as_deref());
        notifier.send_worker(reason, detail, mailbox, version);
        drop_later(instance);
    }));
}

/// A running worker: its instance, its queue, and its swap state.
pub(crate) struct Task {
    pub(crate) instance: Instance,
    mailbox: MailboxReceiver,
    deadline: Duration,
    swaps: Arc<SwapInbox>,
    pub(crate) versions: Versions,
    /// Its place as inspection sees it: where a crash's message is noted
    /// and, when `counting` (the host observes), each message counted.
    view: Arc<PlaceView>,
    counting: bool,
}

impl Task {
    async fn serve(
        &mut self,
        signal: &mut watch::Receiver<Signal>,
    ) -> (ExitReason, Option<String>) {
        // One waiter for the whole life of the instance: building a fresh one
        // per message costs a registration with the watch channel each time.
        let stop = signalled_once_changed(signal, |s| *s != Signal::Run);
        tokio::pin!(stop);
        let swaps = self.swaps.clone();
        loop {
            let on_probation = self.versions.on_probation();
            let envelope = tokio::select! {
                biased;
                // No deadline here: the supervisor enforces the shutdown budget.
                _ = &mut stop => {
                    // Boxed, as `terminate` below and `serve_http`: run once
                    // per life (or by HTTP children only), inline they would
                    // grow every idle child's task by their state.
                    return Box::pin(terminate(&mut self.instance, GuestExit::Shutdown, None)).await;
                }
                // Between two messages: the in-flight one has finished on
                // this version, the queued ones wait for the next.
                () = std::future::poll_fn(|cx| swaps.posted(cx)) => {
                    while let Some(request) = swaps.take() {
                        // Boxed: inline, the swap's state would make every
                        // worker's task larger by kilobytes, swapped or not.
                        if let Some(exit) = Box::pin(self.swap(request)).await {
                            return exit;
                        }
                    }
                    continue;
                }
                () = self.versions.probation_over(), if on_probation => {
                    self.versions.pass_probation();
                    continue;
                }
                envelope = self.mailbox.recv() => envelope,
            };
            let Some(envelope) = envelope else {
                return (ExitReason::Shutdown, Some("mailbox closed".to_string()));
            };
            if let Some(exit) = self.handle(envelope).await {
                return exit;
            }
        }
    }

    /// Serves one message; `Some` when the child exits.
    async fn handle(&mut self, envelope: Envelope) -> Option<(ExitReason, Option<String>)> {
        let (message, reply) = match envelope {
            Envelope::Call { message, reply } => (message, Some(reply)),
            Envelope::Cast { message } => (message, None),
            Envelope::Http(exchange) => return Box::pin(self.serve_http(exchange)).await,
        };
        let instance = &mut self.instance;
        let call = instance.bindings.handle(&mut instance.store, &message);
        // Read once for the deadline and, when observed, the latency.
        let started = Instant::now();
        let result = match within(self.deadline, started, call).await {
            Err(_) => Err((ExitReason::Crash, "timeout".to_string())),
            Ok(Err(error)) => Err(describe(&error)),
            Ok(Ok(result)) => Ok(result),
        };
        // Counted before the caller hears back, so whoever sees the reply
        // sees it counted. A message that ended its instance is an exit,
        // and noted for "why".
        match &result {
            Ok(outcome) if self.counting => {
                let error = match outcome {
                    Err(_) => true,
                    Ok(bytes) => bytes.len() > MAX_MESSAGE_BYTES,
                };
                self.view.count_message(started.elapsed(), error);
            }
            Ok(_) => {}
            Err(_) => self.view.history.set_crash_message(&message),
        }
        let answer = |reply: Option<oneshot::Sender<Reply>>, result| {
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        };
        match result {
            // A trap or the deadline: the message may go again to the next
            // instance, or to the dead-letter store (`poison`).
            Err((ExitReason::Crash, detail)) => {
                self.crashed_on(message, reply, &detail);
                return Some((ExitReason::Crash, Some(detail)));
            }
            // `exit(N)` from WASI: the guest ended itself, not a crash.
            Err((reason, detail)) => {
                let exited = CallError::Stopped(format!("the child exited: {detail}"));
                answer(reply, Err(exited));
                return Some((reason, Some(detail)));
            }
            Ok(Err(text)) => {
                if reply.is_none() {
                    tracing::warn!(
                        child = self.instance.store.data().path(),
                        "cast answered with an error: {text}"
                    );
                }
                answer(reply, Err(CallError::Rejected(text)));
            }
            // A reply is a message to the caller: bounded as one, so a
            // guest cannot hand a caller (another guest's memory) more.
            Ok(Ok(bytes)) if bytes.len() > MAX_MESSAGE_BYTES => {
                let why = format!(
                    "its reply of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes",
                    bytes.len()
                );
                let path = self.instance.store.data().path();
                tracing::warn!(child = path, "reply refused: {why}");
                answer(reply, Err(CallError::Rejected(why)));
            }
            Ok(Ok(bytes)) => answer(reply, Ok(bytes)),
        }
        let instance = &mut self.instance;
        if let Some(reason) = instance.store.data_mut().stop_request.take() {
            return Some(Box::pin(terminate(instance, reason, Some(self.deadline))).await);
        }
        None
    }
}

async fn terminate(
    instance: &mut Instance,
    reason: GuestExit,
    deadline: Option<Duration>,
) -> (ExitReason, Option<String>) {
    let (exit, detail) = match &reason {
        GuestExit::Normal => (ExitReason::Normal, None),
        GuestExit::Shutdown => (ExitReason::Shutdown, None),
        GuestExit::Error(text) => (ExitReason::Error, Some(text.clone())),
    };
    let call = instance.bindings.terminate(&mut instance.store, &reason);
    let result = match deadline {
        Some(deadline) => match timeout(deadline, call).await {
            Ok(result) => result,
            Err(_) => return (ExitReason::Crash, Some("terminate: timeout".to_string())),
        },
        None => call.await,
    };
    match result {
        Ok(()) => (exit, detail),
        Err(error) => (
            ExitReason::Crash,
            Some(format!("terminate: {}", describe(&error).1)),
        ),
    }
}
