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
//! stop signal, children's exits, commands, queued restart retries, and
//! restarts whose backoff delay is over ([`super::backoff`]). A
//! restart that fails is not retried on the spot but queued behind whatever
//! else has arrived (OTP's `try_again_restart`), so a shutdown or a command
//! always gets in between two attempts. Starting children lives in
//! [`super::starting`], commands in [`super::commands`], stopping children
//! in [`super::stopping`], the table of places in [`super::places`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::events::EventKind;
use crate::spec::{ChildSpec, SupervisorSpec};
use crate::supervisor::Shared;
use crate::supervisor::backoff::{self, Waiting};
use crate::supervisor::inspect::Published;
use crate::supervisor::places::Places;
use crate::supervisor::protocol::{
    ChildCommandError, ChildExit, ExitNotifier, Failure, Signal, SupervisorCommand, SupervisorRef,
    signalled,
};
use crate::supervisor::state::{Decision, ExitFacts, Rules, SupervisorState};
use crate::vocab::{ChildId, ExitReason, SupervisorStop};

/// The detail of an exit made by `arbor ctl crash`, the page's crash action or
/// [`crate::NodeHandle::crash_child`].
pub(crate) const CRASHED_ON_REQUEST: &str = "crashed on request";

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
    let threads = shared.schedulers.num_threads();
    let idx = shared.next_thread.fetch_add(1, Ordering::Relaxed) % threads;
    // The task reports its exit through the parent channel.
    shared
        .schedulers
        .spawn_detached(idx, move || run(launch, idx));
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

/// One supervisor's task state. Its methods are spread by job: the loop
/// and decisions here, starting children and recording exits in
/// [`super::starting`], commands in [`super::commands`], stopping in
/// [`super::stopping`].
pub(crate) struct Supervisor {
    pub(super) shared: Arc<Shared>,
    pub(super) spec: SupervisorSpec,
    pub(super) path: String,
    pub(super) state: SupervisorState,
    pub(super) places: Places,
    pub(super) exits_tx: mpsc::UnboundedSender<ChildExit>,
    pub(super) exits_rx: mpsc::UnboundedReceiver<ChildExit>,
    /// Exits that arrived while waiting for another; handled next.
    pub(super) stash: VecDeque<ChildExit>,
    /// Children whose restart failed, to try again.
    pub(super) retries: VecDeque<ChildId>,
    /// Restarts waiting out a backoff delay.
    pub(super) waiting: Waiting,
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
    sup.publish_intensity();
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
    if outcome.stop == Some(SupervisorStop::MaxRestarts) {
        sup.places.counters.gave_up.fetch_add(1, Ordering::Relaxed);
    }
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
            places: Places::new(
                shared.registry.clone(),
                path.clone(),
                published,
                shared.stats.clone(),
            ),
            state: SupervisorState::new(rules),
            shared,
            spec,
            path,
            exits_tx,
            exits_rx,
            stash: VecDeque::new(),
            retries: VecDeque::new(),
            waiting: Waiting::default(),
        }
    }

    pub(super) fn now(&self) -> Duration {
        self.shared.origin.elapsed()
    }

    pub(super) fn is_dynamic(&self) -> bool {
        self.spec.dynamic.is_some()
    }

    /// Creates a place (and takes its name) and tells the rules about it.
    pub(super) fn add_place(&mut self, spec: ChildSpec) -> Result<ChildId, ChildCommandError> {
        let restart = spec.restart();
        let significant = spec.significant();
        let component = match &spec {
            ChildSpec::Worker(worker) => Some(
                self.shared
                    .component(&worker.component)
                    .ok_or_else(|| ChildCommandError::UnknownComponent(worker.component.clone()))?,
            ),
            ChildSpec::Supervisor(_) => None,
        };
        let id = self.places.add(spec, component)?;
        self.state.add_child(id, restart, significant);
        Ok(id)
    }

    /// Forgets a place and its name.
    pub(super) fn remove_place(&mut self, id: ChildId, why: &str) {
        self.places.remove(id, why);
        self.state.remove_child(id);
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
            let next_due = self.waiting.next_due();
            let origin = self.shared.origin;
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
                () = until(origin, next_due), if next_due.is_some() => {
                    self.on_backoff_over().await;
                }
            }
        }
    }

    /// A child exited by itself. `Some` means this supervisor exits too.
    async fn on_exit(&mut self, mut exit: ChildExit) -> Option<Outcome> {
        let id = exit.id;
        let Some(live) = self
            .places
            .get(id)
            .and_then(|p| p.live.as_ref())
            .filter(|live| live.generation == exit.generation)
        else {
            return None; // from an instance already replaced or removed
        };
        if live.crashed_on_request && exit.reason == ExitReason::Killed && exit.detail.is_none() {
            exit.detail = Some(CRASHED_ON_REQUEST.to_string());
        }
        let reason = exit.reason;
        let facts = ExitFacts {
            generation: exit.generation,
            reason,
            detail: exit.detail.clone(),
        };
        let report = self.record_exit(exit)?;
        let now = self.now();
        let places = &self.places;
        let decision = self
            .state
            .child_exited(id, reason, now, |other| places.is_active(other));
        self.explain(id, facts, &decision);
        // A child that is not restarted leaves the table before its exit is
        // reported; one that is restarted is reported before its restart.
        if matches!(decision, Decision::Keep(_) | Decision::Remove(_)) {
            let outcome = self.apply(id, decision).await;
            self.report_exit(report);
            return outcome;
        }
        self.report_exit(report);
        self.apply(id, decision).await
    }

    /// A queued retry: counts as a restart, then restarts as the strategy says.
    async fn on_retry(&mut self, id: ChildId) -> Option<Outcome> {
        if !self.places.get(id).is_some_and(|p| p.restarting) {
            return None; // started since, stopped by a command, or forgotten
        }
        let decision = self.state.restart_failed(id, self.now());
        let facts = ExitFacts {
            generation: self.places.get(id).map_or(0, |p| p.generation),
            reason: ExitReason::Error,
            detail: Some("its restart failed (init); tried again".to_string()),
        };
        self.explain(id, facts, &decision);
        self.apply(id, decision).await
    }

    /// A backoff delay is over: its group starts, but only the children
    /// still waiting (a command, a shutdown of the group or another
    /// restart may have come between).
    async fn on_backoff_over(&mut self) {
        let Some(group) = self.waiting.pop_due(self.now()) else {
            return;
        };
        let group: Vec<ChildId> = group
            .into_iter()
            .filter(|id| {
                self.places
                    .get(*id)
                    .is_some_and(|p| p.restarting && p.live.is_none())
            })
            .collect();
        self.start_group(&group).await;
    }

    /// The delay the restart of `failed` waits, if it or this supervisor
    /// sets a `backoff`.
    fn backoff_delay(&mut self, failed: ChildId) -> Option<Duration> {
        let now = self.now();
        let inherited = self.spec.backoff;
        let place = self.places.get_mut(failed)?;
        let policy = match &place.spec {
            ChildSpec::Worker(worker) => worker.backoff.or(inherited),
            ChildSpec::Supervisor(_) => inherited,
        }?;
        let draw = rand::random_range(0.0..=1.0);
        Some(backoff::next_delay(&policy, &mut place.streak, now, draw))
    }

    /// Starts `group` in order; a child that fails to start waits, with the
    /// rest of the group, for a retry.
    async fn start_group(&mut self, group: &[ChildId]) {
        for (i, &child) in group.iter().enumerate() {
            if self.start_place(child).await.is_err() {
                // This child and the rest of its group wait for the retry.
                for &waiting in &group[i..] {
                    if let Some(place) = self.places.get_mut(waiting) {
                        place.restarting = place.live.is_none();
                        place.publish();
                    }
                }
                self.retries.push_back(child);
                return;
            }
        }
    }

    /// `failed`'s restart group waits `delay` before it starts: each of
    /// them is `restarting` meanwhile, and its mailbox keeps what arrives.
    fn start_after(&mut self, failed: ChildId, group: Vec<ChildId>, delay: Duration) {
        for &child in &group {
            if let Some(place) = self.places.get_mut(child) {
                place.restarting = place.live.is_none();
                place.publish();
            }
        }
        let path = self.places.path_of(failed);
        let detail = format!("backoff: restarts in {} ms", delay.as_millis());
        self.shared.events.emit(
            EventKind::ChildRestartDelayed,
            &path,
            None,
            None,
            Some(&detail),
        );
        tracing::info!(child = path, "{detail}");
        self.waiting.push(self.now() + delay, group);
    }

    /// Carries out `decision`, made on an exit (or a failed restart) of
    /// `failed`.
    async fn apply(&mut self, failed: ChildId, decision: Decision) -> Option<Outcome> {
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
                match self.backoff_delay(failed) {
                    Some(delay) => self.start_after(failed, start, delay),
                    None => self.start_group(&start).await,
                }
                None
            }
            Decision::Stop(stop) => {
                self.shutdown_all().await;
                Some(Outcome::decided(stop))
            }
        }
    }
}

/// Resolves at `due` (since `origin`); never when there is none.
async fn until(origin: std::time::Instant, due: Option<Duration>) {
    match due {
        Some(due) => tokio::time::sleep_until((origin + due).into()).await,
        None => std::future::pending().await,
    }
}
