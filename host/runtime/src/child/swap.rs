//! The child's side of a hot swap, carried out by the task that runs the
//! child, between two messages: the in-flight message has finished on the
//! old version, and the queued ones wait in the mailbox for whichever
//! version comes out of it.
//!
//! Before the commit nothing of the old instance changes (`snapshot` only
//! reads it), so any failure there leaves it serving as if no swap had been
//! asked for. After the commit the old instance is dropped and the task
//! keeps what a rollback needs: the old version and the pre-swap snapshot.
//! A crash within the probation hands both to the supervisor with the exit
//! ([`VersionChange`]), whose restart of the child then runs the old
//! version with that state; the crash itself is handled as any other.

use std::pin::Pin;
use std::sync::Arc;

use tokio::time::{Instant, Sleep, timeout};

use crate::bindings::{GuestExit, InitOutcome};
use crate::child::{Instance, Task, describe, drop_later, instantiate, restore_into, run_init};
use crate::engine::LoadedComponent;
use crate::events::{EventKind, SwapDetail};
use crate::supervisor::inspect::PlaceView;
use crate::supervisor::protocol::VersionChange;
use crate::swap::request::{Restore, StateHandover, SwapError, SwapReport, SwapRequest};
use crate::vocab::ExitReason;

/// What the task knows of its versions besides the one it runs.
pub(crate) struct Versions {
    /// What `--undo` goes back to.
    previous: Option<Arc<LoadedComponent>>,
    /// Whether a swap changed the version since the task started: only
    /// then does its exit carry a [`VersionChange`].
    changed: bool,
    /// Boxed: most workers are never swapped, and each task carries this.
    probation: Option<Box<Probation>>,
}

/// A committed swap whose new version may still be rolled back.
struct Probation {
    timer: Pin<Box<Sleep>>,
    old: Arc<LoadedComponent>,
    /// The old instance's state at the swap, if it was handed over.
    snapshot: Option<Vec<u8>>,
    report: SwapReport,
    request: Reporting,
}

/// Where a swap's outcome goes.
struct Reporting {
    reply: tokio::sync::oneshot::Sender<Result<SwapReport, SwapError>>,
    events: crate::events::EventSink,
    view: Option<Arc<PlaceView>>,
}

impl Versions {
    pub(crate) fn new(previous: Option<Arc<LoadedComponent>>) -> Self {
        Versions {
            previous,
            changed: false,
            probation: None,
        }
    }

    pub(crate) fn on_probation(&self) -> bool {
        self.probation.is_some()
    }

    /// Resolves when the probation ends; only polled while on probation.
    pub(crate) async fn probation_over(&mut self) {
        match &mut self.probation {
            Some(probation) => probation.timer.as_mut().await,
            None => std::future::pending().await,
        }
    }

    /// The new version survived its probation: the swap is final.
    pub(crate) fn pass_probation(&mut self) {
        if let Some(probation) = self.probation.take() {
            let _ = probation.request.reply.send(Ok(probation.report));
        }
    }

    /// What the exit tells the supervisor about versions. A crash (or an
    /// error exit) during the probation rolls back: the old version and
    /// the pre-swap snapshot go with the exit, and the swap's caller hears
    /// why.
    pub(crate) fn on_exit(
        mut self,
        instance: &Instance,
        reason: ExitReason,
        detail: Option<&str>,
    ) -> Option<Box<VersionChange>> {
        if let Some(probation) = self.probation.take() {
            let report = probation.report;
            // A crash or an error exit is the new version failing; a kill
            // comes from outside (a brutal shutdown) and says nothing of it.
            if matches!(reason, ExitReason::Crash | ExitReason::Error) {
                let why = format!("{reason}: {}", detail.unwrap_or("no detail"));
                emit(
                    &probation.request,
                    EventKind::SwapRolledBack,
                    &report.child,
                    &SwapDetail::from_report(&report, Some("probation")),
                    &why,
                );
                if let Some(view) = &probation.request.view {
                    view.set_version(probation.old.clone());
                }
                let _ = probation.request.reply.send(Err(SwapError::RolledBack {
                    child: report.child.clone(),
                    from: report.from.clone(),
                    to: report.to.clone(),
                    reason: why,
                }));
                let restore = probation.snapshot.map(|state| Restore {
                    state,
                    from: probation.old.hash.clone(),
                });
                return Some(Box::new(VersionChange {
                    component: probation.old,
                    previous: None,
                    restore,
                }));
            }
            let _ = probation.request.reply.send(Err(SwapError::Interrupted {
                child: report.child.clone(),
                detail: format!(
                    "it exited ({reason}) during its probation, running the new version {}",
                    report.to
                ),
            }));
        }
        self.changed.then(|| {
            Box::new(VersionChange {
                component: instance.component.clone(),
                previous: self.previous,
                restore: None,
            })
        })
    }
}

fn emit(to: &Reporting, kind: EventKind, path: &str, detail: &SwapDetail, text: &str) {
    to.events.emit_swap(
        kind,
        path,
        detail.clone(),
        (!text.is_empty()).then_some(text),
    );
}

/// A refusal before anything was touched.
fn refuse(request: SwapRequest, error: SwapError) {
    let _ = request.reply.send(Err(error));
}

impl Task {
    /// Carries out `request`. `Some` when the child must exit: its old
    /// instance trapped in `snapshot`, which is a crash like any other.
    pub(crate) async fn swap(
        &mut self,
        request: SwapRequest,
    ) -> Option<(ExitReason, Option<String>)> {
        let picked_up = Instant::now();
        if request.reply.is_closed() {
            return None; // the caller gave up (its own timeout)
        }
        let path = self.instance.store.data().path().to_string();
        let from = self.instance.component.clone();
        if picked_up > request.drain_deadline {
            let waited_ms = (picked_up - request.sent).as_millis() as u64;
            let version = from.hash.clone();
            refuse(
                request,
                SwapError::DrainTimeout {
                    child: path,
                    waited_ms,
                    version,
                },
            );
            return None;
        }
        let to = match request
            .to
            .resolve(&from, self.versions.previous.as_ref(), &path)
        {
            Ok(to) => to,
            Err(error) => {
                refuse(request, error);
                return None;
            }
        };
        let moved = from.has_handover() && to.has_handover();
        if !moved && !request.fresh {
            let which = match (from.has_handover(), to.has_handover()) {
                (false, false) => format!("neither {} nor {}", from.hash, to.hash),
                (false, true) => format!("the running version {}", from.hash),
                _ => format!("the new version {}", to.hash),
            };
            refuse(request, SwapError::NoHandover { child: path, which });
            return None;
        }
        // A swap during another's probation ends that probation: the
        // version it brought is the one being swapped out now.
        self.versions.pass_probation();
        let mut report = SwapReport {
            child: path.clone(),
            from: from.hash.clone(),
            to: to.hash.clone(),
            from_file: from.path.display().to_string(),
            to_file: to.path.display().to_string(),
            state: StateHandover::Fresh,
            drain_us: (picked_up - request.sent).as_micros() as u64,
            unavailable_us: 0,
            probation_ms: request.probation.as_millis() as u64,
            dry_run: request.dry_run,
        };
        let reporting = Reporting {
            reply: request.reply,
            events: request.events,
            view: request.view,
        };
        if !request.dry_run {
            emit(
                &reporting,
                EventKind::SwapStarted,
                &path,
                &SwapDetail::from_report(&report, None),
                "",
            );
        }
        // Hand over: snapshot the old instance (reading it only).
        let snapshot = if moved {
            match self.snapshot().await {
                Ok(state) => Some(state),
                Err((detail, crashed)) => {
                    report.unavailable_us = picked_up.elapsed().as_micros() as u64;
                    let error = SwapError::SnapshotFailed {
                        child: path.clone(),
                        from: from.hash.clone(),
                        detail: detail.clone(),
                    };
                    self.fail(reporting, &report, "snapshot", error);
                    return crashed
                        .then(|| (ExitReason::Crash, Some(format!("snapshot: {detail}"))));
                }
            }
        } else {
            None
        };
        if let Some(state) = &snapshot {
            report.state = StateHandover::Moved {
                bytes: state.len() as u64,
            };
        }
        // Bring up the new version beside the old one.
        let new = self
            .bring_up(
                &to,
                &request.args,
                snapshot.as_deref(),
                &from.hash,
                request.callback_timeout,
            )
            .await;
        let mut new = match new {
            Ok(new) => new,
            Err((phase, detail)) => {
                report.unavailable_us = picked_up.elapsed().as_micros() as u64;
                let error = SwapError::NewVersionFailed {
                    dry_run: request.dry_run,
                    child: path.clone(),
                    from: from.hash.clone(),
                    to: to.hash.clone(),
                    phase: phase.to_string(),
                    detail,
                };
                self.fail(reporting, &report, phase, error);
                return None;
            }
        };
        if request.dry_run {
            report.unavailable_us = picked_up.elapsed().as_micros() as u64;
            drop_later(new);
            let _ = reporting.reply.send(Ok(report));
            return None;
        }
        // Commit: the mailbox feeds the new instance from the next message.
        new.store.data_mut().stop_request = None;
        let mut old = std::mem::replace(&mut self.instance, new);
        if !moved {
            // Fresh state: the old version learns it is stopping. Its
            // answer cannot stop the swap any more.
            let call = old.bindings.terminate(&mut old.store, &GuestExit::Shutdown);
            if let Ok(Err(e)) | Err(e) = timeout(request.callback_timeout, call)
                .await
                .map_err(|_| wasmtime::Error::msg("timeout"))
            {
                tracing::warn!(
                    child = path,
                    "terminate of the old version failed: {}",
                    describe(&e).1
                );
            }
        }
        drop_later(old);
        report.unavailable_us = picked_up.elapsed().as_micros() as u64;
        self.versions.previous = Some(from.clone());
        self.versions.changed = true;
        if let Some(view) = &reporting.view {
            view.set_version(to.clone());
        }
        emit(
            &reporting,
            EventKind::SwapCommitted,
            &path,
            &SwapDetail::from_report(&report, None),
            "",
        );
        tracing::info!(child = path, "swapped {} -> {}", report.from, report.to);
        if request.probation.is_zero() {
            let _ = reporting.reply.send(Ok(report));
        } else {
            self.versions.probation = Some(Box::new(Probation {
                timer: Box::pin(tokio::time::sleep(request.probation)),
                old: from,
                snapshot,
                report,
                request: reporting,
            }));
        }
        None
    }

    /// A failure before the commit: the old instance goes on untouched.
    fn fail(&self, reporting: Reporting, report: &SwapReport, phase: &str, error: SwapError) {
        if !report.dry_run {
            emit(
                &reporting,
                EventKind::SwapRolledBack,
                &report.child,
                &SwapDetail::from_report(report, Some(phase)),
                &error.to_string(),
            );
        }
        tracing::warn!(child = report.child, "{error}");
        let _ = reporting.reply.send(Err(error));
    }

    /// `snapshot` of the running instance: `Err((why, crashed))`, where a
    /// trap or a timeout has killed the instance.
    async fn snapshot(&mut self) -> Result<Vec<u8>, (String, bool)> {
        let instance = &mut self.instance;
        let handover = match instance
            .component
            .pre
            .handover(&mut instance.store, &instance.bindings)
        {
            Ok(Some(handover)) => handover,
            Ok(None) => return Err(("the component does not export handover".to_string(), false)),
            Err(e) => return Err((describe(&e).1, false)),
        };
        match timeout(self.deadline, handover.snapshot(&mut instance.store)).await {
            Ok(Ok(Ok(state))) => Ok(state),
            Ok(Ok(Err(text))) => Err((format!("it returned an error: {text}"), false)),
            Ok(Err(trap)) => Err((describe(&trap).1, true)),
            Err(_) => Err(("timeout".to_string(), true)),
        }
    }

    /// A fresh instance of `to`, `init`ed and, with a snapshot, restored.
    async fn bring_up(
        &self,
        to: &Arc<LoadedComponent>,
        args: &[u8],
        snapshot: Option<&[u8]>,
        from: &str,
        budget: std::time::Duration,
    ) -> Result<Instance, (&'static str, String)> {
        let engine = self.instance.store.engine().clone();
        let state = self.instance.store.data();
        let mut new = instantiate(&engine, to, || state.renewed())
            .await
            .map_err(|f| ("instantiate", f.detail))?;
        match timeout(budget, run_init(&mut new, args)).await {
            Ok(Ok(InitOutcome::Running)) => {}
            Ok(Ok(InitOutcome::Ignore)) => {
                return Err(("init", "it answered ignore".to_string()));
            }
            Ok(Err(failure)) => return Err(("init", failure.detail)),
            Err(_) => return Err(("init", "timeout".to_string())),
        }
        if let Some(state) = snapshot {
            match timeout(budget, restore_into(&mut new, state, from)).await {
                Ok(Ok(())) => {}
                Ok(Err(failure)) => return Err(("restore", failure.detail)),
                Err(_) => return Err(("restore", "timeout".to_string())),
            }
        }
        Ok(new)
    }
}
