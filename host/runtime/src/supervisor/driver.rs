//! The async supervisor: starts children, watches their exits, carries out
//! the decisions of [`super::state`], stops children in order, and answers
//! commands (inspection, start/terminate/restart child, count).
//!
//! A supervisor is one task on one scheduler thread, and its workers run as
//! tasks on the same thread, so messages between neighbours never cross
//! threads; nested supervisors are placed round-robin over the threads.
//! A supervisor talks to its children through a `watch` signal (run,
//! shutdown, kill) and hears from them through one exit channel; while it
//! waits for one child to stop, other exits are kept and handled afterwards.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::LocalPoolHandle;

use crate::child::{self, ChildExit, ExitNotifier, Failure, Signal, signalled};
use crate::engine::{ArborEngine, LoadedComponent};
use crate::events::{EventKind, EventSink};
use crate::mailbox::{self, MailboxReceiver, MailboxSender, close_mailbox};
use crate::registry::{Entry, Registry};
use crate::report::{ChildCounts, NodeReport};
use crate::spec::{ChildSpec, Shutdown, SupervisorSpec, WorkerSpec, check_name};
use crate::supervisor::state::{ChildId, Decision, ExitReason, SupervisorState};

/// How to reach a running supervisor.
#[derive(Clone)]
pub struct SupervisorRef {
    /// Its command channel.
    pub commands: mpsc::UnboundedSender<SupervisorCommand>,
    /// The scheduler thread its task and its workers run on.
    pub thread: usize,
}

/// Requests a running supervisor answers.
pub enum SupervisorCommand {
    /// Report this supervisor's subtree.
    Inspect(oneshot::Sender<NodeReport>),
    /// Add a worker and start it.
    StartChild(WorkerSpec, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Stop a child (kept in the spec list unless temporary or dynamic).
    TerminateChild(String, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Start a stopped child again.
    RestartChild(String, oneshot::Sender<Result<(), ChildCommandError>>),
    /// Count the children.
    CountChildren(oneshot::Sender<ChildCounts>),
}

/// Why a child command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildCommandError {
    /// The name is not valid.
    #[error("invalid child name: {0}")]
    InvalidName(String),
    /// The name is taken somewhere in the host.
    #[error("the name {0:?} is already in use")]
    NameTaken(String),
    /// No such component in `[components]`.
    #[error("unknown component {0:?}")]
    UnknownComponent(String),
    /// The dynamic supervisor is full.
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    /// The child asks for more linear memory than the host's memory slots hold.
    #[error(
        "max_memory_mb {asked} is above the {slot} MiB memory slots this host was sized with \
         (the largest max_memory_mb in the tree file; raise one there)"
    )]
    MemoryAboveSlot {
        /// The child's limit, MiB.
        asked: usize,
        /// The slot size, MiB.
        slot: usize,
    },
    /// The child's `init` failed or trapped.
    #[error("the child failed to start ({reason}): {detail}")]
    StartFailed {
        /// crash or error.
        reason: String,
        /// What went wrong.
        detail: String,
    },
    /// No child of that name under this supervisor.
    #[error("no child named {0:?} under this supervisor")]
    NoSuchChild(String),
    /// The child is already running.
    #[error("the child {0:?} is already running")]
    AlreadyRunning(String),
}

/// What every supervisor of one host shares.
pub(crate) struct Shared {
    pub engine: ArborEngine,
    pub registry: Registry,
    pub events: EventSink,
    pub components: BTreeMap<String, Arc<LoadedComponent>>,
    pub pool: LocalPoolHandle,
    pub next_thread: AtomicUsize,
    pub origin: Instant,
}

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

/// Starts a supervisor task on the next scheduler thread.
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

struct Running {
    generation: u64,
    signal: watch::Sender<Signal>,
    supervisor: Option<SupervisorRef>,
}

struct Place {
    spec: ChildSpec,
    path: String,
    generation: u64,
    running: Option<Running>,
    /// A worker's queue while no instance holds it; `None` once closed.
    mailbox: Option<MailboxReceiver>,
}

struct Supervisor {
    shared: Arc<Shared>,
    spec: SupervisorSpec,
    path: String,
    state: SupervisorState,
    places: BTreeMap<ChildId, Place>,
    next_id: u64,
    exits_tx: mpsc::UnboundedSender<ChildExit>,
    exits_rx: mpsc::UnboundedReceiver<ChildExit>,
    stash: VecDeque<ChildExit>,
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
    let (exits_tx, exits_rx) = mpsc::unbounded_channel();
    let name = spec.name.clone();
    let mut sup = Supervisor {
        state: SupervisorState::new(spec.strategy, spec.intensity),
        shared: shared.clone(),
        spec,
        path,
        places: BTreeMap::new(),
        next_id: 0,
        exits_tx,
        exits_rx,
        stash: VecDeque::new(),
    };
    if let Err(failure) = sup.start_all().await {
        tracing::error!(supervisor = sup.path, "start failed: {}", failure.detail);
        notifier.disarm();
        let _ = started.send(Err(failure));
        return;
    }
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    let reference = SupervisorRef {
        commands: commands_tx,
        thread,
    };
    shared
        .registry
        .replace(&name, Entry::Supervisor(reference.clone()));
    shared
        .events
        .emit(EventKind::SupervisorStarted, &sup.path, None, None, None);
    tracing::debug!(supervisor = sup.path, "started");
    if started.send(Ok(reference)).is_err() {
        // Whoever started us is gone: stop in order.
        sup.shutdown_all().await;
        sup.close_all("its supervisor stopped");
        notifier.disarm();
        return;
    }
    let mut kill = signal.clone();
    let mut signal = signal;
    let outcome = tokio::select! {
        biased;
        _ = signalled(&mut kill, |s| *s == Signal::Kill) => None,
        outcome = sup.serve(&mut signal, &mut commands) => Some(outcome),
    };
    let (reason, detail) = match outcome {
        Some(outcome) => outcome,
        None => {
            sup.kill_all().await;
            (ExitReason::Killed, None)
        }
    };
    sup.close_all(&format!("supervisor {} stopped", sup.path));
    shared.registry.unregister(&name);
    shared.events.emit(
        EventKind::SupervisorTerminated,
        &sup.path,
        None,
        Some(&reason),
        detail.as_deref(),
    );
    if detail.as_deref() == Some("max_restarts") {
        tracing::error!(
            supervisor = sup.path,
            "reached its restart intensity; shut down"
        );
    }
    notifier.send(reason, detail, None);
}

impl Supervisor {
    fn now(&self) -> Duration {
        self.shared.origin.elapsed()
    }

    /// Creates a place for `spec` at the end of the start order.
    fn add_place(&mut self, spec: ChildSpec) -> Result<ChildId, ChildCommandError> {
        let name = spec.name().to_string();
        let mailbox = match &spec {
            ChildSpec::Worker(_) => {
                let (tx, rx) = mailbox::mailbox(spec.mailbox_limits().unwrap_or_default());
                self.shared
                    .registry
                    .register(&name, Entry::Worker(tx))
                    .map_err(|_| ChildCommandError::NameTaken(name.clone()))?;
                Some(rx)
            }
            ChildSpec::Supervisor(_) => {
                if self.shared.registry.contains(&name) {
                    return Err(ChildCommandError::NameTaken(name));
                }
                None
            }
        };
        let id = ChildId(self.next_id);
        self.next_id += 1;
        self.state.add_child(id, spec.restart());
        self.places.insert(
            id,
            Place {
                path: format!("{}/{}", self.path, name),
                spec,
                generation: 0,
                running: None,
                mailbox,
            },
        );
        Ok(id)
    }

    /// Forgets a place: its callers get errors and its name is freed.
    fn remove_place(&mut self, id: ChildId, why: &str) {
        if let Some(mut place) = self.places.remove(&id) {
            if let Some(rx) = place.mailbox.take() {
                close_mailbox(rx, why);
            }
            if matches!(place.spec, ChildSpec::Worker(_)) {
                self.shared.registry.unregister(place.spec.name());
            }
        }
        self.state.remove_child(id);
    }

    /// A stopped child that is not coming back (for now): callers get errors at once.
    fn close_place(&mut self, id: ChildId, why: &str) {
        if let Some(rx) = self.places.get_mut(&id).and_then(|p| p.mailbox.take()) {
            close_mailbox(rx, why);
        }
    }

    fn close_all(&mut self, why: &str) {
        let ids: Vec<ChildId> = self.places.keys().copied().collect();
        for id in ids {
            self.remove_place(id, why);
        }
    }

    /// First start: each child's `init` finishes before the next starts; a
    /// failure stops the started ones in reverse order and fails the start.
    async fn start_all(&mut self) -> Result<(), Failure> {
        let specs = self.spec.children.clone();
        for spec in specs {
            let name = spec.name().to_string();
            let id = match self.add_place(spec) {
                Ok(id) => id,
                Err(e) => {
                    self.shutdown_all().await;
                    self.close_all("its supervisor failed to start");
                    return Err(Failure::new(ExitReason::Error, format!("{name}: {e}")));
                }
            };
            if let Err(failure) = self.start_place(id).await {
                self.shutdown_all().await;
                self.close_all("its supervisor failed to start");
                return Err(Failure::new(
                    failure.reason,
                    format!("{name}: {}", failure.detail),
                ));
            }
        }
        Ok(())
    }

    /// Starts (or restarts) the child at `id`.
    async fn start_place(&mut self, id: ChildId) -> Result<(), Failure> {
        let result = self.try_start_place(id).await;
        if let Err(failure) = &result
            && let Some(place) = self.places.get(&id)
        {
            if matches!(place.spec, ChildSpec::Worker(_)) {
                self.shared.events.emit(
                    EventKind::ChildTerminated,
                    &place.path,
                    None,
                    Some(&failure.reason),
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

    async fn try_start_place(&mut self, id: ChildId) -> Result<(), Failure> {
        let shared = self.shared.clone();
        let exits = self.exits_tx.clone();
        let place = self.places.get_mut(&id).expect("a known child");
        let generation = place.generation + 1;
        let (signal_tx, signal_rx) = watch::channel(Signal::Run);
        let supervisor = match &place.spec {
            ChildSpec::Worker(worker) => {
                let component = shared.components.get(&worker.component).ok_or_else(|| {
                    Failure::new(
                        ExitReason::Error,
                        format!("unknown component {:?}", worker.component),
                    )
                })?;
                let instance = child::start(
                    shared.engine.engine(),
                    component,
                    worker,
                    Arc::from(place.path.as_str()),
                    shared.registry.clone(),
                )
                .await?;
                let mailbox = match place.mailbox.take() {
                    Some(rx) => rx,
                    None => {
                        // Closed when the child stopped for good, or lost with a
                        // panicked task: a fresh queue under the same name.
                        let (tx, rx): (MailboxSender, MailboxReceiver) =
                            mailbox::mailbox(worker.mailbox);
                        shared.registry.replace(&worker.name, Entry::Worker(tx));
                        rx
                    }
                };
                child::spawn(
                    instance,
                    mailbox,
                    worker.timeout,
                    signal_rx,
                    ExitNotifier::new(exits, id, generation),
                );
                let kind = if generation == 1 {
                    EventKind::ChildStarted
                } else {
                    EventKind::ChildRestarted
                };
                shared
                    .events
                    .emit(kind, &place.path, Some(generation), None, None);
                if generation > 1 {
                    tracing::info!(child = place.path, "restarted (generation {generation})");
                }
                None
            }
            ChildSpec::Supervisor(spec) => {
                let (started_tx, started_rx) = oneshot::channel();
                launch(Launch {
                    shared: shared.clone(),
                    spec: spec.clone(),
                    path: place.path.clone(),
                    id,
                    generation,
                    signal: signal_rx,
                    parent_exits: exits,
                    started: started_tx,
                });
                match started_rx.await {
                    Ok(Ok(commands)) => Some(commands),
                    Ok(Err(failure)) => return Err(failure),
                    Err(_) => {
                        return Err(Failure::new(
                            ExitReason::Crash,
                            "the supervisor task ended while starting",
                        ));
                    }
                }
            }
        };
        place.generation = generation;
        place.running = Some(Running {
            generation,
            signal: signal_tx,
            supervisor,
        });
        self.state.mark_running(id);
        Ok(())
    }

    /// Waits for the exit of `id` at `generation`, keeping other exits for later.
    async fn wait_exit(&mut self, id: ChildId, generation: u64) -> ChildExit {
        if let Some(pos) = self
            .stash
            .iter()
            .position(|e| e.id == id && e.generation == generation)
        {
            return self.stash.remove(pos).expect("position is valid");
        }
        loop {
            let exit = self
                .exits_rx
                .recv()
                .await
                .expect("the supervisor holds a sender");
            if exit.id == id && exit.generation == generation {
                return exit;
            }
            self.stash.push_back(exit);
        }
    }

    /// Stops a running child within its shutdown budget.
    async fn stop_place(&mut self, id: ChildId) {
        let Some(place) = self.places.get_mut(&id) else {
            return;
        };
        let Some(running) = place.running.take() else {
            return;
        };
        let budget = place.spec.shutdown();
        let first = if budget == Shutdown::BrutalKill {
            Signal::Kill
        } else {
            Signal::Shutdown
        };
        // A child that already exited has dropped its receiver; its exit is waiting.
        let _ = running.signal.send(first);
        let exit = match budget {
            Shutdown::Timeout(limit) => {
                match tokio::time::timeout(limit, self.wait_exit(id, running.generation)).await {
                    Ok(exit) => exit,
                    Err(_) => {
                        let _ = running.signal.send(Signal::Kill);
                        self.wait_exit(id, running.generation).await
                    }
                }
            }
            Shutdown::BrutalKill | Shutdown::Infinity => {
                self.wait_exit(id, running.generation).await
            }
        };
        self.finish_exit(id, exit);
    }

    /// Records a child's exit: hands the mailbox back and reports it.
    fn finish_exit(&mut self, id: ChildId, exit: ChildExit) {
        self.state.mark_stopped(id);
        let Some(place) = self.places.get_mut(&id) else {
            return;
        };
        place.running = None;
        if exit.mailbox.is_some() {
            place.mailbox = exit.mailbox;
        }
        if matches!(place.spec, ChildSpec::Worker(_)) {
            self.shared.events.emit(
                EventKind::ChildTerminated,
                &place.path,
                None,
                Some(&exit.reason),
                exit.detail.as_deref(),
            );
        }
        if exit.reason.is_abnormal() {
            tracing::warn!(
                child = place.path,
                "terminated: {}{}",
                exit.reason,
                exit.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
    }

    /// Stops every running child in reverse start order.
    async fn shutdown_all(&mut self) {
        for id in self.state.shutdown_order() {
            self.stop_place(id).await;
        }
    }

    /// Kills every running child at once (this supervisor was killed).
    async fn kill_all(&mut self) {
        let order = self.state.shutdown_order();
        for id in &order {
            if let Some(running) = self.places.get(id).and_then(|p| p.running.as_ref()) {
                let _ = running.signal.send(Signal::Kill);
            }
        }
        for id in order {
            let Some(generation) = self
                .places
                .get(&id)
                .and_then(|p| p.running.as_ref())
                .map(|r| r.generation)
            else {
                continue;
            };
            let exit = self.wait_exit(id, generation).await;
            if let Some(place) = self.places.get_mut(&id) {
                place.running = None;
            }
            self.finish_exit(id, exit);
        }
    }

    async fn serve(
        &mut self,
        signal: &mut watch::Receiver<Signal>,
        commands: &mut mpsc::UnboundedReceiver<SupervisorCommand>,
    ) -> (ExitReason, Option<String>) {
        loop {
            if let Some(exit) = self.stash.pop_front() {
                if let Some(outcome) = self.on_exit(exit).await {
                    return outcome;
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = signalled(signal, |s| *s != Signal::Run) => {
                    self.shutdown_all().await;
                    return (ExitReason::Shutdown, None);
                }
                Some(exit) = self.exits_rx.recv() => {
                    if let Some(outcome) = self.on_exit(exit).await {
                        return outcome;
                    }
                }
                Some(command) = commands.recv() => self.on_command(command).await,
            }
        }
    }

    /// A child exited by itself. `Some` means this supervisor exits too.
    async fn on_exit(&mut self, exit: ChildExit) -> Option<(ExitReason, Option<String>)> {
        let id = exit.id;
        let current = self
            .places
            .get(&id)
            .and_then(|p| p.running.as_ref())
            .is_some_and(|r| r.generation == exit.generation);
        if !current {
            return None; // from an instance already replaced or removed
        }
        let reason = exit.reason.clone();
        self.finish_exit(id, exit);
        let decision = self.state.child_exited(id, &reason, self.now());
        self.apply(id, decision).await
    }

    async fn apply(
        &mut self,
        id: ChildId,
        decision: Decision,
    ) -> Option<(ExitReason, Option<String>)> {
        let mut decision = decision;
        loop {
            match decision {
                Decision::Nothing => {
                    let why = format!("{} exited and is not restarted", self.child_path(id));
                    self.close_place(id, &why);
                    return None;
                }
                Decision::Remove(removed) => {
                    let why = format!("{} exited and is not restarted", self.child_path(removed));
                    self.remove_place(removed, &why);
                    return None;
                }
                Decision::Restart {
                    stop,
                    remove,
                    start,
                } => {
                    for sibling in stop {
                        self.stop_place(sibling).await;
                    }
                    for temporary in remove {
                        let why = format!(
                            "{} is temporary and not restarted",
                            self.child_path(temporary)
                        );
                        self.remove_place(temporary, &why);
                    }
                    let mut failed = None;
                    for child in start {
                        if self.start_place(child).await.is_err() {
                            failed = Some(child);
                            break;
                        }
                    }
                    match failed {
                        None => return None,
                        Some(child) => decision = self.state.restart_failed(child, self.now()),
                    }
                }
                Decision::GiveUp => {
                    self.shutdown_all().await;
                    return Some((ExitReason::Shutdown, Some("max_restarts".to_string())));
                }
            }
        }
    }

    fn child_path(&self, id: ChildId) -> String {
        self.places
            .get(&id)
            .map(|p| p.path.clone())
            .unwrap_or_default()
    }

    fn find(&self, name: &str) -> Option<ChildId> {
        self.places
            .iter()
            .find(|(_, p)| p.spec.name() == name)
            .map(|(id, _)| *id)
    }

    async fn on_command(&mut self, command: SupervisorCommand) {
        match command {
            SupervisorCommand::Inspect(reply) => {
                let report = self.inspect().await;
                let _ = reply.send(report);
            }
            SupervisorCommand::CountChildren(reply) => {
                let _ = reply.send(self.count());
            }
            SupervisorCommand::StartChild(spec, reply) => {
                let result = self.start_child(spec).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::TerminateChild(name, reply) => {
                let result = match self.find(&name) {
                    None => Err(ChildCommandError::NoSuchChild(name)),
                    Some(id) => {
                        self.stop_place(id).await;
                        let temporary = self
                            .places
                            .get(&id)
                            .is_some_and(|p| p.spec.restart() == crate::RestartType::Temporary);
                        let why = format!("{} was stopped", self.child_path(id));
                        if self.spec.dynamic.is_some() || temporary {
                            self.remove_place(id, &why);
                        } else {
                            self.close_place(id, &why);
                        }
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            SupervisorCommand::RestartChild(name, reply) => {
                let result = match self.find(&name) {
                    None => Err(ChildCommandError::NoSuchChild(name)),
                    Some(id) if self.state.is_running(id) => {
                        Err(ChildCommandError::AlreadyRunning(name))
                    }
                    Some(id) => {
                        self.start_place(id)
                            .await
                            .map_err(|f| ChildCommandError::StartFailed {
                                reason: f.reason.to_string(),
                                detail: f.detail,
                            })
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    async fn start_child(&mut self, spec: WorkerSpec) -> Result<(), ChildCommandError> {
        check_name(&spec.name).map_err(ChildCommandError::InvalidName)?;
        if let Some(max) = self.spec.dynamic.and_then(|d| d.max_children)
            && self.places.len() >= max
        {
            return Err(ChildCommandError::MaxChildren(max));
        }
        if !self.shared.components.contains_key(&spec.component) {
            return Err(ChildCommandError::UnknownComponent(spec.component));
        }
        if let Some(slot) = self.shared.engine.allocation().memory_slot_bytes()
            && spec.max_memory_bytes > slot
        {
            return Err(ChildCommandError::MemoryAboveSlot {
                asked: spec.max_memory_bytes.div_ceil(1 << 20),
                slot: slot >> 20,
            });
        }
        let id = self.add_place(ChildSpec::Worker(spec))?;
        if let Err(failure) = self.start_place(id).await {
            let why = format!("{} failed to start", self.child_path(id));
            self.remove_place(id, &why);
            return Err(ChildCommandError::StartFailed {
                reason: failure.reason.to_string(),
                detail: failure.detail,
            });
        }
        Ok(())
    }

    fn count(&self) -> ChildCounts {
        let supervisors = self
            .places
            .values()
            .filter(|p| matches!(p.spec, ChildSpec::Supervisor(_)))
            .count();
        ChildCounts {
            specs: self.places.len(),
            active: self.places.values().filter(|p| p.running.is_some()).count(),
            supervisors,
            workers: self.places.len() - supervisors,
        }
    }

    async fn inspect(&self) -> NodeReport {
        let mut children = Vec::new();
        for place in self.places.values() {
            let nested = match place.running.as_ref().and_then(|r| r.supervisor.as_ref()) {
                Some(nested) => {
                    let (tx, rx) = oneshot::channel();
                    let _ = nested.commands.send(SupervisorCommand::Inspect(tx));
                    rx.await.ok()
                }
                None => None,
            };
            children.push(match nested {
                Some(mut report) => {
                    report.restart = place.spec.restart().as_str().to_string();
                    report.generation = place.generation;
                    report.restarts = place.generation.saturating_sub(1);
                    report
                }
                None => NodeReport {
                    path: place.path.clone(),
                    kind: match place.spec {
                        ChildSpec::Worker(_) => "worker",
                        ChildSpec::Supervisor(_) => "supervisor",
                    }
                    .to_string(),
                    component: match &place.spec {
                        ChildSpec::Worker(w) => Some(w.component.clone()),
                        ChildSpec::Supervisor(_) => None,
                    },
                    strategy: match &place.spec {
                        ChildSpec::Supervisor(s) => Some(strategy_name(s)),
                        ChildSpec::Worker(_) => None,
                    },
                    restart: place.spec.restart().as_str().to_string(),
                    state: if place.running.is_some() {
                        "running"
                    } else {
                        "stopped"
                    }
                    .to_string(),
                    generation: place.generation,
                    restarts: place.generation.saturating_sub(1),
                    children: Vec::new(),
                },
            });
        }
        NodeReport {
            path: self.path.clone(),
            kind: "supervisor".to_string(),
            component: None,
            strategy: Some(strategy_name(&self.spec)),
            restart: self.spec.restart.as_str().to_string(),
            state: "running".to_string(),
            generation: 1,
            restarts: 0,
            children,
        }
    }
}

fn strategy_name(spec: &SupervisorSpec) -> String {
    if spec.dynamic.is_some() {
        "dynamic".to_string()
    } else {
        spec.strategy.as_str().to_string()
    }
}
