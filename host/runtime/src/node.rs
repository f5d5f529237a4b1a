//! A running host: the engine, the loaded components, the registry, the
//! scheduler threads and the root supervisor, with the Rust API to drive it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use arbor::{Node, NodeOptions, TreeSpec};
//! let tree = TreeSpec::load("examples/supervision/tree.toml".as_ref())?;
//! let node = Node::start(&tree, NodeOptions::default()).await?;
//! let reply = node.call("inventory", b"ping".to_vec()).await?;
//! node.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::allocator::{Allocation, InstanceUsage};
use crate::compile_cache::CompileCache;
use crate::dead_letters::{DeadLetter, DeadLetterLimits, DeadLetterList, DeadLetters};
use crate::engine::{
    ArborEngine, EngineError, EngineSettings, LoadError, LoadedComponent, NotHttp,
};
use crate::events::EventSink;
use crate::keyvalue::{KvError, KvStore};
use crate::mailbox::{CallError, Reply};
use crate::observe::why::Why;
use crate::registry::{Entry, Registry};
use crate::report::{ChildCounts, NodeReport};
use crate::routing;
use crate::scheduler::{Schedulers, SpinPolicy};
use crate::spec::{ChildSpec, DEFAULT_CALL_TIMEOUT, SupervisorSettings, SupervisorSpec, TreeSpec};
use crate::supervisor::Shared;
use crate::supervisor::driver::{self, Launch};
use crate::supervisor::inspect::PlaceView;
use crate::supervisor::protocol::{
    ChildCommandError, ChildExit, Origin, Signal, SupervisorCommand, SupervisorRef,
};
use crate::vocab::{ChildId, ExitReason, StartOutcome, SupervisorStop};

/// How a host is set up.
#[derive(Clone)]
pub struct NodeOptions {
    /// Where events go.
    pub events: EventSink,
    /// Scheduler threads (each runs whole supervisor subtrees); default: one per core.
    pub threads: usize,
    /// How instances are allocated; `None` (the default) sizes a pool from
    /// the tree ([`Allocation::for_tree`]).
    pub allocation: Option<Allocation>,
    /// Where compiled components are cached; `None` (the default) compiles
    /// every time. The `arbor` command uses [`CompileCache::user_default`].
    pub cache: Option<CompileCache>,
    /// Add the guest's stack to each crash's detail (costly; off by default).
    pub wasm_backtrace: bool,
    /// Count each message's callback (messages, errors, latency) for the
    /// observer's `/metrics` and page; off by default, when a message
    /// costs nothing extra. Restarts and exits are counted either way.
    pub observe: bool,
    /// How many poison messages the dead-letter store keeps.
    pub dead_letters: DeadLetterLimits,
    /// How long scheduler threads, and callers waiting on them from other
    /// threads, spin before they sleep ([`SpinPolicy`]).
    pub spin: SpinPolicy,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            events: EventSink::new(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            allocation: None,
            cache: None,
            wasm_backtrace: false,
            observe: false,
            dead_letters: DeadLetterLimits::default(),
            spin: SpinPolicy::default(),
        }
    }
}

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The key-value store could not be opened (the tree grants buckets).
    #[error(transparent)]
    Store(#[from] KvError),
    /// The scheduler threads could not be started.
    #[error("could not start the scheduler threads: {0}")]
    Threads(std::io::Error),
    /// The root supervisor failed to start (a child's `init` failed).
    #[error("the tree failed to start ({reason}): {detail}")]
    Start {
        /// crash or error.
        reason: ExitReason,
        /// Which child and why.
        detail: String,
    },
}

/// Why a command to a supervisor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No supervisor of that name is running.
    #[error("no supervisor named {0:?} is running")]
    NoSuchSupervisor(String),
    /// The supervisor stopped before answering.
    #[error("the supervisor {0:?} stopped before answering")]
    SupervisorGone(String),
    /// The supervisor refused.
    #[error(transparent)]
    Child(#[from] ChildCommandError),
    /// No child of that name anywhere in the tree.
    #[error("no child named {0:?} in the tree")]
    NoSuchChild(String),
    /// `crash` of the root, which no supervisor would restart.
    #[error(
        "{0:?} is the root: no supervisor would restart it (arbor ctl shutdown stops the host)"
    )]
    Root(String),
}

/// A child's place and its supervisors' from the root down
/// ([`NodeHandle::place_of`]).
type Located = (Arc<PlaceView>, Vec<Arc<PlaceView>>);

/// Why [`NodeHandle::why`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum WhyError {
    /// No place of that name exists (a dynamic child that stopped is forgotten).
    #[error("no child named {0:?} in the tree")]
    NoSuchChild(String),
    /// The root is not running.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Why a dead letter could not be redelivered, or what its redelivery
/// answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeliverError {
    /// The store holds no letter with this id (never, or no longer: it was
    /// redelivered, or dropped to keep the store within its bounds).
    #[error("no dead letter {0} (`arbor ctl dead-letters` lists them)")]
    NoSuchLetter(u64),
    /// The message could not be queued for its child: the letter stays in
    /// the store.
    #[error("dead letter {id} was not sent to {child}: {error}; it stays in the store")]
    NotSent {
        /// The letter.
        id: u64,
        /// The child it was for.
        child: String,
        /// Why it was not queued.
        error: CallError,
    },
    /// The message was queued (and left the store), and the call failed:
    /// the child crashed on it again (and, with `poison`, it may be back
    /// in the store under a new id), answered `err`, or did not answer in
    /// time.
    #[error("dead letter {id} was sent to {child} again: {error}")]
    Failed {
        /// The letter.
        id: u64,
        /// The child it was sent to.
        child: String,
        /// What the call got.
        error: CallError,
    },
}

/// How the root supervisor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootExit {
    /// `shutdown` for an orderly stop or after giving up.
    pub reason: ExitReason,
    /// What went wrong, in words (the event's detail).
    pub detail: Option<String>,
    /// Set when the root stopped by its own decision (restart intensity
    /// reached, or `auto_shutdown`).
    pub stop: Option<SupervisorStop>,
}

impl RootExit {
    /// Whether the root gave up (restart intensity exceeded, or ended
    /// abnormally) rather than being stopped or shutting itself down.
    pub fn gave_up(&self) -> bool {
        self.stop == Some(SupervisorStop::MaxRestarts) || self.reason.is_abnormal()
    }
}

/// A running host. Dereferences to a [`NodeHandle`], which has the calls
/// and commands; [`Node::shutdown`] and [`Node::wait`] are the owner's.
pub struct Node {
    handle: NodeHandle,
    root_signal: watch::Sender<Signal>,
    root_exit: Mutex<RootWatch>,
}

/// A cheap, cloneable way to talk to a running host from any thread or task.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
    root_name: Arc<str>,
    /// The tree the host runs: the file it started with, as changed by each
    /// `apply` since. An apply holds the lock from start to end, so two
    /// never interleave.
    pub(crate) running: Arc<Mutex<TreeSpec>>,
}

impl std::ops::Deref for Node {
    type Target = NodeHandle;

    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

struct RootWatch {
    exits: mpsc::UnboundedReceiver<ChildExit>,
    exit: Option<RootExit>,
}

/// Loads every component named in the tree, in the order of `[components]`.
pub fn load_components(
    engine: &ArborEngine,
    tree: &TreeSpec,
) -> Result<BTreeMap<String, Arc<LoadedComponent>>, LoadError> {
    let mut loaded = BTreeMap::new();
    for (name, source) in &tree.components {
        loaded.insert(name.clone(), Arc::new(engine.load(name, &source.path)?));
    }
    check_http(&tree.root, &loaded)?;
    Ok(loaded)
}

/// Every child with `http = ...` runs a component that serves HTTP.
fn check_http(
    supervisor: &SupervisorSpec,
    loaded: &BTreeMap<String, Arc<LoadedComponent>>,
) -> Result<(), NotHttp> {
    for child in &supervisor.children {
        match child {
            ChildSpec::Supervisor(nested) => check_http(nested, loaded)?,
            ChildSpec::Worker(worker) => {
                let (Some(address), Some(component)) = (worker.http, loaded.get(&worker.component))
                else {
                    continue;
                };
                if !component.serves_http() {
                    return Err(NotHttp {
                        child: worker.name.clone(),
                        address,
                        component: component.name.clone(),
                        path: component.path.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The tree file's directory, absolute: what relative host directories in
/// run-time grants are resolved against, as in the file.
fn tree_dir(tree: &TreeSpec) -> std::path::PathBuf {
    let dir = tree.source.parent().unwrap_or(std::path::Path::new(""));
    if dir.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }
}

/// Whether any worker of `supervisor` or below has a `keyvalue` grant, or
/// may be given one at run time (`child_grants`).
fn grants_keyvalue(supervisor: &SupervisorSpec) -> bool {
    let ceiling = supervisor
        .child_grants
        .as_ref()
        .is_some_and(|c| !c.keyvalue.is_empty());
    ceiling
        || supervisor.children.iter().any(|child| match child {
            ChildSpec::Supervisor(nested) => grants_keyvalue(nested),
            ChildSpec::Worker(worker) => !worker.keyvalue.is_empty(),
        })
}

impl Node {
    /// Loads the tree's components and starts its root supervisor; returns
    /// once every child's `init` has finished.
    pub async fn start(tree: &TreeSpec, options: NodeOptions) -> Result<Node, NodeError> {
        let mut settings = EngineSettings::for_tree(tree);
        if let Some(allocation) = options.allocation {
            settings.allocation = allocation;
        }
        settings.wasm_backtrace = options.wasm_backtrace;
        let engine = ArborEngine::with_options(options.cache, settings)?;
        let components = {
            let engine = engine.clone();
            let tree = tree.clone();
            // Compiling is CPU work: keep it off the async threads.
            tokio::task::spawn_blocking(move || load_components(&engine, &tree))
                .await
                .expect("component loading does not panic")?
        };
        let keyvalue = Arc::new(KvStore::new(&tree.data).with_sync(tree.data_sync));
        if grants_keyvalue(&tree.root) {
            // A tree that grants buckets opens its database now, so a
            // corrupt file or a directory it cannot write stops the start
            // with the reason, not a child's first write.
            let store = keyvalue.clone();
            tokio::task::spawn_blocking(move || store.open())
                .await
                .expect("opening the store does not panic")?;
        }
        let registry = Registry::with_caller_spin(options.spin.caller);
        let dead_letters = Arc::new(DeadLetters::new(
            options.dead_letters,
            options.events.clone(),
        ));
        let shared = Arc::new(Shared {
            base: tree_dir(tree),
            engine,
            router: Arc::new(registry.clone()),
            registry,
            events: options.events,
            keyvalue,
            tls: crate::tls::TlsClient::new(tree.tls_roots.clone()),
            dead_letters,
            components: std::sync::RwLock::new(components),
            schedulers: Schedulers::start(options.threads, options.spin.park)
                .map_err(NodeError::Threads)?,
            next_thread: AtomicUsize::new(0),
            origin: Instant::now(),
            stats: Arc::new(crate::observe::stats::StatsTable::default()),
            observe: options.observe,
        });
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (signal_tx, signal_rx) = watch::channel(Signal::Run);
        let (started_tx, started_rx) = oneshot::channel();
        // The root's name belongs to the node, as a child's belongs to its place.
        let root_name = tree.root.name.as_str();
        shared
            .registry
            .register(root_name, Entry::Supervisor(None))
            .expect("an empty registry has room for the root");
        driver::launch(Launch {
            shared: shared.clone(),
            spec: tree.root.clone(),
            path: tree.root.name.clone(),
            id: ChildId(0),
            generation: 1,
            signal: signal_rx,
            parent_exits: exits_tx,
            started: started_tx,
        });
        match started_rx.await {
            Ok(Ok(_)) => {}
            Ok(Err(failure)) => {
                return Err(NodeError::Start {
                    reason: failure.reason,
                    detail: failure.detail,
                });
            }
            Err(_) => {
                return Err(NodeError::Start {
                    reason: ExitReason::Crash,
                    detail: "the root supervisor's task ended while starting".to_string(),
                });
            }
        }
        Ok(Node {
            handle: NodeHandle {
                shared,
                root_name: Arc::from(tree.root.name.as_str()),
                running: Arc::new(Mutex::new(tree.clone())),
            },
            root_signal: signal_tx,
            root_exit: Mutex::new(RootWatch {
                exits: exits_rx,
                exit: None,
            }),
        })
    }

    /// A handle to this host, for other tasks and threads.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Waits until the root supervisor exits (it gave up, or was shut down).
    pub async fn wait(&self) -> RootExit {
        let mut watch = self.root_exit.lock().await;
        if let Some(exit) = &watch.exit {
            return exit.clone();
        }
        let exit = match watch.exits.recv().await {
            Some(exit) => RootExit {
                reason: exit.reason,
                detail: exit.detail,
                stop: exit.stop,
            },
            None => RootExit {
                reason: ExitReason::Killed,
                detail: Some("the root supervisor's task vanished".to_string()),
                stop: None,
            },
        };
        watch.exit = Some(exit.clone());
        exit
    }

    /// Stops the whole tree in order and waits for it.
    pub async fn shutdown(&self) -> RootExit {
        let _ = self.root_signal.send(Signal::Shutdown);
        let exit = self.wait().await;
        self.shared.events.flush();
        exit
    }
}

impl NodeHandle {
    /// The durable key-value store of this host (`[node] data`): what
    /// `arbor ctl kv` reads and writes, the same store the guests use.
    pub fn keyvalue(&self) -> &Arc<KvStore> {
        &self.shared.keyvalue
    }

    /// The event sink of this host.
    pub fn events(&self) -> &EventSink {
        &self.shared.events
    }

    /// The names in this host's `[components]`.
    pub fn component_names(&self) -> std::collections::BTreeSet<String> {
        self.shared
            .components
            .read()
            .expect("the component table is never poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// The version of the component `name` in `[components]` that children
    /// added from now on run.
    pub fn component(&self, name: &str) -> Option<Arc<LoadedComponent>> {
        self.shared.component(name)
    }

    /// The tree this host runs, as its file says: the one it started with,
    /// changed by each `apply` since (children added at run time by
    /// `start_child` are not in it). Waits for an apply under way.
    pub async fn running_tree(&self) -> TreeSpec {
        self.running.lock().await.clone()
    }

    /// The root supervisor's name.
    pub fn root_name(&self) -> &str {
        &self.root_name
    }

    /// Calls the worker `name` and waits (5 s at most) for its reply.
    pub async fn call(&self, name: &str, message: Vec<u8>) -> Reply {
        self.call_with_timeout(name, message, DEFAULT_CALL_TIMEOUT)
            .await
    }

    /// Calls the worker `name` and waits up to `timeout` for its reply.
    pub async fn call_with_timeout(
        &self,
        name: &str,
        message: Vec<u8>,
        timeout: Duration,
    ) -> Reply {
        self.shared
            .registry
            .call(None, name, message, timeout)
            .await
    }

    /// Queues a message for the worker `name`.
    pub fn cast(&self, name: &str, message: Vec<u8>) -> Result<(), CallError> {
        self.shared.registry.cast(name, message)
    }

    /// The dead letters of the worker `child` (its name or its path), or
    /// of every worker when `None`, oldest first: messages that crashed a
    /// worker with `poison` `after` times in a row.
    pub fn dead_letters(&self, child: Option<&str>) -> DeadLetterList {
        self.shared.dead_letters.list(child)
    }

    /// Sends the dead letter `id` to its child again, as a call (a cast
    /// that was dead-lettered is called now), and waits (5 s at most) for
    /// the reply. The letter leaves the store once the message is queued:
    /// from then on the child has it, as any message, and if it crashes
    /// the child again `poison` counts its crashes from the start.
    pub async fn redeliver(&self, id: u64) -> Result<Vec<u8>, RedeliverError> {
        let letters = &self.shared.dead_letters;
        let letter = letters.take(id).ok_or(RedeliverError::NoSuchLetter(id))?;
        let DeadLetter { child, message, .. } = letter.clone();
        let answer = match routing::send_call(&*self.shared.router, &child, message) {
            Ok(answer) => answer,
            Err(error) => {
                letters.put_back(letter);
                return Err(RedeliverError::NotSent { id, child, error });
            }
        };
        routing::reply_within(
            &child,
            answer,
            DEFAULT_CALL_TIMEOUT,
            self.shared.registry.caller_spin(),
        )
        .await
        .map_err(|error| RedeliverError::Failed { id, child, error })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn supervisor_ref(&self, name: &str) -> Result<SupervisorRef, CommandError> {
        self.supervisor(name)
    }

    fn supervisor(&self, name: &str) -> Result<SupervisorRef, CommandError> {
        let name = crate::vocab::last_name(name);
        self.shared
            .registry
            .supervisor(name)
            .ok_or_else(|| CommandError::NoSuchSupervisor(name.to_string()))
    }

    async fn ask<T>(
        &self,
        supervisor: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> SupervisorCommand,
    ) -> Result<T, CommandError> {
        let commands = self.supervisor(supervisor)?;
        let (tx, rx) = oneshot::channel();
        commands
            .commands
            .send(make(tx))
            .map_err(|_| CommandError::SupervisorGone(supervisor.to_string()))?;
        rx.await
            .map_err(|_| CommandError::SupervisorGone(supervisor.to_string()))
    }

    /// The live tree, assembled from what each supervisor publishes: it
    /// never waits for a supervisor, however busy.
    pub async fn tree(&self) -> Result<NodeReport, CommandError> {
        self.tree_now()
    }

    /// [`Self::tree`], for callers that are not async.
    pub(crate) fn tree_now(&self) -> Result<NodeReport, CommandError> {
        let root = self.supervisor(&self.root_name)?;
        let registry = &self.shared.registry;
        Ok(root
            .published
            .report(&|name| registry.supervisor(name).map(|s| s.published)))
    }

    /// The chain that led the child `name` (a name or a path) to its
    /// current generation ([`crate::observe::why`]): read from what
    /// supervisors publish, without asking them.
    pub fn why(&self, name: &str) -> Result<Why, WhyError> {
        let name = crate::vocab::last_name(name);
        let (child, ancestors) = self
            .place_of(name)?
            .ok_or_else(|| WhyError::NoSuchChild(name.to_string()))?;
        Ok(Why {
            child: child.link(),
            supervisors: ancestors.iter().rev().map(|v| v.link()).collect(),
        })
    }

    /// Whether the tree has a child `name` (a name or a path) now.
    pub fn has_child(&self, name: &str) -> bool {
        matches!(self.place_of(crate::vocab::last_name(name)), Ok(Some(_)))
    }

    /// The place of the child `name` (a last name) as its supervisor
    /// publishes it, and its supervisors from the root down; `None` when no
    /// supervisor has it.
    fn place_of(&self, name: &str) -> Result<Option<Located>, CommandError> {
        let registry = &self.shared.registry;
        let root = self.supervisor(&self.root_name)?.published;
        let lookup = |n: &str| registry.supervisor(n).map(|s| s.published);
        let mut ancestors = Vec::new();
        Ok(root
            .find(name, &lookup, &mut ancestors)
            .map(|child| (child, ancestors)))
    }

    /// Kills the running child `name` (a name or a path; a worker or a
    /// nested supervisor) as if it had crashed, OTP's `exit(Pid, kill)`:
    /// its instance is dropped without `terminate`, it exits `killed`, and
    /// its supervisor decides as on any crash (restart type, strategy,
    /// intensity; a temporary child is not restarted). Returns once the
    /// kill is sent, before the decision is carried out: the event stream
    /// and "why" ([`Self::why`]) tell what followed.
    pub async fn crash_child(&self, name: &str) -> Result<(), CommandError> {
        let name = crate::vocab::last_name(name);
        if name == &*self.root_name {
            return Err(CommandError::Root(name.to_string()));
        }
        let (_, ancestors) = self
            .place_of(name)?
            .ok_or_else(|| CommandError::NoSuchChild(name.to_string()))?;
        let supervisor = ancestors
            .last()
            .map_or_else(|| self.root_name.to_string(), |v| v.name.clone());
        let child = name.to_string();
        Ok(self
            .ask(&supervisor, |tx| SupervisorCommand::CrashChild(child, tx))
            .await??)
    }

    /// Adds a child (a worker, or a whole supervisor with its subtree) at
    /// the end of `supervisor`'s children and starts it. A worker whose
    /// `init` answers `ignore` is [`StartOutcome::Ignored`], not an error:
    /// a static supervisor keeps it stopped, a dynamic one forgets it.
    pub async fn start_child(
        &self,
        supervisor: &str,
        spec: impl Into<ChildSpec>,
    ) -> Result<StartOutcome, CommandError> {
        let spec = spec.into();
        Ok(self
            .ask(supervisor, |tx| {
                SupervisorCommand::StartChild(spec, Origin::Request, tx)
            })
            .await??)
    }

    /// [`Self::start_child`] for a child of the tree file (`apply`): its
    /// grants are the file's, not checked against `child_grants`.
    pub(crate) async fn start_declared_child(
        &self,
        supervisor: &str,
        spec: ChildSpec,
    ) -> Result<StartOutcome, CommandError> {
        Ok(self
            .ask(supervisor, |tx| {
                SupervisorCommand::StartChild(spec, Origin::TreeFile, tx)
            })
            .await??)
    }

    /// Stops the child `name` of `supervisor` (a dynamic supervisor, or a
    /// temporary child, forgets it; otherwise it keeps its place).
    pub async fn terminate_child(&self, supervisor: &str, name: &str) -> Result<(), CommandError> {
        let name = name.to_string();
        Ok(self
            .ask(supervisor, |tx| SupervisorCommand::TerminateChild(name, tx))
            .await??)
    }

    /// Starts the stopped child `name` of `supervisor` again; when its
    /// `init` answers `ignore`, it stays stopped ([`StartOutcome::Ignored`]).
    pub async fn restart_child(
        &self,
        supervisor: &str,
        name: &str,
    ) -> Result<StartOutcome, CommandError> {
        let name = name.to_string();
        Ok(self
            .ask(supervisor, |tx| SupervisorCommand::RestartChild(name, tx))
            .await??)
    }

    /// Gives the running `supervisor` new settings (strategy, intensity,
    /// auto_shutdown, a dynamic supervisor's max_children) without
    /// restarting it: its next decision follows them, with the restarts it
    /// has already made counted against the new intensity. Whether it is
    /// dynamic does not change.
    pub async fn update_supervisor(
        &self,
        supervisor: &str,
        settings: SupervisorSettings,
    ) -> Result<(), CommandError> {
        self.ask(supervisor, |tx| {
            SupervisorCommand::UpdateSettings(settings, tx)
        })
        .await
    }

    /// Replaces the spec of `supervisor`'s child of the same name (a
    /// worker stays a worker of the same component id, a supervisor a
    /// supervisor; the name, and so the child's registration, does not
    /// change). Its restart type, shutdown, significance and mailbox bounds
    /// rule from now on; its args, deadlines, memory limit and `may_call`
    /// apply at its next start. For a nested supervisor, `spec`'s children are what
    /// it starts with when it is restarted (its running children and
    /// settings are its own: see [`NodeHandle::update_supervisor`]).
    pub async fn update_child(
        &self,
        supervisor: &str,
        spec: impl Into<ChildSpec>,
    ) -> Result<(), CommandError> {
        let spec = spec.into();
        Ok(self
            .ask(supervisor, |tx| SupervisorCommand::UpdateChild(spec, tx))
            .await??)
    }

    /// Forgets the stopped child `name` of the static supervisor `supervisor`.
    pub async fn delete_child(&self, supervisor: &str, name: &str) -> Result<(), CommandError> {
        let name = name.to_string();
        Ok(self
            .ask(supervisor, |tx| SupervisorCommand::DeleteChild(name, tx))
            .await??)
    }

    /// Counts the children of `supervisor` (from what it publishes).
    pub async fn count_children(&self, supervisor: &str) -> Result<ChildCounts, CommandError> {
        Ok(self.supervisor(supervisor)?.published.counts())
    }

    /// How full the instance pool is; `None` with the on-demand allocator.
    pub fn instances(&self) -> Option<InstanceUsage> {
        InstanceUsage::of(self.shared.engine.engine(), self.shared.engine.allocation())
    }

    /// Runs `task` on the scheduler thread of `supervisor`, the thread its
    /// workers run on: the task's calls and casts to them, its commands to
    /// that supervisor and the replies never cross threads, which saves two
    /// thread wake-ups (tens of microseconds) per round trip. Returns the
    /// task's join handle.
    pub fn spawn_near<F, Fut>(
        &self,
        supervisor: &str,
        task: F,
    ) -> Result<tokio::task::JoinHandle<Fut::Output>, CommandError>
    where
        F: FnOnce(NodeHandle) -> Fut + Send + 'static,
        Fut: std::future::Future + 'static,
        Fut::Output: Send + 'static,
    {
        let thread = self.supervisor(supervisor)?.thread;
        let handle = self.clone();
        Ok(self
            .shared
            .schedulers
            .spawn_on(thread, move || task(handle)))
    }
}
