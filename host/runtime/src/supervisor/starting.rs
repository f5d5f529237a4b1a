//! Starting a supervisor's children (first start in order, restarts, a
//! nested supervisor's task) and recording their exits, so that whoever
//! sees an event sees the table as it is after it.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::child::{self, Started};
use crate::engine::{LoadedComponent, NotHttp};
use crate::events::EventKind;
use crate::http::server::{HttpListener, Target};
use crate::routing::Router;
use crate::spec::ChildSpec;
use crate::spec::WorkerSpec;
use crate::supervisor::driver::{Launch, Supervisor, launch};
use crate::supervisor::protocol::{ChildExit, ExitNotifier, Failure, Signal};
use crate::swap::request::SwapInbox;
use crate::vocab::{ChildId, ExitReason, RestartType, StartOutcome};

/// Binds an HTTP child's listener, at its first start: a component that
/// does not serve HTTP, or an address that cannot be bound, fails the start.
async fn listen(
    address: std::net::SocketAddr,
    worker: &WorkerSpec,
    component: &LoadedComponent,
    path: &Arc<str>,
    router: &Arc<dyn Router>,
) -> Result<HttpListener, Failure> {
    if !component.serves_http() {
        let error = NotHttp {
            child: path.to_string(),
            address,
            component: component.name.clone(),
            path: component.path.clone(),
        };
        return Err(Failure::new(ExitReason::Error, error.to_string()));
    }
    let target = Target {
        name: Arc::from(worker.name.as_str()),
        path: path.clone(),
        call_timeout: worker.call_timeout,
        router: router.clone(),
    };
    crate::http::server::listen(address, target)
        .await
        .map_err(|e| Failure::new(ExitReason::Error, e.to_string()))
}

/// A child's exit, recorded and about to be reported.
pub(super) struct ExitReport {
    path: Arc<str>,
    worker: bool,
    reason: ExitReason,
    detail: Option<String>,
}

impl Supervisor {
    /// First start: each child's `init` finishes before the next starts; a
    /// failure stops the started ones in reverse order and fails the start.
    /// A child that answers `ignore` is not a failure: the start goes on
    /// with the next one.
    pub(super) async fn start_all(&mut self) -> Result<(), Failure> {
        let specs = self.spec.children.clone();
        for spec in specs {
            let name = spec.name().to_string();
            let started = match self.add_place(spec) {
                Ok(id) => self.start_place(id).await,
                Err(e) => Err(Failure::new(ExitReason::Error, e.to_string())),
            };
            if let Err(failure) = started {
                self.shutdown_all().await;
                self.places.remove_all("its supervisor failed to start");
                return Err(Failure::new(
                    failure.reason,
                    format!("{name}: {}", failure.detail),
                ));
            }
        }
        Ok(())
    }

    /// Starts (or restarts) the child at `id`; a failure is reported as the
    /// child's exit. A worker whose `init` answers `ignore` started nothing
    /// and did not fail ([`Self::ignored`]).
    pub(super) async fn start_place(&mut self, id: ChildId) -> Result<StartOutcome, Failure> {
        let result = self.try_start_place(id).await;
        let counters = self.places.counters.clone();
        if let Some(place) = self.places.get_mut(id) {
            if result.is_ok() {
                place.restarting = false;
            }
            place.publish();
            // Counted before the event, so whoever sees it sees the count.
            if matches!(result, Ok(StartOutcome::Running)) && place.generation > 1 {
                place.view.count_restart();
                counters
                    .restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if matches!(result, Ok(StartOutcome::Running)) && place.is_worker() {
                let generation = place.generation;
                let kind = if generation == 1 {
                    EventKind::ChildStarted
                } else {
                    EventKind::ChildRestarted
                };
                self.shared
                    .events
                    .emit(kind, &place.path, Some(generation), None, None);
                if generation > 1 {
                    tracing::info!(child = &*place.path, "restarted (generation {generation})");
                }
            }
        }
        if let Ok(StartOutcome::Ignored) = result {
            self.ignored(id);
        }
        if let Err(failure) = &result
            && let Some(place) = self.places.get(id)
        {
            if place.is_worker() {
                self.shared.events.emit(
                    EventKind::ChildTerminated,
                    &place.path,
                    None,
                    Some(failure.reason),
                    Some(&failure.detail),
                );
            }
            tracing::warn!(
                child = &*place.path,
                "start failed ({}): {}",
                failure.reason,
                failure.detail
            );
        }
        result
    }

    /// A worker's `init` answered `ignore`: nothing runs and nothing failed,
    /// so nothing is retried or counted as a restart (OTP's `{ok,
    /// undefined}`). Like a child that is not restarted, it keeps its place,
    /// stopped, in a static supervisor, and its callers (those queued behind
    /// a crash included) get `stopped` at once; a dynamic supervisor, or a
    /// temporary child, forgets it. Its generation is not counted: it did
    /// not start.
    fn ignored(&mut self, id: ChildId) {
        let path = self.places.path_of(id);
        let why = format!("{path} is not running (its init answered ignore)");
        self.set_aside(id, &why);
        // After the table is up to date, as for an exit.
        self.shared
            .events
            .emit(EventKind::ChildIgnored, &path, None, None, None);
        tracing::info!(child = path, "init answered ignore: not started");
    }

    /// A child that is not running and not coming back by itself: a dynamic
    /// supervisor, or a temporary child, is forgotten; any other keeps its
    /// place, stopped, and its callers get errors at once.
    pub(super) fn set_aside(&mut self, id: ChildId, why: &str) {
        let temporary = self
            .places
            .get(id)
            .is_some_and(|p| p.spec.restart() == RestartType::Temporary);
        if self.is_dynamic() || temporary {
            self.remove_place(id, why);
        } else {
            self.places.close(id, why);
        }
    }

    async fn try_start_place(&mut self, id: ChildId) -> Result<StartOutcome, Failure> {
        let place = self.places.get(id).expect("a known child");
        let generation = place.generation + 1;
        let signal = watch::channel(Signal::Run);
        if place.is_worker() {
            self.start_worker(id, generation, signal).await
        } else {
            self.start_supervisor(id, generation, signal).await
        }
    }

    async fn start_worker(
        &mut self,
        id: ChildId,
        generation: u64,
        (signal_tx, signal_rx): (watch::Sender<Signal>, watch::Receiver<Signal>),
    ) -> Result<StartOutcome, Failure> {
        let shared = self.shared.clone();
        let exits = self.exits_tx.clone();
        let place = self.places.get_mut(id).expect("a known child");
        // Used once: a failed start does not try the same state again.
        let restore = place.restore.take();
        // The spec is borrowed, not cloned: a restart allocates as little
        // as it can.
        let ChildSpec::Worker(worker) = &place.spec else {
            return Ok(StartOutcome::Running); // a supervisor: start_supervisor's
        };
        let component = place
            .component
            .as_ref()
            .expect("a worker's place has its component");
        if let Some(address) = worker.http
            && place.http.is_none()
        {
            // Before `init`: a child that cannot serve its address does not start.
            let listener = listen(address, worker, component, &place.path, &shared.router).await?;
            place.http = Some(listener);
        }
        let started = child::start(
            shared.engine.engine(),
            component,
            worker,
            place.path.clone(),
            shared.router.clone(),
            child::Reach {
                keyvalue: crate::keyvalue::KvGrant::new(&shared.keyvalue, &worker.keyvalue),
                tls: &shared.tls,
            },
            restore,
            &place.view.memory,
        )
        .await?;
        let instance = match started {
            Started::Running(instance) => instance,
            Started::Ignored => return Ok(StartOutcome::Ignored),
        };
        let deadline = worker.timeout;
        let previous = place.previous.clone();
        let view = place.view.clone();
        let poison = worker
            .poison
            .map(|p| (p.after, shared.dead_letters.clone()));
        let mut mailbox = self.places.take_mailbox(id).expect("a worker's place");
        // At each start, so a changed `poison` (an apply) takes effect at
        // the next one; a child without it allocates nothing.
        mailbox.set_poison(poison);
        let swaps = Arc::new(SwapInbox::default());
        child::spawn(
            instance,
            mailbox,
            deadline,
            signal_rx,
            ExitNotifier::new(exits, id, generation),
            swaps.clone(),
            previous,
            view,
            shared.observe,
        );
        self.places.set_live(id, generation, signal_tx, Some(swaps));
        Ok(StartOutcome::Running)
    }

    async fn start_supervisor(
        &mut self,
        id: ChildId,
        generation: u64,
        (signal_tx, signal_rx): (watch::Sender<Signal>, watch::Receiver<Signal>),
    ) -> Result<StartOutcome, Failure> {
        let shared = self.shared.clone();
        let exits = self.exits_tx.clone();
        let place = self.places.get(id).expect("a known child");
        let path = place.path.to_string();
        let ChildSpec::Supervisor(spec) = place.spec.clone() else {
            return Ok(StartOutcome::Running); // a worker: start_worker's
        };
        let (started_tx, started_rx) = oneshot::channel();
        launch(Launch {
            shared: shared.clone(),
            spec,
            path,
            id,
            generation,
            signal: signal_rx,
            parent_exits: exits,
            started: started_tx,
        });
        // Live from now on: a kill while it starts must reach it.
        self.places.set_live(id, generation, signal_tx, None);
        let started = started_rx.await;
        let place = self.places.get_mut(id).expect("a known child");
        match started {
            // It registered itself before saying it started.
            Ok(Ok(reference)) => {
                if let Some(live) = place.live.as_mut() {
                    live.supervisor = Some(reference);
                }
            }
            // Its exit, sent too, will find the place no longer live.
            Ok(Err(failure)) => {
                place.live = None;
                return Err(failure);
            }
            Err(_) => {
                place.live = None;
                return Err(Failure::new(
                    ExitReason::Crash,
                    "the supervisor task ended while starting",
                ));
            }
        }
        Ok(StartOutcome::Running)
    }

    /// Records a child's exit (hands the mailbox back) and reports it.
    pub(crate) fn finish_exit(&mut self, exit: ChildExit) {
        if let Some(report) = self.record_exit(exit) {
            self.report_exit(report);
        }
    }

    /// Records a child's exit without reporting it yet, so the caller can
    /// first bring the table up to date: whoever sees the event then sees
    /// the tree as it is after the exit.
    pub(super) fn record_exit(&mut self, exit: ChildExit) -> Option<ExitReport> {
        let id = exit.id;
        let place = self.places.get_mut(id)?;
        place.live = None;
        if exit.mailbox.is_some() {
            place.mailbox = exit.mailbox;
        }
        if let Some(version) = exit.version {
            place.view.set_version(version.component.clone());
            place.component = Some(version.component);
            place.previous = version.previous;
            place.restore = version.restore;
        }
        place.publish();
        place.view.count_exit(exit.reason);
        let report = ExitReport {
            path: place.path.clone(),
            worker: place.is_worker(),
            reason: exit.reason,
            detail: exit.detail,
        };
        if !report.worker {
            self.places.set_supervisor(id, None);
        }
        Some(report)
    }

    pub(super) fn report_exit(&self, report: ExitReport) {
        if report.worker {
            self.shared.events.emit(
                EventKind::ChildTerminated,
                &report.path,
                None,
                Some(report.reason),
                report.detail.as_deref(),
            );
        }
        if report.reason.is_abnormal() {
            tracing::warn!(
                child = &*report.path,
                "terminated: {}{}",
                report.reason,
                report
                    .detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
    }
}
