//! Runs one worker: a fresh `Store` per start, `init`, then a task that
//! serves the mailbox one message at a time until the child exits. It knows
//! nothing of supervisors beyond the signal it obeys and the exit it sends
//! ([`crate::supervisor::protocol`]).
//!
//! An `init` may also answer `ignore` (contract 0.2.0): the instance is
//! dropped at once and [`start`] says so, for the supervisor to keep the
//! place stopped. Which contract version a guest was built against is
//! settled by [`Supervised`]; nothing here depends on it.
//!
//! Three outcomes of a callback are kept apart: a reply (`ok`), a business
//! error (`err`, answered to the caller, the child keeps running) and a trap
//! (a crash: the instance is dead, the message that killed it is answered
//! with an error, and the task exits so the supervisor can decide). Every
//! callback runs under a deadline: the store yields at each epoch tick so a
//! spinning guest cannot starve its neighbours on the same thread, and a
//! host-side timeout drops the call (and with it the instance) once the
//! deadline passes, which also covers a guest waiting in a host call.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};
use wasmtime::{Engine, Store, Trap, WasmBacktrace};

use crate::bindings::{GuestExit, InitOutcome, Supervised};
use crate::engine::LoadedComponent;
use crate::host_api::ChildState;
use crate::mailbox::{CallError, Envelope, MailboxReceiver};
use crate::registry::Registry;
use crate::spec::WorkerSpec;
use crate::supervisor::protocol::{ExitNotifier, Failure, Signal, signalled};
use crate::vocab::ExitReason;

/// What a start that did not fail produced.
pub(crate) enum Started {
    /// `init` returned `ok` (`running`): serve the mailbox.
    Running(Instance),
    /// `init` answered `ignore`: the instance is already dropped.
    Ignored,
}

/// A live instance and the `Store` it lives in.
pub(crate) struct Instance {
    store: Store<ChildState>,
    bindings: Supervised,
}

/// Classifies an error that came out of a guest call.
pub(crate) fn describe(error: &wasmtime::Error) -> (ExitReason, String) {
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return if exit.0 == 0 {
            (ExitReason::Normal, "exit(0)".to_string())
        } else {
            (ExitReason::Error, format!("exit({})", exit.0))
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        // `Trap`'s Display already reads "wasm trap: ...".
        let mut detail = trap.to_string();
        if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
            detail.push_str(" in ");
            detail.push_str(&backtrace_line(backtrace));
        }
        return (ExitReason::Crash, detail);
    }
    (ExitReason::Crash, crate::engine::one_line(error))
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

/// Builds a fresh `Store`, instantiates the component and runs `init`.
/// An `init` that answers `ignore` is not a failure: its instance is
/// dropped here, before anything can reach it.
pub(crate) async fn start(
    engine: &Engine,
    component: &LoadedComponent,
    spec: &WorkerSpec,
    path: Arc<str>,
    registry: Registry,
) -> Result<Started, Failure> {
    let new_store = || {
        let mut store = Store::new(
            engine,
            ChildState::new(spec, path.clone(), registry.clone()),
        );
        store.limiter(|state| &mut state.limits);
        // Yield to the scheduler at every tick; the host-side timeout is the deadline.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    };
    let init = async {
        let mut store = new_store();
        let bindings = loop {
            match component.pre.instantiate_async(&mut store).await {
                Ok(bindings) => break bindings,
                // A full pool may only be waiting for instances this thread
                // is about to drop (`drop_later`): let them go, then retry.
                Err(e) if crate::allocator::pool_exhausted(&e) && drops_pending() => {
                    tokio::task::yield_now().await;
                    store = new_store();
                }
                Err(e) => return Err(Failure::new(ExitReason::Crash, instantiate_failure(&e))),
            }
        };
        match bindings.init(&mut store, &spec.args).await {
            Ok(Ok(InitOutcome::Running)) => Ok(Some((store, bindings))),
            Ok(Ok(InitOutcome::Ignore)) => Ok(None),
            Ok(Err(text)) => Err(Failure::new(
                ExitReason::Error,
                format!("init returned an error: {text}"),
            )),
            Err(trap) => {
                let (reason, detail) = describe(&trap);
                Err(Failure::new(reason, format!("init: {detail}")))
            }
        }
    };
    let (mut store, bindings) = match timeout(spec.timeout, init).await {
        Ok(Ok(Some(running))) => running,
        // The instance and its store were dropped with the `init` future.
        Ok(Ok(None)) => return Ok(Started::Ignored),
        Ok(Err(failure)) => return Err(failure),
        Err(_) => return Err(Failure::new(ExitReason::Crash, "init: timeout")),
    };
    // A `stop` during init has no callback to finish: ignore it.
    store.data_mut().stop_request = None;
    Ok(Started::Running(Instance { store, bindings }))
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
    tokio::task::spawn_local(async move {
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
    call: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let started = Instant::now();
    let mut call = std::pin::pin!(call);
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => timeout_at(started + deadline, call).await,
    }
}

/// Runs the instance as a task on this thread until it exits; the exit goes
/// to `notifier`.
pub(crate) fn spawn(
    instance: Instance,
    mailbox: MailboxReceiver,
    deadline: Duration,
    signal: watch::Receiver<Signal>,
    notifier: ExitNotifier,
) {
    tokio::task::spawn_local(async move {
        let mut instance = instance;
        let mut mailbox = mailbox;
        let mut kill = signal.clone();
        let mut signal = signal;
        let (reason, detail) = tokio::select! {
            biased;
            // A closed channel means the supervisor is gone: die with it.
            _ = signalled(&mut kill, |s| *s == Signal::Kill) => (ExitReason::Killed, None),
            outcome = serve(&mut instance, &mut mailbox, &mut signal, deadline) => outcome,
        };
        notifier.send(reason, detail, None, Some(mailbox));
        drop_later(instance);
    });
}

async fn serve(
    instance: &mut Instance,
    mailbox: &mut MailboxReceiver,
    signal: &mut watch::Receiver<Signal>,
    deadline: Duration,
) -> (ExitReason, Option<String>) {
    // One waiter for the whole life of the instance: building a fresh one
    // per message costs a registration with the watch channel each time.
    let stop = signalled(signal, |s| *s != Signal::Run);
    tokio::pin!(stop);
    loop {
        let envelope = tokio::select! {
            biased;
            // No deadline here: the supervisor enforces the shutdown budget.
            _ = &mut stop => {
                return terminate(instance, GuestExit::Shutdown, None).await;
            }
            envelope = mailbox.recv() => envelope,
        };
        let Some(envelope) = envelope else {
            return (ExitReason::Shutdown, Some("mailbox closed".to_string()));
        };
        let (message, reply) = match envelope {
            Envelope::Call { message, reply } => (message, Some(reply)),
            Envelope::Cast { message } => (message, None),
        };
        let is_cast = reply.is_none();
        let answer = |result| {
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        };
        let call = instance.bindings.handle(&mut instance.store, &message);
        match within(deadline, call).await {
            Err(_) => {
                answer(Err(CallError::Crashed("timeout".to_string())));
                return (ExitReason::Crash, Some("timeout".to_string()));
            }
            Ok(Err(error)) => {
                let (reason, detail) = describe(&error);
                answer(Err(match reason {
                    ExitReason::Crash => CallError::Crashed(detail.clone()),
                    _ => CallError::Stopped(format!("the child exited: {detail}")),
                }));
                return (reason, Some(detail));
            }
            Ok(Ok(Err(text))) => {
                if is_cast {
                    tracing::warn!(
                        child = instance.store.data().path(),
                        "cast answered with an error: {text}"
                    );
                }
                answer(Err(CallError::Rejected(text)));
            }
            Ok(Ok(Ok(bytes))) => answer(Ok(bytes)),
        }
        if let Some(reason) = instance.store.data_mut().stop_request.take() {
            return terminate(instance, reason, Some(deadline)).await;
        }
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
