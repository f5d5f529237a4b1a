//! The async supervisor: starts its children, watches their exits, carries
//! out the decisions of [`super::state`] and answers commands.
//!
//! A supervisor is one task on one scheduler thread, and its workers run as
//! tasks on the same thread, so messages between neighbours never cross
//! threads; nested supervisors are placed round-robin over the threads.
//! It talks to its children through a `watch` signal (run, shutdown, kill)
//! and hears from them through one exit channel ([`super::protocol`]).
//!
//! Its loop handles one thing at a time, in this order of priority: its own
//! stop signal, children's exits, commands, and queued restart retries. A
//! restart that fails is not retried on the spot but queued behind whatever
//! else has arrived (OTP's `try_again_restart`), so a shutdown or a command
//! always gets in between two attempts. Stopping children lives in
//! [`super::stopping`], the table of places in [`super::places`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::child::{self, Started};
use crate::events::EventKind;
use crate::spec::{ChildSpec, SupervisorSpec, check_name};
use crate::supervisor::Shared;
use crate::supervisor::inspect::Published;
use crate::supervisor::places::{Live, Places};
use crate::supervisor::protocol::{
    ChildCommandError, ChildExit, ExitNotifier, Failure, Signal, SupervisorCommand, SupervisorRef,
    signalled,
};
use crate::supervisor::state::{Decision, Rules, SupervisorState};
use crate::vocab::{ChildId, ExitReason, RestartType, StartOutcome, SupervisorStop};

/// Everything a supervisor task needs to start.
pub(crate) struct Launch {
    pub shared: Arc<Shared>,
    pub spec: SupervisorSpec,
    pub path: String,
    pub id: ChildId,
    pub generation: u64,
    pub signal: watch::Receiver<Signal>,
    pub parent_exits: mpsc::UnboundedSender<ChildExit>,
    pub started: oneshot::Sender<Result<SupervisorRef, Failure>>,
}

/// Starts a supervisor task on the next scheduler thread. The task always
/// reports exactly one exit to `parent_exits`, also when its start fails.
pub(crate) fn launch(launch: Launch) {
    let shared = launch.shared.clone();
    let threads = shared.pool.num_threads();
    let idx = shared.next_thread.fetch_add(1, Ordering::Relaxed) % threads;
    // The task reports its exit through the parent channel; the join handle
    // adds nothing.
    drop(
        shared
            .pool
            .spawn_pinned_by_idx(move || run(launch, idx), idx),
    );
}

/// A child's exit, recorded and about to be reported.
pub(crate) struct ExitReport {
    path: String,
    worker: bool,
    reason: ExitReason,
    detail: Option<String>,
}

/// How a supervisor's loop ended.
pub(crate) struct Outcome {
    pub reason: ExitReason,
    pub detail: Option<String>,
    pub stop: Option<SupervisorStop>,
}

impl Outcome {
    fn asked(reason: ExitReason) -> Outcome {
        Outcome {
            reason,
            detail: None,
            stop: None,
        }
    }

    fn decided(stop: SupervisorStop) -> Outcome {
        Outcome {
            reason: ExitReason::Shutdown,
            detail: Some(stop.as_str().to_string()),
            stop: Some(stop),
        }
    }
}

pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
    spec: SupervisorSpec,
    pub(crate) path: String,
    state: SupervisorState,
    pub(crate) places: Places,
    exits_tx: mpsc::UnboundedSender<ChildExit>,
    pub(crate) exits_rx: mpsc::UnboundedReceiver<ChildExit>,
    /// Exits that arrived while waiting for another; handled next.
    pub(crate) stash: VecDeque<ChildExit>,
    /// Children whose restart failed, to try again.
    retries: VecDeque<ChildId>,
}

async fn run(launch: Launch, thread: usize) {
    let Launch {
        shared,
        spec,
        path,
        id,
        generation,
        signal,
        parent_exits,
        started,
    } = launch;
    let notifier = ExitNotifier::new(parent_exits, id, generation);
    let published = Arc::new(Published::new(
        path.clone(),
        spec.strategy_label().to_string(),
        spec.restart,
    ));
    let mut sup = Supervisor::new(shared.clone(), spec, path, published.clone());
    if let Err(failure) = sup.start_all().await {
        tracing::error!(supervisor = sup.path, "start failed: {}", failure.detail);
        let _ = started.send(Err(failure.clone()));
        notifier.send(failure.reason, Some(failure.detail), None, None);
        return;
    }
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    let reference = SupervisorRef {
        commands: commands_tx,
        thread,
        published,
    };
    // Its place (or the node, for the root) holds the name; point it here
    // before anyone can see the start event.
    shared
        .registry
        .set_supervisor(&sup.spec.name, Some(reference.clone()));
    shared
        .events
        .emit(EventKind::SupervisorStarted, &sup.path, None, None, None);
    tracing::debug!(supervisor = sup.path, "started");
    if started.send(Ok(reference)).is_err() {
        // Whoever started us is gone: stop in order.
        sup.shutdown_all().await;
        sup.places.remove_all("its supervisor stopped");
        notifier.send(ExitReason::Shutdown, None, None, None);
        return;
    }
    let mut kill = signal.clone();
    let mut signal = signal;
    let outcome = tokio::select! {
        biased;
        _ = signalled(&mut kill, |s| *s == Signal::Kill) => None,
        outcome = sup.serve(&mut signal, &mut commands) => Some(outcome),
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            // The loop may have been stopping a child: every child still
            // live is killed and its exit received, so each gets its event.
            sup.kill_all().await;
            Outcome::asked(ExitReason::Killed)
        }
    };
    let why = format!("supervisor {} stopped", sup.path);
    sup.places.remove_all(&why);
    shared.events.emit(
        EventKind::SupervisorTerminated,
        &sup.path,
        None,
        Some(outcome.reason),
        outcome.detail.as_deref(),
    );
    match outcome.stop {
        Some(SupervisorStop::MaxRestarts) => tracing::error!(
            supervisor = sup.path,
            "reached its restart intensity ({} restarts in {:?}); shut down",
            sup.spec.intensity.max_restarts,
            sup.spec.intensity.max_seconds
        ),
        Some(SupervisorStop::AutoShutdown) => tracing::info!(
            supervisor = sup.path,
            "a significant child ended (auto_shutdown); shut down"
        ),
        None => {}
    }
    notifier.send(outcome.reason, outcome.detail, outcome.stop, None);
}

impl Supervisor {
    fn new(
        shared: Arc<Shared>,
        spec: SupervisorSpec,
        path: String,
        published: Arc<Published>,
    ) -> Supervisor {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let rules = Rules {
            strategy: spec.strategy,
            intensity: spec.intensity,
            auto_shutdown: spec.auto_shutdown,
            dynamic: spec.dynamic.is_some(),
        };
        Supervisor {
            places: Places::new(shared.registry.clone(), path.clone(), published),
            state: SupervisorState::new(rules),
            shared,
            spec,
            path,
            exits_tx,
            exits_rx,
            stash: VecDeque::new(),
            retries: VecDeque::new(),
        }
    }

    fn now(&self) -> Duration {
        self.shared.origin.elapsed()
    }

    pub(crate) fn is_dynamic(&self) -> bool {
        self.spec.dynamic.is_some()
    }

    /// Creates a place (and takes its name) and tells the rules about it.
    fn add_place(&mut self, spec: ChildSpec) -> Result<ChildId, ChildCommandError> {
        let restart = spec.restart();
        let significant = spec.significant();
        let id = self.places.add(spec)?;
        self.state.add_child(id, restart, significant);
        Ok(id)
    }

    /// Forgets a place and its name.
    fn remove_place(&mut self, id: ChildId, why: &str) {
        self.places.remove(id, why);
        self.state.remove_child(id);
    }

    /// First start: each child's `init` finishes before the next starts; a
    /// failure stops the started ones in reverse order and fails the start.
    /// A child that answers `ignore` is not a failure: the start goes on
    /// with the next one.
    async fn start_all(&mut self) -> Result<(), Failure> {
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
    async fn start_place(&mut self, id: ChildId) -> Result<StartOutcome, Failure> {
        let result = self.try_start_place(id).await;
        if let Some(place) = self.places.get_mut(id) {
            if result.is_ok() {
                place.restarting = false;
            }
            place.publish();
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
                    tracing::info!(child = place.path, "restarted (generation {generation})");
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
                child = place.path,
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
    fn set_aside(&mut self, id: ChildId, why: &str) {
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
        let shared = self.shared.clone();
        let exits = self.exits_tx.clone();
        let place = self.places.get(id).expect("a known child");
        let generation = place.generation + 1;
        let path = place.path.clone();
        let (signal_tx, signal_rx) = watch::channel(Signal::Run);
        match place.spec.clone() {
            ChildSpec::Worker(worker) => {
                let component = shared.components.get(&worker.component).ok_or_else(|| {
                    Failure::new(
                        ExitReason::Error,
                        format!("unknown component {:?}", worker.component),
                    )
                })?;
                let started = child::start(
                    shared.engine.engine(),
                    component,
                    &worker,
                    Arc::from(path.as_str()),
                    shared.registry.clone(),
                )
                .await?;
                let instance = match started {
                    Started::Running(instance) => instance,
                    Started::Ignored => return Ok(StartOutcome::Ignored),
                };
                let mailbox = self.places.take_mailbox(id).expect("a worker's place");
                child::spawn(
                    instance,
                    mailbox,
                    worker.timeout,
                    signal_rx,
                    ExitNotifier::new(exits, id, generation),
                );
                let place = self.places.get_mut(id).expect("a known child");
                place.generation = generation;
                place.live = Some(Live {
                    generation,
                    signal: signal_tx,
                    supervisor: None,
                });
            }
            ChildSpec::Supervisor(spec) => {
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
                let place = self.places.get_mut(id).expect("a known child");
                place.generation = generation;
                place.live = Some(Live {
                    generation,
                    signal: signal_tx,
                    supervisor: None,
                });
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
    fn record_exit(&mut self, exit: ChildExit) -> Option<ExitReport> {
        let id = exit.id;
        let place = self.places.get_mut(id)?;
        place.live = None;
        if exit.mailbox.is_some() {
            place.mailbox = exit.mailbox;
        }
        place.publish();
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

    fn report_exit(&self, report: ExitReport) {
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
                child = report.path,
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

    async fn serve(
        &mut self,
        signal: &mut watch::Receiver<Signal>,
        commands: &mut mpsc::UnboundedReceiver<SupervisorCommand>,
    ) -> Outcome {
        loop {
            if let Some(exit) = self.stash.pop_front() {
                if let Some(outcome) = self.on_exit(exit).await {
                    return outcome;
                }
                continue;
            }
            let retry_queued = !self.retries.is_empty();
            tokio::select! {
                biased;
                _ = signalled(signal, |s| *s != Signal::Run) => {
                    self.shutdown_all().await;
                    return Outcome::asked(ExitReason::Shutdown);
                }
                Some(exit) = self.exits_rx.recv() => {
                    if let Some(outcome) = self.on_exit(exit).await {
                        return outcome;
                    }
                }
                Some(command) = commands.recv() => self.on_command(command).await,
                () = std::future::ready(()), if retry_queued => {
                    let id = self.retries.pop_front().expect("a queued retry");
                    if let Some(outcome) = self.on_retry(id).await {
                        return outcome;
                    }
                }
            }
        }
    }

    /// A child exited by itself. `Some` means this supervisor exits too.
    async fn on_exit(&mut self, exit: ChildExit) -> Option<Outcome> {
        let id = exit.id;
        let current = self
            .places
            .get(id)
            .and_then(|p| p.live.as_ref())
            .is_some_and(|live| live.generation == exit.generation);
        if !current {
            return None; // from an instance already replaced or removed
        }
        let reason = exit.reason;
        let report = self.record_exit(exit)?;
        let now = self.now();
        let places = &self.places;
        let decision = self
            .state
            .child_exited(id, reason, now, |other| places.is_active(other));
        // A child that is not restarted leaves the table before its exit is
        // reported; one that is restarted is reported before its restart.
        if matches!(decision, Decision::Keep(_) | Decision::Remove(_)) {
            let outcome = self.apply(decision).await;
            self.report_exit(report);
            return outcome;
        }
        self.report_exit(report);
        self.apply(decision).await
    }

    /// A queued retry: counts as a restart, then restarts as the strategy says.
    async fn on_retry(&mut self, id: ChildId) -> Option<Outcome> {
        if !self.places.get(id).is_some_and(|p| p.restarting) {
            return None; // started since, stopped by a command, or forgotten
        }
        let decision = self.state.restart_failed(id, self.now());
        self.apply(decision).await
    }

    async fn apply(&mut self, decision: Decision) -> Option<Outcome> {
        match decision {
            Decision::Keep(id) => {
                let why = format!("{} exited and is not restarted", self.places.path_of(id));
                self.places.close(id, &why);
                None
            }
            Decision::Remove(id) => {
                let why = format!("{} exited and is not restarted", self.places.path_of(id));
                self.remove_place(id, &why);
                None
            }
            Decision::Restart {
                stop,
                remove,
                start,
            } => {
                for sibling in stop {
                    self.stop_one(sibling).await;
                }
                for temporary in remove {
                    let why = format!(
                        "{} is temporary and not restarted",
                        self.places.path_of(temporary)
                    );
                    self.remove_place(temporary, &why);
                }
                for (i, &child) in start.iter().enumerate() {
                    if self.start_place(child).await.is_err() {
                        // This child and the rest of its group wait for the retry.
                        for &waiting in &start[i..] {
                            if let Some(place) = self.places.get_mut(waiting) {
                                place.restarting = place.live.is_none();
                                place.publish();
                            }
                        }
                        self.retries.push_back(child);
                        return None;
                    }
                }
                None
            }
            Decision::Stop(stop) => {
                self.shutdown_all().await;
                Some(Outcome::decided(stop))
            }
        }
    }

    async fn on_command(&mut self, command: SupervisorCommand) {
        match command {
            SupervisorCommand::StartChild(spec, reply) => {
                let result = self.start_child(spec).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::TerminateChild(name, reply) => {
                let result = self.terminate_child(&name).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::RestartChild(name, reply) => {
                let result = self.restart_child(&name).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::DeleteChild(name, reply) => {
                let _ = reply.send(self.delete_child(&name));
            }
        }
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<StartOutcome, ChildCommandError> {
        self.check_new_child(&spec)?;
        let id = self.add_place(spec)?;
        self.start_place(id).await.map_err(|failure| {
            let why = format!("{} failed to start", self.places.path_of(id));
            self.remove_place(id, &why);
            ChildCommandError::StartFailed {
                reason: failure.reason,
                detail: failure.detail,
            }
        })
    }

    /// What can be refused before anything starts.
    fn check_new_child(&self, spec: &ChildSpec) -> Result<(), ChildCommandError> {
        let names = match spec {
            ChildSpec::Worker(w) => vec![w.name.as_str()],
            ChildSpec::Supervisor(s) => s.names(),
        };
        for name in names {
            check_name(name).map_err(ChildCommandError::InvalidName)?;
        }
        if let Some(max) = self.spec.dynamic.and_then(|d| d.max_children)
            && self.places.len() >= max
        {
            return Err(ChildCommandError::MaxChildren(max));
        }
        if let ChildSpec::Worker(worker) = spec {
            if !self.shared.components.contains_key(&worker.component) {
                return Err(ChildCommandError::UnknownComponent(
                    worker.component.clone(),
                ));
            }
            if let Some(slot) = self.shared.engine.allocation().memory_slot_bytes()
                && worker.max_memory_bytes > slot
            {
                return Err(ChildCommandError::MemoryAboveSlot {
                    asked: worker.max_memory_bytes.div_ceil(1 << 20),
                    slot: slot >> 20,
                });
            }
        }
        Ok(())
    }

    async fn terminate_child(&mut self, name: &str) -> Result<(), ChildCommandError> {
        let id = self
            .places
            .find(name)
            .ok_or_else(|| ChildCommandError::NoSuchChild(name.to_string()))?;
        self.stop_one(id).await;
        let why = format!("{} was stopped", self.places.path_of(id));
        self.set_aside(id, &why);
        Ok(())
    }

    async fn restart_child(&mut self, name: &str) -> Result<StartOutcome, ChildCommandError> {
        let id = self
            .places
            .find(name)
            .ok_or_else(|| ChildCommandError::NoSuchChild(name.to_string()))?;
        let place = self.places.get(id).expect("found");
        if place.live.is_some() {
            return Err(ChildCommandError::AlreadyRunning(name.to_string()));
        }
        if place.restarting {
            return Err(ChildCommandError::Restarting(name.to_string()));
        }
        self.start_place(id)
            .await
            .map_err(|f| ChildCommandError::StartFailed {
                reason: f.reason,
                detail: f.detail,
            })
    }

    fn delete_child(&mut self, name: &str) -> Result<(), ChildCommandError> {
        if self.is_dynamic() {
            return Err(ChildCommandError::Dynamic);
        }
        let id = self
            .places
            .find(name)
            .ok_or_else(|| ChildCommandError::NoSuchChild(name.to_string()))?;
        let place = self.places.get(id).expect("found");
        if place.live.is_some() {
            return Err(ChildCommandError::Running(name.to_string()));
        }
        if place.restarting {
            return Err(ChildCommandError::Restarting(name.to_string()));
        }
        let why = format!("{} was deleted", place.path);
        self.remove_place(id, &why);
        Ok(())
    }
}
