//! The tree file: parsing, validation, and errors that point at a line.
//!
//! A tree file (TOML) names the components once under `[components]` and
//! nests supervisors under `[supervisor]`. Parsing happens in two steps, as in
//! ripgrep's low/high args: serde reads the raw tables (keeping each value's
//! span), then [`TreeSpec::parse`] validates them into resolved types. Every
//! error carries the file, line and field it is about.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::grants::request::CeilingRequest;
use crate::grants::{ChildGrants, DirRequest, GrantError, Grants, SocketRequest};
use crate::guest_log::{LogRate, MAX_LOG_RATE};
use crate::mailbox::{MAX_MAILBOX_BYTES, MAX_MAILBOX_CAPACITY, MailboxLimits};
pub use crate::vocab::Shutdown;
use crate::vocab::{AutoShutdown, Backoff, RestartIntensity, RestartType, Strategy};

mod toml_error;
mod warnings;

/// Default deadline for a worker's `init` and each `handle`.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a `call` waits for its reply.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default shutdown budget of a worker.
pub const DEFAULT_WORKER_SHUTDOWN: Shutdown = Shutdown::Timeout(Duration::from_secs(5));
/// The key-value store's database when `[node] data` is not set, beside
/// the tree file.
pub const DEFAULT_DATA_FILE: &str = "arbor.db";
/// Default linear-memory limit of a worker.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 64 << 20;
/// The largest tree file read, in bytes: a static tree of 100,000 workers
/// is ~6 MB.
pub const MAX_TREE_FILE_BYTES: usize = 16 << 20;

/// A tree-file error: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {field}: {message}", file.display())]
pub struct SpecError {
    /// The tree file.
    pub file: PathBuf,
    /// 1-based line of the offending value (1 when the file could not be read).
    pub line: usize,
    /// The dotted path of the field, e.g. `supervisor.children[1].restart`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A validated tree file.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    /// The file it was read from (used in messages).
    pub source: PathBuf,
    /// Component names and the resolved paths of their `.wasm` files.
    pub components: BTreeMap<String, ComponentSource>,
    /// The root supervisor.
    pub root: SupervisorSpec,
    /// `[node] max_instances`: live instances the host makes room for
    /// (see [`crate::allocator::PoolSize::for_tree`]); counted from the tree when absent.
    pub max_instances: Option<u32>,
    /// `[node] fast_traps`: traps raised by a call instead of a hardware
    /// exception, at the price of Cranelift's Spectre mitigation on bounds
    /// checks (see [`crate::engine::EngineSettings`]).
    pub fast_traps: bool,
    /// `[node] data`: the key-value store's SQLite database (relative to
    /// the tree file; default `arbor.db` beside it), created on first use.
    pub data: PathBuf,
    /// `[node] data_sync`: when a write to the store is durable.
    pub data_sync: DataSync,
    /// `[node] tls_roots`: certificate authorities children's `https`
    /// requests trust beside Mozilla's (PEM files, relative to the tree
    /// file), read and checked with the tree.
    pub tls_roots: crate::tls::ExtraRoots,
    /// The line of each child's table and of the fields that decide what a
    /// child is (`name`, `component`, `strategy`, `dynamic`, the `[node]`
    /// settings), by dotted field path (`supervisor.children[1].dynamic`):
    /// what lets a change that cannot be applied to a running tree name its
    /// line ([`TreeSpec::line_of`]).
    pub lines: BTreeMap<String, usize>,
}

/// Where a component named in `[components]` lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSource {
    /// Path of the `.wasm` file, resolved against the tree file's directory.
    pub path: PathBuf,
    /// Line of the entry in the tree file.
    pub line: usize,
}

/// A child in a tree: a worker or a nested supervisor.
#[derive(Debug, Clone)]
pub enum ChildSpec {
    /// A wasm component.
    Worker(WorkerSpec),
    /// A nested supervisor.
    Supervisor(SupervisorSpec),
}

impl ChildSpec {
    /// The child's name, unique in the host.
    pub fn name(&self) -> &str {
        match self {
            ChildSpec::Worker(w) => &w.name,
            ChildSpec::Supervisor(s) => &s.name,
        }
    }

    /// The child's restart type.
    pub fn restart(&self) -> RestartType {
        match self {
            ChildSpec::Worker(w) => w.restart,
            ChildSpec::Supervisor(s) => s.restart,
        }
    }

    /// The child's shutdown budget.
    pub fn shutdown(&self) -> Shutdown {
        match self {
            ChildSpec::Worker(w) => w.shutdown,
            ChildSpec::Supervisor(s) => s.shutdown,
        }
    }

    /// Whether the child is significant for its supervisor's `auto_shutdown`.
    pub fn significant(&self) -> bool {
        match self {
            ChildSpec::Worker(w) => w.significant,
            ChildSpec::Supervisor(s) => s.significant,
        }
    }
}

impl From<WorkerSpec> for ChildSpec {
    fn from(worker: WorkerSpec) -> Self {
        ChildSpec::Worker(worker)
    }
}

impl From<SupervisorSpec> for ChildSpec {
    fn from(supervisor: SupervisorSpec) -> Self {
        ChildSpec::Supervisor(supervisor)
    }
}

impl ChildSpec {
    /// The bounds of a worker's mailbox (`None` for a supervisor: it has none).
    pub fn mailbox_limits(&self) -> Option<MailboxLimits> {
        match self {
            ChildSpec::Worker(w) => Some(w.mailbox),
            ChildSpec::Supervisor(_) => None,
        }
    }
}

/// A supervisor and its children.
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    /// Name, unique in the host.
    pub name: String,
    /// How failures spread among the children.
    pub strategy: Strategy,
    /// How many restarts in how long before giving up.
    pub intensity: RestartIntensity,
    /// Set for a dynamic supervisor (children added at run time).
    pub dynamic: Option<DynamicSpec>,
    /// Children in start order.
    pub children: Vec<ChildSpec>,
    /// Restart type as a child of its parent (default permanent).
    pub restart: RestartType,
    /// Shutdown budget as a child of its parent (default infinity).
    pub shutdown: Shutdown,
    /// Significant for its parent's `auto_shutdown`.
    pub significant: bool,
    /// Whether significant children's exits stop this supervisor.
    pub auto_shutdown: AutoShutdown,
    /// How long its restarts wait ([`Backoff`]), for each child that sets
    /// no `backoff` of its own; `None` (the default): at once, as OTP.
    pub backoff: Option<Backoff>,
    /// The most that children started under it at run time may be granted
    /// (`child_grants`); `None` (the default): no grants at all.
    pub child_grants: Option<Arc<ChildGrants>>,
}

impl SupervisorSpec {
    /// A one_for_one supervisor with the default intensity and no children.
    pub fn new(name: impl Into<String>) -> Self {
        SupervisorSpec {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: RestartIntensity::default(),
            dynamic: None,
            children: Vec::new(),
            restart: RestartType::Permanent,
            shutdown: Shutdown::Infinity,
            significant: false,
            auto_shutdown: AutoShutdown::Never,
            backoff: None,
            child_grants: None,
        }
    }

    /// `dynamic`, or the strategy's name: how inspection labels it.
    pub fn strategy_label(&self) -> &'static str {
        if self.dynamic.is_some() {
            "dynamic"
        } else {
            self.strategy.as_str()
        }
    }

    /// Every name this supervisor and its subtree use.
    pub fn names(&self) -> Vec<&str> {
        let mut names = vec![self.name.as_str()];
        for child in &self.children {
            match child {
                ChildSpec::Worker(w) => names.push(&w.name),
                ChildSpec::Supervisor(s) => names.extend(s.names()),
            }
        }
        names
    }
}

/// The settings of a supervisor that a running one takes without
/// restarting (`arbor ctl apply`): how it spreads failures, how many
/// restarts it allows, when it shuts itself down, how many dynamic
/// children it holds, what its run-time children may be granted.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorSettings {
    /// How failures spread among the children.
    pub strategy: Strategy,
    /// How many restarts in how long before giving up.
    pub intensity: RestartIntensity,
    /// Whether significant children's exits stop the supervisor.
    pub auto_shutdown: AutoShutdown,
    /// A dynamic supervisor's `max_children` (`None`: unbounded, or static).
    pub max_children: Option<usize>,
    /// How long its restarts wait, for children without their own.
    pub backoff: Option<Backoff>,
    /// What children started at run time may be granted (`child_grants`).
    pub child_grants: Option<Arc<ChildGrants>>,
}

impl SupervisorSpec {
    /// Its settings, apart from its children.
    pub fn settings(&self) -> SupervisorSettings {
        SupervisorSettings {
            strategy: self.strategy,
            intensity: self.intensity,
            auto_shutdown: self.auto_shutdown,
            max_children: self.dynamic.and_then(|d| d.max_children),
            backoff: self.backoff,
            child_grants: self.child_grants.clone(),
        }
    }

    /// Takes `settings`; whether it is dynamic does not change (a static
    /// supervisor ignores `max_children`).
    pub fn set_settings(&mut self, settings: SupervisorSettings) {
        self.strategy = settings.strategy;
        self.intensity = settings.intensity;
        self.auto_shutdown = settings.auto_shutdown;
        self.backoff = settings.backoff;
        self.child_grants = settings.child_grants;
        if let Some(dynamic) = &mut self.dynamic {
            dynamic.max_children = settings.max_children;
        }
    }
}

/// Settings of a dynamic supervisor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynamicSpec {
    /// At most this many children at once, when set.
    pub max_children: Option<usize>,
}

/// A worker: one wasm component instance with its mailbox.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Name, unique in the host; `call`/`cast` address it.
    pub name: String,
    /// Key into `[components]`.
    pub component: String,
    /// Restart type.
    pub restart: RestartType,
    /// Shutdown budget.
    pub shutdown: Shutdown,
    /// Bytes handed to `init`.
    pub args: Vec<u8>,
    /// Deadline for each `handle` (a guest past it has crashed), and for
    /// `init` unless `init_timeout` says otherwise.
    pub timeout: Duration,
    /// Deadline for `init` (`init_timeout_ms`; by default `timeout_ms`).
    /// `terminate`'s is the shutdown budget.
    pub init_timeout: Duration,
    /// How long this worker's own `call`s wait for a reply.
    pub call_timeout: Duration,
    /// Linear-memory limit in bytes.
    pub max_memory_bytes: usize,
    /// The names this worker may call or cast to; `None` allows all.
    pub may_call: Option<Vec<String>>,
    /// The supervisors this worker may start and stop children under
    /// (`children.start-child`); empty (the default) grants none.
    pub may_start: Vec<String>,
    /// Significant for its supervisor's `auto_shutdown`.
    pub significant: bool,
    /// How many messages and bytes may wait in its mailbox
    /// (`mailbox_capacity`, `mailbox_max_mb`); more are refused.
    pub mailbox: MailboxLimits,
    /// The address it serves HTTP on (`http`), when it does: its
    /// component exports `wasi:http/incoming-handler` ([`crate::http`]).
    pub http: Option<std::net::SocketAddr>,
    /// The key-value buckets it may open (`keyvalue`); empty (the
    /// default) grants none, and costs the child nothing.
    pub keyvalue: Vec<String>,
    /// Poison-message handling (`poison`); off (`None`) by default.
    pub poison: Option<PoisonSpec>,
    /// How long its restarts wait ([`Backoff`]); `None` (the default):
    /// as its supervisor's `backoff` says, at once if that sets none.
    pub backoff: Option<Backoff>,
    /// What else it may reach (`dirs`, `env`, `http_outgoing`, `sockets`);
    /// `None` (the default) grants nothing, and costs the child nothing.
    pub grants: Option<Arc<Grants>>,
    /// How fast its lines (`host.log`, stdout, stderr) may reach the
    /// host's log (`log_rate`).
    pub log_rate: LogRate,
}

/// `poison = { after = N }`: a message that crashes the worker N times in
/// a row goes to the dead-letter store ([`crate::dead_letters`]) and the
/// worker goes on with the next one; until then it is delivered again to
/// each fresh instance before anything queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoisonSpec {
    /// Crashes in a row that dead-letter a message (1 to [`MAX_POISON_AFTER`]).
    pub after: u32,
}

/// `poison.after` when `poison = {}` leaves it out: as many crashes as the
/// default restart intensity allows restarts, so a poison message is set
/// aside just before the supervisor would give up.
pub const DEFAULT_POISON_AFTER: u32 = 3;
/// The largest `poison.after` accepted: a message that has crashed its
/// child this often will not stop doing so.
pub const MAX_POISON_AFTER: u32 = 100;

impl WorkerSpec {
    /// A worker with the defaults: permanent, 5 s shutdown, 5 s deadlines.
    pub fn new(name: impl Into<String>, component: impl Into<String>) -> Self {
        WorkerSpec {
            name: name.into(),
            component: component.into(),
            restart: RestartType::Permanent,
            shutdown: DEFAULT_WORKER_SHUTDOWN,
            args: Vec::new(),
            timeout: DEFAULT_CALLBACK_TIMEOUT,
            init_timeout: DEFAULT_CALLBACK_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            may_call: None,
            may_start: Vec::new(),
            significant: false,
            mailbox: MailboxLimits::default(),
            http: None,
            keyvalue: Vec::new(),
            poison: None,
            backoff: None,
            grants: None,
            log_rate: LogRate::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTree {
    #[serde(default)]
    components: BTreeMap<String, Spanned<String>>,
    node: Option<Spanned<RawHost>>,
    supervisor: Option<Spanned<RawNode>>,
}

/// `[node]`: settings of the host rather than of a supervisor.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    max_instances: Option<Spanned<i64>>,
    fast_traps: Option<Spanned<bool>>,
    data: Option<Spanned<String>>,
    data_sync: Option<Spanned<String>>,
    tls_roots: Option<Spanned<Vec<Spanned<String>>>>,
}

/// When a write to the key-value store that returned to the guest is
/// durable (`[node] data_sync`): SQLite's `synchronous` in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataSync {
    /// `full` (the default): the WAL is fsynced before the write returns,
    /// so it survives the host being killed, the OS crashing and power
    /// loss. Each commit costs an fsync (group commit shares it among the
    /// writes that arrive meanwhile).
    #[default]
    Full,
    /// `normal`: the write is in the WAL file (the OS's page cache) before
    /// it returns, so it survives the host process being killed (SIGKILL,
    /// a panic, an OOM kill) but the last commits may be lost if the OS
    /// crashes or the power fails; fsyncs happen at checkpoints only.
    Normal,
}

impl DataSync {
    /// The word in the tree file, and SQLite's `synchronous` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DataSync::Full => "full",
            DataSync::Normal => "normal",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<Spanned<String>>,
    component: Option<Spanned<String>>,
    strategy: Option<Spanned<String>>,
    dynamic: Option<Spanned<RawDynamic>>,
    restart: Option<Spanned<String>>,
    shutdown_ms: Option<Spanned<toml::Value>>,
    max_restarts: Option<Spanned<i64>>,
    max_seconds: Option<Spanned<toml::Value>>,
    args: Option<Spanned<toml::Value>>,
    timeout_ms: Option<Spanned<i64>>,
    init_timeout_ms: Option<Spanned<i64>>,
    call_timeout_ms: Option<Spanned<i64>>,
    max_memory_mb: Option<Spanned<i64>>,
    may_call: Option<Spanned<Vec<String>>>,
    may_start: Option<Spanned<Vec<String>>>,
    significant: Option<Spanned<bool>>,
    auto_shutdown: Option<Spanned<String>>,
    mailbox_capacity: Option<Spanned<i64>>,
    mailbox_max_mb: Option<Spanned<i64>>,
    http: Option<Spanned<String>>,
    keyvalue: Option<Spanned<Vec<String>>>,
    poison: Option<Spanned<RawPoison>>,
    backoff: Option<Spanned<RawBackoff>>,
    // Grants and the log rate (workers); `child_grants` (supervisors).
    dirs: Option<Spanned<Vec<DirRequest>>>,
    env: Option<Spanned<BTreeMap<String, String>>>,
    http_outgoing: Option<Spanned<Vec<String>>>,
    sockets: Option<Spanned<SocketRequest>>,
    log_rate: Option<Spanned<RawLogRate>>,
    child_grants: Option<Spanned<CeilingRequest>>,
    children: Option<Vec<Spanned<RawNode>>>,
}

/// `log_rate = { lines_per_sec = 100, burst = 1000 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogRate {
    lines_per_sec: Option<Spanned<i64>>,
    burst: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDynamic {
    max_children: Option<Spanned<i64>>,
}

/// `poison = { after = N }` as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoison {
    after: Option<Spanned<i64>>,
}

/// `backoff = { initial_ms = 10, max_ms = 5000, reset_ms = 5000 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial_ms: Option<Spanned<i64>>,
    max_ms: Option<Spanned<i64>>,
    reset_ms: Option<Spanned<i64>>,
}

/// The longest restart delay a tree file may ask for: a child waiting
/// longer than an hour to come back is better stopped (`temporary`).
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Reads a `backoff` table: `initial_ms` is required; `max_ms` defaults to
/// 100 times it (at most an hour), `reset_ms` to `max_ms`.
fn parse_backoff(
    loc: &Locator<'_>,
    at: &str,
    raw: &Spanned<RawBackoff>,
) -> Result<Backoff, SpecError> {
    let field = format!("{at}.backoff");
    let ms = |name: &str, value: &Spanned<i64>| -> Result<i64, SpecError> {
        let n = *value.get_ref();
        if !(1..=MAX_BACKOFF_MS).contains(&n) {
            return Err(loc.error(
                value.span(),
                &format!("{field}.{name}"),
                format!("must be 1 to {MAX_BACKOFF_MS} milliseconds (one hour), got {n}"),
            ));
        }
        Ok(n)
    };
    let backoff = raw.get_ref();
    let Some(initial) = &backoff.initial_ms else {
        return Err(loc.error(
            raw.span(),
            &field,
            "missing `initial_ms` (the first restart's delay), e.g. backoff = { initial_ms = 10, max_ms = 5000 }",
        ));
    };
    let initial = ms("initial_ms", initial)?;
    let max = match &backoff.max_ms {
        Some(max) => {
            let n = ms("max_ms", max)?;
            if n < initial {
                return Err(loc.error(
                    max.span(),
                    &format!("{field}.max_ms"),
                    format!("must be at least initial_ms ({initial}), got {n}"),
                ));
            }
            n
        }
        None => initial.saturating_mul(100).min(MAX_BACKOFF_MS),
    };
    let reset = match &backoff.reset_ms {
        Some(reset) => ms("reset_ms", reset)?,
        None => max,
    };
    let millis = |n: i64| Duration::from_millis(n as u64);
    Ok(Backoff {
        initial: millis(initial),
        max: millis(max),
        reset: millis(reset),
    })
}

/// A `may_start` as read: its field, its span, the supervisors it names.
type MayStartSeen = (String, Range<usize>, Vec<String>);

/// Turns byte offsets into line numbers, builds errors, and notes the
/// lines of the fields [`TreeSpec::lines`] keeps.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
    lines: RefCell<BTreeMap<String, usize>>,
    /// Each `may_start` seen (field, span, names): checked against the
    /// tree's supervisors once the whole tree is read.
    may_start: RefCell<Vec<MayStartSeen>>,
}

impl<'a> Locator<'a> {
    fn new(file: &'a Path, text: &'a str) -> Self {
        Locator {
            file,
            text,
            lines: RefCell::new(BTreeMap::new()),
            may_start: RefCell::new(Vec::new()),
        }
    }

    /// Remembers the line of `field`, at `span`.
    fn note(&self, field: &str, span: Range<usize>) {
        let line = self.line_of(span.start);
        self.lines.borrow_mut().insert(field.to_string(), line);
    }

    /// What relative paths in the file are relative to: its directory.
    fn base(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text[..end].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn toml_error(&self, error: &toml::de::Error) -> SpecError {
        let (span, field, message) = toml_error::explain(error, self.text);
        self.error(span, &field, message)
    }

    fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.to_path_buf(),
            line: self.line_of(span.start),
            // A quoted key may hold a line break; the error stays one line.
            field: field.replace('\r', "\\r").replace('\n', "\\n"),
            message: message.into(),
        }
    }
}

impl TreeSpec {
    /// The line of `field` (a dotted path as in [`SpecError::field`]), or
    /// of the nearest table holding it that [`TreeSpec::lines`] knows; 1
    /// when none is known.
    pub fn line_of(&self, field: &str) -> usize {
        let mut field = field;
        loop {
            if let Some(line) = self.lines.get(field) {
                return *line;
            }
            match field.rfind(['.', '[']) {
                Some(cut) => field = &field[..cut],
                None => return 1,
            }
        }
    }

    /// Reads and validates the tree file at `path`.
    pub fn load(path: &Path) -> Result<TreeSpec, SpecError> {
        let error = |message: String| SpecError {
            file: path.to_path_buf(),
            line: 1,
            field: "file".to_string(),
            message,
        };
        // At most one byte past the limit is read: `/dev/zero` (or a pipe
        // that never ends) is refused rather than read until memory runs out.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, MAX_TREE_FILE_BYTES as u64 + 1),
                    &mut bytes,
                )
            })
            .map_err(|e| error(format!("cannot read the tree file: {e}")))?;
        if bytes.len() > MAX_TREE_FILE_BYTES {
            return Err(error(format!(
                "cannot read the tree file: it is larger than {} MiB, the most a tree file may be",
                MAX_TREE_FILE_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            SpecError {
                line,
                ..error("not UTF-8 text (a TOML file is UTF-8)".to_string())
            }
        })?;
        TreeSpec::parse(path, &text)
    }

    /// Validates `text` as the tree file `path` (used for messages and to
    /// resolve component paths).
    pub fn parse(path: &Path, text: &str) -> Result<TreeSpec, SpecError> {
        let loc = Locator::new(path, text);
        let raw: RawTree = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut components = BTreeMap::new();
        for (name, value) in &raw.components {
            let field = format!("components.{name}");
            if value.get_ref().trim().is_empty() {
                return Err(loc.error(value.span(), &field, "the component path is empty"));
            }
            components.insert(
                name.clone(),
                ComponentSource {
                    path: base.join(value.get_ref()),
                    line: loc.line_of(value.span().start),
                },
            );
        }
        let Some(root) = raw.supervisor else {
            return Err(loc.error(0..0, "supervisor", "missing the root [supervisor] table"));
        };
        let mut names = HashSet::new();
        let root_span = root.span();
        let root = validate_supervisor(
            &loc,
            "supervisor",
            root_span,
            root.into_inner(),
            &components.keys().cloned().collect(),
            &mut names,
        )?;
        check_may_start(&loc, &root)?;
        let node = raw.node.map(|node| {
            loc.note("node", node.span());
            node.into_inner()
        });
        let fast_traps = match node.as_ref().and_then(|n| n.fast_traps.as_ref()) {
            Some(flag) => {
                loc.note("node.fast_traps", flag.span());
                *flag.get_ref()
            }
            None => false,
        };
        let data = match node.as_ref().and_then(|n| n.data.as_ref()) {
            Some(file) => {
                loc.note("node.data", file.span());
                if file.get_ref().trim().is_empty() {
                    return Err(loc.error(
                        file.span(),
                        "node.data",
                        "the database path is empty (default: arbor.db beside the tree file)",
                    ));
                }
                base.join(file.get_ref())
            }
            None => base.join(DEFAULT_DATA_FILE),
        };
        let data_sync = match node.as_ref().and_then(|n| n.data_sync.as_ref()) {
            None => DataSync::Full,
            Some(word) => {
                loc.note("node.data_sync", word.span());
                match word.get_ref().as_str() {
                    "full" => DataSync::Full,
                    "normal" => DataSync::Normal,
                    other => {
                        return Err(loc.error(
                            word.span(),
                            "node.data_sync",
                            format!("expected \"full\" or \"normal\", got {other:?}"),
                        ));
                    }
                }
            }
        };
        let mut tls_roots = crate::tls::ExtraRoots::default();
        if let Some(files) = node.as_ref().and_then(|n| n.tls_roots.as_ref()) {
            loc.note("node.tls_roots", files.span());
            for (i, file) in files.get_ref().iter().enumerate() {
                let field = format!("node.tls_roots[{i}]");
                let shown = file.get_ref();
                if shown.trim().is_empty() {
                    return Err(loc.error(file.span(), &field, "the file name is empty"));
                }
                tls_roots
                    .add_file(&base.join(shown), shown)
                    .map_err(|message| loc.error(file.span(), &field, message))?;
            }
        }
        if let Some(value) = node.as_ref().and_then(|n| n.max_instances.as_ref()) {
            loc.note("node.max_instances", value.span());
        }
        let max_instances = match node.and_then(|n| n.max_instances) {
            None => None,
            Some(value) => match u32::try_from(*value.get_ref()) {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(loc.error(
                        value.span(),
                        "node.max_instances",
                        format!(
                            "must be a positive number of instances (at most {}), got {}",
                            u32::MAX,
                            value.get_ref()
                        ),
                    ));
                }
            },
        };
        Ok(TreeSpec {
            source: path.to_path_buf(),
            components,
            root,
            max_instances,
            fast_traps,
            data,
            data_sync,
            tls_roots,
            lines: loc.lines.take(),
        })
    }
}

impl SupervisorSpec {
    /// Validates `text` as a subtree to add to a running host: a tree file
    /// with only a `[supervisor]` table (the new child supervisor and its
    /// children), whose workers name components among `components` (the
    /// running host's). Names are checked for uniqueness within the
    /// subtree here, and against the host when it starts.
    pub fn parse_subtree(
        path: &Path,
        text: &str,
        components: &BTreeSet<String>,
    ) -> Result<SupervisorSpec, SpecError> {
        let loc = Locator::new(path, text);
        let raw: RawTree = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        if let Some((name, value)) = raw.components.iter().next() {
            return Err(loc.error(
                value.span(),
                &format!("components.{name}"),
                "a subtree uses the running host's components; it cannot add its own",
            ));
        }
        if raw.node.is_some() {
            return Err(loc.error(0..0, "node", "[node] belongs to the host's tree file"));
        }
        let Some(root) = raw.supervisor else {
            return Err(loc.error(
                0..0,
                "supervisor",
                "missing the [supervisor] table of the subtree",
            ));
        };
        let span = root.span();
        validate_supervisor(
            &loc,
            "supervisor",
            span,
            root.into_inner(),
            components,
            &mut HashSet::new(),
        )
    }
}

/// `value` as TOML for a message, which is one line: TOML writes a string
/// holding a line break as a multi-line string.
fn on_one_line(value: &toml::Value) -> String {
    value.to_string().replace('\r', "\\r").replace('\n', "\\n")
}

fn positive_ms(
    loc: &Locator<'_>,
    field: &str,
    value: &Spanned<i64>,
) -> Result<Duration, SpecError> {
    let ms = *value.get_ref();
    if ms <= 0 {
        return Err(loc.error(
            value.span(),
            field,
            format!("must be a positive number of milliseconds, got {ms}"),
        ));
    }
    Ok(Duration::from_millis(ms as u64))
}

fn parse_restart(
    loc: &Locator<'_>,
    field: &str,
    value: &Spanned<String>,
) -> Result<RestartType, SpecError> {
    RestartType::parse(value.get_ref()).map_err(|why| loc.error(value.span(), field, why))
}

fn parse_shutdown(
    loc: &Locator<'_>,
    field: &str,
    value: &Spanned<toml::Value>,
) -> Result<Shutdown, SpecError> {
    match value.get_ref() {
        toml::Value::Integer(ms) if *ms >= 0 => {
            Ok(Shutdown::Timeout(Duration::from_millis(*ms as u64)))
        }
        toml::Value::String(s) if s == "brutal_kill" => Ok(Shutdown::BrutalKill),
        toml::Value::String(s) if s == "infinity" => Ok(Shutdown::Infinity),
        other => Err(loc.error(
            value.span(),
            field,
            format!(
                "expected milliseconds (>= 0), \"brutal_kill\" or \"infinity\", got {}",
                on_one_line(other)
            ),
        )),
    }
}

/// The longest restart window a tree file may ask for. A window only needs
/// to outlast the restarts it counts; past a year a supervisor would never
/// forget a restart, and far past it the seconds no longer fit a `Duration`
/// (1e20 panicked in `Duration::from_secs_f64`).
const MAX_RESTART_WINDOW_SECS: u64 = 365 * 24 * 3600;

/// `secs` (positive and finite) as a restart window, unless it is too long.
fn restart_window(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|window| *window <= Duration::from_secs(MAX_RESTART_WINDOW_SECS))
}

fn validate_supervisor(
    loc: &Locator<'_>,
    at: &str,
    span: Range<usize>,
    raw: RawNode,
    components: &BTreeSet<String>,
    names: &mut HashSet<String>,
) -> Result<SupervisorSpec, SpecError> {
    loc.note(at, span.clone());
    for (field, value) in [
        ("strategy", raw.strategy.as_ref().map(|v| v.span())),
        ("dynamic", raw.dynamic.as_ref().map(|v| v.span())),
    ] {
        if let Some(span) = value {
            loc.note(&format!("{at}.{field}"), span);
        }
    }
    let name = unique_name(loc, at, span.clone(), raw.name.as_ref(), names)?;
    if let Some(c) = &raw.component {
        return Err(loc.error(
            c.span(),
            &format!("{at}.component"),
            "a supervisor has no component (a child with `strategy` or `dynamic` is a supervisor)",
        ));
    }
    for (present, field) in [
        (raw.args.as_ref().map(|v| v.span()), "args"),
        (raw.timeout_ms.as_ref().map(|v| v.span()), "timeout_ms"),
        (
            raw.init_timeout_ms.as_ref().map(|v| v.span()),
            "init_timeout_ms",
        ),
        (
            raw.call_timeout_ms.as_ref().map(|v| v.span()),
            "call_timeout_ms",
        ),
        (
            raw.max_memory_mb.as_ref().map(|v| v.span()),
            "max_memory_mb",
        ),
        (raw.may_call.as_ref().map(|v| v.span()), "may_call"),
        (raw.may_start.as_ref().map(|v| v.span()), "may_start"),
        (
            raw.mailbox_capacity.as_ref().map(|v| v.span()),
            "mailbox_capacity",
        ),
        (
            raw.mailbox_max_mb.as_ref().map(|v| v.span()),
            "mailbox_max_mb",
        ),
        (raw.http.as_ref().map(|v| v.span()), "http"),
        (raw.keyvalue.as_ref().map(|v| v.span()), "keyvalue"),
        (raw.poison.as_ref().map(|v| v.span()), "poison"),
        (raw.dirs.as_ref().map(|v| v.span()), "dirs"),
        (raw.env.as_ref().map(|v| v.span()), "env"),
        (
            raw.http_outgoing.as_ref().map(|v| v.span()),
            "http_outgoing",
        ),
        (raw.sockets.as_ref().map(|v| v.span()), "sockets"),
        (raw.log_rate.as_ref().map(|v| v.span()), "log_rate"),
    ] {
        if let Some(span) = present {
            return Err(loc.error(
                span,
                &format!("{at}.{field}"),
                "only workers take this field",
            ));
        }
    }
    let strategy = match &raw.strategy {
        None => Strategy::OneForOne,
        Some(s) => Strategy::parse(s.get_ref())
            .map_err(|why| loc.error(s.span(), &format!("{at}.strategy"), why))?,
    };
    let mut intensity = RestartIntensity::default();
    if let Some(m) = &raw.max_restarts {
        let v = *m.get_ref();
        if !(0..=u32::MAX as i64).contains(&v) {
            return Err(loc.error(
                m.span(),
                &format!("{at}.max_restarts"),
                format!("must be 0 to {}, got {v}", u32::MAX),
            ));
        }
        intensity.max_restarts = v as u32;
    }
    if let Some(m) = &raw.max_seconds {
        let secs = match m.get_ref() {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => {
                return Err(loc.error(
                    m.span(),
                    &format!("{at}.max_seconds"),
                    format!("expected a number, got {}", on_one_line(other)),
                ));
            }
        };
        // Infinity is past the longest window, which says so below.
        if secs.is_nan() || secs <= 0.0 {
            return Err(loc.error(
                m.span(),
                &format!("{at}.max_seconds"),
                format!("must be more than 0, got {secs}"),
            ));
        }
        intensity.max_seconds = restart_window(secs).ok_or_else(|| {
            // As written: `1e20`, not its f64 expansion.
            let written = loc.text.get(m.span()).unwrap_or("more");
            loc.error(
                m.span(),
                &format!("{at}.max_seconds"),
                format!("must be at most {MAX_RESTART_WINDOW_SECS} (one year), got {written}"),
            )
        })?;
    }
    let dynamic = match &raw.dynamic {
        None => None,
        Some(d) => {
            if let Some(s) = &raw.strategy
                && s.get_ref() != "one_for_one"
            {
                return Err(loc.error(
                    s.span(),
                    &format!("{at}.strategy"),
                    "a dynamic supervisor is always one_for_one",
                ));
            }
            let max_children = match &d.get_ref().max_children {
                None => None,
                Some(m) if *m.get_ref() >= 1 => Some(*m.get_ref() as usize),
                Some(m) => {
                    return Err(loc.error(
                        m.span(),
                        &format!("{at}.dynamic.max_children"),
                        format!("must be 1 or more, got {}", m.get_ref()),
                    ));
                }
            };
            Some(DynamicSpec { max_children })
        }
    };
    let restart = match &raw.restart {
        None => RestartType::Permanent,
        Some(r) => parse_restart(loc, &format!("{at}.restart"), r)?,
    };
    let shutdown = match &raw.shutdown_ms {
        None => Shutdown::Infinity,
        Some(s) => parse_shutdown(loc, &format!("{at}.shutdown_ms"), s)?,
    };
    let significant = parse_significant(loc, at, raw.significant.as_ref(), restart)?;
    let child_grants = parse_child_grants(loc, at, raw.child_grants.as_ref())?;
    let auto_shutdown = match &raw.auto_shutdown {
        None => AutoShutdown::Never,
        Some(a) => AutoShutdown::parse(a.get_ref())
            .map_err(|why| loc.error(a.span(), &format!("{at}.auto_shutdown"), why))?,
    };
    let backoff = match &raw.backoff {
        None => None,
        Some(b) => Some(parse_backoff(loc, at, b)?),
    };
    let mut children = Vec::new();
    for (i, child) in raw.children.into_iter().flatten().enumerate() {
        let child_at = format!("{at}.children[{i}]");
        let child_span = child.span();
        if dynamic.is_some() {
            return Err(loc.error(
                child_span,
                &child_at,
                "a dynamic supervisor starts empty: add its children at run time (`arbor ctl start-child`)",
            ));
        }
        if let Some(flag) = &child.get_ref().significant
            && *flag.get_ref()
            && auto_shutdown == AutoShutdown::Never
        {
            return Err(loc.error(
                flag.span(),
                &format!("{child_at}.significant"),
                "a significant child needs its supervisor to set auto_shutdown = \"any_significant\" or \"all_significant\"",
            ));
        }
        let child = child.into_inner();
        let is_supervisor =
            child.strategy.is_some() || child.dynamic.is_some() || child.children.is_some();
        children.push(if is_supervisor {
            ChildSpec::Supervisor(validate_supervisor(
                loc, &child_at, child_span, child, components, names,
            )?)
        } else {
            ChildSpec::Worker(validate_worker(
                loc, &child_at, child_span, child, components, names,
            )?)
        });
    }
    Ok(SupervisorSpec {
        name,
        strategy,
        intensity,
        dynamic,
        children,
        restart,
        shutdown,
        significant,
        auto_shutdown,
        backoff,
        child_grants,
    })
}

fn unique_name(
    loc: &Locator<'_>,
    at: &str,
    span: Range<usize>,
    name: Option<&Spanned<String>>,
    names: &mut HashSet<String>,
) -> Result<String, SpecError> {
    let Some(name) = name else {
        return Err(loc.error(span, &format!("{at}.name"), "missing `name`"));
    };
    let field = format!("{at}.name");
    loc.note(&field, name.span());
    let text = name.get_ref();
    if let Err(why) = check_name(text) {
        return Err(loc.error(name.span(), &field, why));
    }
    if !names.insert(text.clone()) {
        return Err(loc.error(
            name.span(),
            &field,
            format!("the name {text:?} is used twice (names are unique in a host)"),
        ));
    }
    Ok(text.clone())
}

/// Checks that `name` can name a child: non-empty, no `/` or whitespace.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name may not be empty".to_string());
    }
    if name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "the name {name:?} may not contain '/' or whitespace"
        ));
    }
    Ok(())
}

fn validate_worker(
    loc: &Locator<'_>,
    at: &str,
    span: Range<usize>,
    raw: RawNode,
    components: &BTreeSet<String>,
    names: &mut HashSet<String>,
) -> Result<WorkerSpec, SpecError> {
    loc.note(at, span.clone());
    if let Some(component) = &raw.component {
        loc.note(&format!("{at}.component"), component.span());
    }
    let name = unique_name(loc, at, span.clone(), raw.name.as_ref(), names)?;
    for (present, field) in [
        (raw.max_restarts.as_ref().map(|v| v.span()), "max_restarts"),
        (raw.max_seconds.as_ref().map(|v| v.span()), "max_seconds"),
        (
            raw.auto_shutdown.as_ref().map(|v| v.span()),
            "auto_shutdown",
        ),
        (raw.child_grants.as_ref().map(|v| v.span()), "child_grants"),
    ] {
        if let Some(span) = present {
            return Err(loc.error(
                span,
                &format!("{at}.{field}"),
                "only supervisors take this field (add `strategy` to make this child a supervisor)",
            ));
        }
    }
    let Some(component) = &raw.component else {
        return Err(loc.error(
            span,
            &format!("{at}.component"),
            "a worker needs `component` (or `strategy` to be a supervisor)",
        ));
    };
    if !components.contains(component.get_ref()) {
        let known: Vec<&str> = components.iter().map(String::as_str).collect();
        return Err(loc.error(
            component.span(),
            &format!("{at}.component"),
            format!(
                "unknown component {:?} (known: {})",
                component.get_ref(),
                known.join(", ")
            ),
        ));
    }
    let mut worker = WorkerSpec::new(name, component.get_ref().clone());
    if let Some(r) = &raw.restart {
        worker.restart = parse_restart(loc, &format!("{at}.restart"), r)?;
    }
    if let Some(s) = &raw.shutdown_ms {
        worker.shutdown = parse_shutdown(loc, &format!("{at}.shutdown_ms"), s)?;
    }
    if let Some(a) = &raw.args {
        worker.args = match a.get_ref() {
            toml::Value::String(s) => s.clone().into_bytes(),
            // A table is handed to the guest as JSON.
            toml::Value::Table(_) => serde_json::to_vec(a.get_ref()).map_err(|e| {
                loc.error(
                    a.span(),
                    &format!("{at}.args"),
                    format!("cannot encode as JSON: {e}"),
                )
            })?,
            other => {
                return Err(loc.error(
                    a.span(),
                    &format!("{at}.args"),
                    format!("expected a string or a table, got {}", on_one_line(other)),
                ));
            }
        };
    }
    if let Some(t) = &raw.timeout_ms {
        worker.timeout = positive_ms(loc, &format!("{at}.timeout_ms"), t)?;
        worker.init_timeout = worker.timeout;
    }
    if let Some(t) = &raw.init_timeout_ms {
        worker.init_timeout = positive_ms(loc, &format!("{at}.init_timeout_ms"), t)?;
    }
    if let Some(t) = &raw.call_timeout_ms {
        worker.call_timeout = positive_ms(loc, &format!("{at}.call_timeout_ms"), t)?;
    }
    if let Some(m) = &raw.max_memory_mb {
        let mb = *m.get_ref();
        if !(1..=4096).contains(&mb) {
            return Err(loc.error(
                m.span(),
                &format!("{at}.max_memory_mb"),
                format!("must be 1 to 4096, got {mb}"),
            ));
        }
        worker.max_memory_bytes = (mb as usize) << 20;
    }
    if let Some(m) = &raw.may_call {
        worker.may_call = Some(m.get_ref().clone());
    }
    if let Some(m) = &raw.may_start {
        worker.may_start = m.get_ref().clone();
        loc.may_start.borrow_mut().push((
            format!("{at}.may_start"),
            m.span(),
            worker.may_start.clone(),
        ));
    }
    worker.significant = parse_significant(loc, at, raw.significant.as_ref(), worker.restart)?;

    if let Some(n) = &raw.mailbox_capacity {
        let field = format!("{at}.mailbox_capacity");
        worker.mailbox.capacity = in_range(loc, &field, n, MAX_MAILBOX_CAPACITY, "messages")?;
    }
    if let Some(m) = &raw.mailbox_max_mb {
        let field = format!("{at}.mailbox_max_mb");
        let mb = in_range(loc, &field, m, MAX_MAILBOX_BYTES >> 20, "MiB")?;
        worker.mailbox.max_bytes = mb << 20;
    }
    if let Some(address) = &raw.http {
        let field = format!("{at}.http");
        worker.http = Some(
            crate::http::parse_address(address.get_ref())
                .map_err(|why| loc.error(address.span(), &field, why))?,
        );
    }
    if let Some(buckets) = &raw.keyvalue {
        let field = format!("{at}.keyvalue");
        for bucket in buckets.get_ref() {
            if bucket.is_empty() || bucket.len() > crate::keyvalue::MAX_BUCKET_BYTES {
                return Err(loc.error(
                    buckets.span(),
                    &field,
                    format!(
                        "bucket names are 1 to {} bytes, got {bucket:?}",
                        crate::keyvalue::MAX_BUCKET_BYTES
                    ),
                ));
            }
        }
        worker.keyvalue = buckets.get_ref().clone();
    }
    if let Some(poison) = &raw.poison {
        worker.poison = Some(parse_poison(loc, at, poison)?);
    }
    if let Some(b) = &raw.backoff {
        worker.backoff = Some(parse_backoff(loc, at, b)?);
    }
    parse_worker_grants(loc, at, &raw, &mut worker)?;
    Ok(worker)
}

/// `poison = { after = N }` (`after` defaults to [`DEFAULT_POISON_AFTER`]).
fn parse_poison(
    loc: &Locator<'_>,
    at: &str,
    poison: &Spanned<RawPoison>,
) -> Result<PoisonSpec, SpecError> {
    let Some(after) = &poison.get_ref().after else {
        return Ok(PoisonSpec {
            after: DEFAULT_POISON_AFTER,
        });
    };
    let field = format!("{at}.poison.after");
    let n = in_range(loc, &field, after, MAX_POISON_AFTER as usize, "crashes")?;
    Ok(PoisonSpec { after: n as u32 })
}

/// Every `may_start` names a supervisor of the tree: a grant to start
/// children under a name that is no supervisor is a typo, refused here
/// rather than met by the guest as `denied` at run time.
fn check_may_start(loc: &Locator<'_>, root: &SupervisorSpec) -> Result<(), SpecError> {
    fn supervisors<'s>(spec: &'s SupervisorSpec, into: &mut HashSet<&'s str>) {
        into.insert(&spec.name);
        for child in &spec.children {
            if let ChildSpec::Supervisor(s) = child {
                supervisors(s, into);
            }
        }
    }
    let mut known = HashSet::new();
    supervisors(root, &mut known);
    for (field, span, names) in loc.may_start.borrow().iter() {
        if let Some(unknown) = names.iter().find(|n| !known.contains(n.as_str())) {
            let mut known: Vec<_> = known.iter().copied().collect();
            known.sort_unstable();
            return Err(loc.error(
                span.clone(),
                field,
                format!(
                    "{unknown:?} is not a supervisor in this tree (supervisors: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `significant = true` is for children that may end by themselves: OTP
/// refuses it on a permanent child, which never ends for good.
fn parse_significant(
    loc: &Locator<'_>,
    at: &str,
    value: Option<&Spanned<bool>>,
    restart: RestartType,
) -> Result<bool, SpecError> {
    let Some(value) = value else {
        return Ok(false);
    };
    if *value.get_ref() && restart == RestartType::Permanent {
        return Err(loc.error(
            value.span(),
            &format!("{at}.significant"),
            "a significant child must be transient or temporary (a permanent child never ends for good)",
        ));
    }
    Ok(*value.get_ref())
}

/// Checks that `value` is 1 to `max` (of `unit`).
fn in_range(
    loc: &Locator<'_>,
    field: &str,
    value: &Spanned<i64>,
    max: usize,
    unit: &str,
) -> Result<usize, SpecError> {
    let n = *value.get_ref();
    match usize::try_from(n) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(loc.error(
            value.span(),
            field,
            format!("must be 1 to {max} {unit}, got {n}"),
        )),
    }
}

// Grants (`dirs`, `env`, `http_outgoing`, `sockets`), `log_rate` and a
// supervisor's `child_grants`: read by `crate::grants::request`, their
// errors placed at the field's line here.

/// A grant's error at `span`, naming `{at}.{field}` (the grant's own field
/// is the error's).
fn grant_error(loc: &Locator<'_>, at: &str, span: Range<usize>, error: GrantError) -> SpecError {
    loc.error(span, &format!("{at}.{}", error.field), error.message)
}

/// A worker's `dirs`, `env`, `http_outgoing`, `sockets` and `log_rate`.
fn parse_worker_grants(
    loc: &Locator<'_>,
    at: &str,
    raw: &RawNode,
    worker: &mut WorkerSpec,
) -> Result<(), SpecError> {
    use crate::grants::request;
    let base = loc.base();
    let mut grants = Grants::default();
    if let Some(dirs) = &raw.dirs {
        grants.dirs = request::dirs(dirs.get_ref(), base)
            .map_err(|e| grant_error(loc, at, dirs.span(), e))?;
    }
    if let Some(env) = &raw.env {
        grants.env =
            request::env(env.get_ref()).map_err(|e| grant_error(loc, at, env.span(), e))?;
    }
    if let Some(authorities) = &raw.http_outgoing {
        grants.http_outgoing = request::http_outgoing(authorities.get_ref())
            .map_err(|e| grant_error(loc, at, authorities.span(), e))?;
    }
    if let Some(sockets) = &raw.sockets {
        grants.sockets = Some(
            request::sockets(sockets.get_ref())
                .map_err(|e| grant_error(loc, at, sockets.span(), e))?,
        );
    }
    if !grants.is_empty() {
        worker.grants = Some(Arc::new(grants));
    }
    if let Some(rate) = &raw.log_rate {
        let rate = rate.get_ref();
        let field = |name: &str| format!("{at}.log_rate.{name}");
        if let Some(n) = &rate.lines_per_sec {
            worker.log_rate.lines_per_sec = in_range(
                loc,
                &field("lines_per_sec"),
                n,
                MAX_LOG_RATE as usize,
                "lines",
            )? as u32;
        }
        if let Some(n) = &rate.burst {
            worker.log_rate.burst =
                in_range(loc, &field("burst"), n, MAX_LOG_RATE as usize, "lines")? as u32;
        }
    }
    Ok(())
}

/// A supervisor's `child_grants`: what its run-time children may be granted.
fn parse_child_grants(
    loc: &Locator<'_>,
    at: &str,
    raw: Option<&Spanned<CeilingRequest>>,
) -> Result<Option<Arc<ChildGrants>>, SpecError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let ceiling = raw
        .get_ref()
        .resolve(loc.base())
        .map_err(|e| grant_error(loc, &format!("{at}.child_grants"), raw.span(), e))?;
    Ok(Some(Arc::new(ceiling)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sync_is_full_unless_the_tree_says_normal_and_nothing_else_is_accepted() {
        let text = "[supervisor]\nname = \"root\"\n";
        let parse = |t: &str| TreeSpec::parse(Path::new("t.toml"), t);
        assert_eq!(parse(text).unwrap().data_sync, DataSync::Full);
        let normal = format!("[node]\ndata_sync = \"normal\"\n{text}");
        assert_eq!(parse(&normal).unwrap().data_sync, DataSync::Normal);
        let err = parse(&format!("[node]\ndata_sync = \"off\"\n{text}")).unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "node.data_sync"));
        assert!(
            err.message.contains("expected \"full\" or \"normal\""),
            "{err}"
        );
    }

    fn parse(text: &str) -> Result<TreeSpec, SpecError> {
        TreeSpec::parse(Path::new("dir/tree.toml"), text)
    }

    const GOOD: &str = r#"
[components]
probe = "guests/probe.wasm"

[supervisor]
name = "root"
strategy = "one_for_all"
max_restarts = 2
max_seconds = 10

[[supervisor.children]]
name = "a"
component = "probe"
restart = "transient"
shutdown_ms = "brutal_kill"
args = '{"x": 1}'

[[supervisor.children]]
name = "sub"
strategy = "rest_for_one"

[[supervisor.children.children]]
name = "b"
component = "probe"
shutdown_ms = 250

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 3 }
"#;

    #[test]
    fn parses_a_nested_tree_with_resolved_paths_and_defaults() {
        let tree = parse(GOOD).unwrap();
        assert_eq!(
            tree.components["probe"].path,
            Path::new("dir/guests/probe.wasm")
        );
        assert_eq!(tree.root.strategy, Strategy::OneForAll);
        assert_eq!(tree.root.intensity.max_restarts, 2);
        assert_eq!(tree.root.intensity.max_seconds, Duration::from_secs(10));
        let ChildSpec::Worker(a) = &tree.root.children[0] else {
            panic!()
        };
        assert_eq!(a.restart, RestartType::Transient);
        assert_eq!(a.shutdown, Shutdown::BrutalKill);
        assert_eq!(a.args, br#"{"x": 1}"#);
        let ChildSpec::Supervisor(sub) = &tree.root.children[1] else {
            panic!()
        };
        assert_eq!(sub.strategy, Strategy::RestForOne);
        assert_eq!(sub.shutdown, Shutdown::Infinity);
        let ChildSpec::Worker(b) = &sub.children[0] else {
            panic!()
        };
        assert_eq!(b.shutdown, Shutdown::Timeout(Duration::from_millis(250)));
        assert_eq!(b.restart, RestartType::Permanent);
        let ChildSpec::Supervisor(pool) = &tree.root.children[2] else {
            panic!()
        };
        assert_eq!(
            pool.dynamic,
            Some(DynamicSpec {
                max_children: Some(3)
            })
        );
    }

    #[test]
    fn backoff_defaults_its_cap_and_reset_and_refuses_nonsense_naming_the_field() {
        let tree = parse(&GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nbackoff = { initial_ms = 20 }",
        ))
        .unwrap();
        let ChildSpec::Supervisor(sub) = &tree.root.children[1] else {
            panic!()
        };
        let ChildSpec::Worker(b) = &sub.children[0] else {
            panic!()
        };
        let ms = Duration::from_millis;
        assert_eq!(
            b.backoff,
            Some(Backoff {
                initial: ms(20),
                max: ms(2000),
                reset: ms(2000)
            })
        );
        assert_eq!(sub.backoff, None, "not inherited into the spec");
        let with = |table: &str| {
            parse(&GOOD.replace(
                "strategy = \"rest_for_one\"",
                &format!("strategy = \"rest_for_one\"\nbackoff = {table}"),
            ))
        };
        let tree = with("{ initial_ms = 5, max_ms = 50, reset_ms = 7 }").unwrap();
        let ChildSpec::Supervisor(sub) = &tree.root.children[1] else {
            panic!()
        };
        assert_eq!(
            sub.backoff,
            Some(Backoff {
                initial: ms(5),
                max: ms(50),
                reset: ms(7)
            })
        );
        for (table, field, says) in [
            (
                "{ max_ms = 50 }",
                "supervisor.children[1].backoff",
                "missing `initial_ms`",
            ),
            (
                "{ initial_ms = -1 }",
                "supervisor.children[1].backoff.initial_ms",
                "must be 1 to 3600000",
            ),
            (
                "{ initial_ms = 100, max_ms = 10 }",
                "supervisor.children[1].backoff.max_ms",
                "at least initial_ms (100)",
            ),
            (
                "{ initial_ms = 1, reset_ms = 99999999999 }",
                "supervisor.children[1].backoff.reset_ms",
                "one hour",
            ),
            (
                "{ initial_ms = 1, jitter = true }",
                "supervisor.children[1].backoff.jitter",
                "unknown field `jitter`",
            ),
        ] {
            let err = with(table).unwrap_err();
            assert_eq!(err.field, field, "{table}: {err}");
            assert!(err.message.contains(says), "{table}: {err}");
        }
    }

    #[test]
    fn unknown_restart_type_names_file_line_and_field() {
        let text = GOOD.replace("restart = \"transient\"", "restart = \"sometimes\"");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 14);
        assert_eq!(err.field, "supervisor.children[0].restart");
        assert!(
            err.to_string().starts_with(
                "dir/tree.toml:14: supervisor.children[0].restart: unknown restart type"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_component_is_reported_with_the_known_ones() {
        let text = GOOD.replace(
            "component = \"probe\"\nshutdown_ms = 250",
            "component = \"nope\"\nshutdown_ms = 250",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field, "supervisor.children[1].children[0].component");
        assert!(
            err.message
                .contains("unknown component \"nope\" (known: probe)"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_rejected_anywhere_in_the_tree() {
        let text = GOOD.replace("name = \"b\"", "name = \"a\"");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field, "supervisor.children[1].children[0].name");
        assert!(err.message.contains("used twice"), "{err}");
    }

    #[test]
    fn toml_syntax_errors_keep_their_line_on_one_line() {
        let err = parse("[supervisor]\nname = \"root\"\nstrategy = \n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn unknown_fields_are_errors_not_ignored() {
        let err =
            parse("[supervisor]\nname = \"root\"\nstrategie = \"one_for_all\"\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("strategie"), "{err}");
    }

    #[test]
    fn a_dynamic_supervisor_may_not_list_children() {
        let text = format!(
            "{GOOD}\n[[supervisor.children.children]]\nname = \"x\"\ncomponent = \"probe\"\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("dynamic supervisor starts empty"),
            "{err}"
        );
    }

    #[test]
    fn bad_shutdown_and_strategy_values_are_explained() {
        let err = parse(&GOOD.replace("shutdown_ms = 250", "shutdown_ms = \"soon\"")).unwrap_err();
        assert!(err.message.contains("brutal_kill"), "{err}");
        let err = parse(&GOOD.replace("\"rest_for_one\"", "\"all_for_one\"")).unwrap_err();
        assert!(err.message.contains("unknown strategy"), "{err}");
    }

    #[test]
    fn mailbox_bounds_default_to_the_production_values_and_can_be_set_per_worker() {
        let tree = parse(&GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nmailbox_capacity = 50\nmailbox_max_mb = 2",
        ))
        .unwrap();
        let ChildSpec::Worker(a) = &tree.root.children[0] else {
            panic!()
        };
        assert_eq!(a.mailbox, MailboxLimits::default());
        let ChildSpec::Supervisor(sub) = &tree.root.children[1] else {
            panic!()
        };
        assert_eq!(
            sub.children[0].mailbox_limits(),
            Some(MailboxLimits {
                capacity: 50,
                max_bytes: 2 << 20
            })
        );
    }

    #[test]
    fn bad_mailbox_bounds_name_file_line_and_field() {
        let text = GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nmailbox_capacity = 0",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dir/tree.toml:26: supervisor.children[1].children[0].mailbox_capacity: \
             must be 1 to 1000000 messages, got 0"
        );
        let text = GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nmailbox_max_mb = 5000",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.field,
            "supervisor.children[1].children[0].mailbox_max_mb"
        );
        assert_eq!(err.message, "must be 1 to 4096 MiB, got 5000");
        let text = GOOD.replace(
            "strategy = \"rest_for_one\"",
            "strategy = \"rest_for_one\"\nmailbox_capacity = 5",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field, "supervisor.children[1].mailbox_capacity");
        assert_eq!(err.message, "only workers take this field");
    }

    #[test]
    fn a_worker_serves_http_on_the_address_it_names_and_a_bad_one_names_its_line() {
        let tree = parse(&GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nhttp = \"127.0.0.1:8080\"",
        ))
        .unwrap();
        let ChildSpec::Supervisor(sub) = &tree.root.children[1] else {
            panic!()
        };
        let ChildSpec::Worker(b) = &sub.children[0] else {
            panic!()
        };
        assert_eq!(b.http, Some("127.0.0.1:8080".parse().unwrap()));
        let err = parse(&GOOD.replace(
            "shutdown_ms = 250",
            "shutdown_ms = 250\nhttp = \"nonsense\"",
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "dir/tree.toml:26: supervisor.children[1].children[0].http: \
             expected IP:PORT (e.g. \"127.0.0.1:8080\"), got \"nonsense\""
        );
        let err = parse(&GOOD.replace(
            "strategy = \"rest_for_one\"",
            "strategy = \"rest_for_one\"\nhttp = \"127.0.0.1:1\"",
        ))
        .unwrap_err();
        assert_eq!(err.field, "supervisor.children[1].http");
        assert_eq!(err.message, "only workers take this field");
    }

    #[test]
    fn node_max_instances_must_be_positive_and_names_its_line() {
        let tree = parse(&format!("[node]\nmax_instances = 200000\n{GOOD}")).unwrap();
        assert_eq!(tree.max_instances, Some(200_000));
        let err = parse(&format!("[node]\nmax_instances = 0\n{GOOD}")).unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "node.max_instances"));
        assert!(err.message.contains("positive"), "{err}");
    }

    #[test]
    fn max_seconds_past_a_year_is_an_error_naming_its_line_not_a_panic() {
        // 1e20 s overflows a Duration; 1e300 and a year and a second are
        // representable but no restart window is that long.
        for value in ["1e20", "1e300", "31536001"] {
            let text = GOOD.replace("max_seconds = 10", &format!("max_seconds = {value}"));
            let err = parse(&text).unwrap_err();
            assert_eq!(
                (err.line, err.field.as_str()),
                (9, "supervisor.max_seconds")
            );
            assert_eq!(
                err.message,
                format!("must be at most 31536000 (one year), got {value}")
            );
        }
        let year = parse(&GOOD.replace("max_seconds = 10", "max_seconds = 31536000")).unwrap();
        assert_eq!(
            year.root.intensity.max_seconds,
            Duration::from_secs(31_536_000)
        );
    }

    #[test]
    fn keyvalue_grants_nothing_by_default_and_data_sits_beside_the_tree_file() {
        let tree = parse(GOOD).unwrap();
        assert_eq!(tree.data, Path::new("dir/arbor.db"));
        let ChildSpec::Worker(a) = &tree.root.children[0] else {
            panic!("a is a worker")
        };
        assert!(a.keyvalue.is_empty());
        let text = GOOD.replace(
            "name = \"a\"\n",
            "name = \"a\"\nkeyvalue = [\"orders\", \"stock\"]\n",
        );
        let tree = parse(&format!("[node]\ndata = \"state/kv.db\"\n{text}")).unwrap();
        assert_eq!(tree.data, Path::new("dir/state/kv.db"));
        let ChildSpec::Worker(a) = &tree.root.children[0] else {
            panic!("a is a worker")
        };
        assert_eq!(a.keyvalue, ["orders", "stock"]);
    }

    #[test]
    fn bad_keyvalue_and_data_values_name_their_line() {
        let text = GOOD.replace("name = \"a\"\n", "name = \"a\"\nkeyvalue = [\"\"]\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field, "supervisor.children[0].keyvalue");
        assert!(
            err.message.contains("bucket names are 1 to 255 bytes"),
            "{err}"
        );
        let err = parse(&format!("[node]\ndata = \" \"\n{GOOD}")).unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "node.data"));
        let text = GOOD.replace(
            "strategy = \"one_for_all\"\n",
            "strategy = \"one_for_all\"\nkeyvalue = [\"x\"]\n",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field, "supervisor.keyvalue");
    }

    #[test]
    fn node_fast_traps_is_off_unless_asked_and_must_be_a_boolean() {
        assert!(!parse(GOOD).unwrap().fast_traps);
        assert!(
            parse(&format!("[node]\nfast_traps = true\n{GOOD}"))
                .unwrap()
                .fast_traps
        );
        let err = parse(&format!("[node]\nfast_traps = \"yes\"\n{GOOD}")).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn poison_is_off_by_default_and_after_counts_crashes_from_1_to_100() {
        let worker = |tree: &TreeSpec| match &tree.root.children[0] {
            ChildSpec::Worker(a) => a.poison,
            ChildSpec::Supervisor(_) => panic!("a is a worker"),
        };
        assert_eq!(worker(&parse(GOOD).unwrap()), None);
        let with = |poison: &str| {
            parse(&GOOD.replace(
                "name = \"a\"\n",
                &format!("name = \"a\"\npoison = {poison}\n"),
            ))
        };
        assert_eq!(
            worker(&with("{ after = 5 }").unwrap()),
            Some(PoisonSpec { after: 5 })
        );
        assert_eq!(
            worker(&with("{}").unwrap()),
            Some(PoisonSpec {
                after: DEFAULT_POISON_AFTER
            })
        );
        for bad in ["0", "101", "-1"] {
            let err = with(&format!("{{ after = {bad} }}")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "dir/tree.toml:13: supervisor.children[0].poison.after: \
                     must be 1 to 100 crashes, got {bad}"
                )
            );
        }
        let err = with("{ times = 3 }").unwrap_err();
        assert!(err.message.contains("unknown field `times`"), "{err}");
        let err = parse(&GOOD.replace(
            "strategy = \"rest_for_one\"",
            "strategy = \"rest_for_one\"\npoison = { after = 3 }",
        ))
        .unwrap_err();
        assert_eq!(err.field, "supervisor.children[1].poison");
        assert_eq!(err.message, "only workers take this field");
    }

    #[test]
    fn the_lines_of_children_and_deciding_fields_are_kept_for_later_messages() {
        let tree = parse(&format!("[node]\nmax_instances = 9\n{GOOD}")).unwrap();
        // After the two [node] lines, "sub" is named on line 21, its
        // strategy on 22; "pool" is dynamic on line 31.
        assert_eq!(tree.line_of("supervisor.children[1].name"), 21);
        assert_eq!(tree.line_of("supervisor.children[1].strategy"), 22);
        assert_eq!(tree.line_of("supervisor.children[2].dynamic"), 31);
        assert_eq!(tree.line_of("node.max_instances"), 2);
        // A field not kept falls back to the nearest table that is.
        let table = tree.line_of("supervisor.children[1]");
        assert!((20..=21).contains(&table), "{table}");
        assert_eq!(tree.line_of("supervisor.children[1].restart"), table);
        assert_eq!(tree.line_of("nothing.here"), 1);
    }

    // Grants, `log_rate`, `child_grants`.

    /// A scratch directory holding `data/in`, and a tree file path in it.
    fn grants_scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("arbor-spec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data/in")).unwrap();
        (dir.clone(), dir.join("tree.toml"))
    }

    #[test]
    fn a_worker_is_granted_nothing_by_default_and_what_its_fields_name() {
        let ChildSpec::Worker(a) = &parse(GOOD).unwrap().root.children[0] else {
            panic!("a is a worker")
        };
        assert!(a.grants.is_none());
        assert_eq!(a.log_rate, LogRate::default());
        let (dir, file) = grants_scratch("grants");
        let text = GOOD.replace(
            "name = \"a\"\n",
            "name = \"a\"\ndirs = [{ host = \"data/in\", guest = \"/in\" }, { host = \"data\", guest = \"/data\", mode = \"rw\" }]\n\
             env = { REGION = \"eu\" }\nhttp_outgoing = [\"api.example.com\", \"127.0.0.1:9000\"]\n\
             sockets = { connect = [\"127.0.0.1:5432\"] }\nlog_rate = { lines_per_sec = 5, burst = 50 }\n",
        );
        let tree = TreeSpec::parse(&file, &text).unwrap();
        let ChildSpec::Worker(a) = &tree.root.children[0] else {
            panic!("a is a worker")
        };
        let grants = a.grants.as_deref().expect("granted");
        assert_eq!(
            grants.dirs[0].host,
            std::fs::canonicalize(dir.join("data/in")).unwrap()
        );
        assert_eq!(grants.dirs[1].mode, crate::grants::DirMode::ReadWrite);
        assert_eq!(grants.env, [("REGION".to_string(), "eu".to_string())]);
        assert_eq!(grants.http_outgoing[1].port, Some(9000));
        assert_eq!(grants.sockets.as_ref().unwrap().connect.len(), 1);
        assert_eq!(
            a.log_rate,
            LogRate {
                lines_per_sec: 5,
                burst: 50
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_granted_directory_is_an_error_naming_file_line_and_field() {
        let (dir, file) = grants_scratch("missing-dir");
        let text = GOOD.replace(
            "name = \"a\"\n",
            "name = \"a\"\ndirs = [{ host = \"data/gone\", guest = \"/gone\" }]\n",
        );
        let err = TreeSpec::parse(&file, &text).unwrap_err();
        assert_eq!(
            (err.line, err.field.as_str()),
            (13, "supervisor.children[0].dirs")
        );
        assert!(
            err.message
                .starts_with("the directory data/gone does not exist"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tls_roots_are_read_with_the_tree_and_a_bad_file_names_its_line() {
        let (dir, file) = grants_scratch("tls-roots");
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
        std::fs::copy(&ca, dir.join("ca.pem")).unwrap();
        std::fs::write(dir.join("empty.pem"), "not a certificate\n").unwrap();
        let with = |files: &str| format!("[node]\ntls_roots = [{files}]\n{GOOD}");
        let tree = TreeSpec::parse(&file, &with("\"ca.pem\"")).unwrap();
        assert_eq!(tree.tls_roots.files, ["ca.pem"]);
        assert!(parse(GOOD).unwrap().tls_roots.is_empty(), "none by default");
        for (files, field, message) in [
            (
                "\"ca.pem\", \"gone.pem\"",
                "node.tls_roots[1]",
                "cannot read gone.pem",
            ),
            (
                "\"empty.pem\"",
                "node.tls_roots[0]",
                "empty.pem holds no certificate",
            ),
            ("\"data\"", "node.tls_roots[0]", "data is not a file"),
            ("\" \"", "node.tls_roots[0]", "the file name is empty"),
        ] {
            let err = TreeSpec::parse(&file, &with(files)).unwrap_err();
            assert_eq!((err.line, err.field.as_str()), (2, field), "{err}");
            assert!(err.message.starts_with(message), "{err}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_grants_and_log_rates_name_their_field() {
        let cases = [
            (
                "http_outgoing = [\"http://x.com\"]",
                "supervisor.children[0].http_outgoing",
                "not a URL",
            ),
            (
                "sockets = { connect = [\"localhost:80\"] }",
                "supervisor.children[0].sockets",
                "IP:PORT",
            ),
            (
                "env = { \"A=B\" = \"x\" }",
                "supervisor.children[0].env",
                "not a variable name",
            ),
            (
                "log_rate = { lines_per_sec = 0 }",
                "supervisor.children[0].log_rate.lines_per_sec",
                "must be 1 to",
            ),
            (
                "log_rate = { per_second = 3 }",
                "supervisor.children[0].log_rate.per_second",
                "unknown field `per_second`",
            ),
        ];
        for (line, field, why) in cases {
            let text = GOOD.replace("name = \"a\"\n", &format!("name = \"a\"\n{line}\n"));
            let err = parse(&text).unwrap_err();
            assert_eq!((err.line, err.field.as_str()), (13, field), "{err}");
            assert!(err.message.contains(why), "{err}");
        }
        let err = parse(&GOOD.replace(
            "strategy = \"rest_for_one\"",
            "strategy = \"rest_for_one\"\nenv = { A = \"b\" }",
        ))
        .unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("supervisor.children[1].env", "only workers take this field")
        );
        let err = parse(&GOOD.replace("name = \"a\"\n", "name = \"a\"\nchild_grants = {}\n"))
            .unwrap_err();
        assert_eq!(err.field, "supervisor.children[0].child_grants");
    }

    #[test]
    fn a_supervisors_child_grants_name_what_its_run_time_children_may_have() {
        assert!(parse(GOOD).unwrap().root.children[2].name() == "pool");
        let (dir, file) = grants_scratch("child-grants");
        let text = GOOD.replace(
            "dynamic = { max_children = 3 }",
            "dynamic = { max_children = 3 }\nchild_grants = { dirs = [{ host = \"data\", mode = \"rw\" }], env = [\"ORDER\"], keyvalue = [\"orders\"] }",
        );
        let tree = TreeSpec::parse(&file, &text).unwrap();
        let ChildSpec::Supervisor(pool) = &tree.root.children[2] else {
            panic!("pool is a supervisor")
        };
        let ceiling = pool.child_grants.as_deref().expect("a ceiling");
        assert_eq!(
            ceiling.dirs[0].0,
            std::fs::canonicalize(dir.join("data")).unwrap()
        );
        assert_eq!(ceiling.keyvalue, ["orders"]);
        assert!(tree.root.child_grants.is_none());
        let err = TreeSpec::parse(&file, &text.replace("host = \"data\"", "host = \"nope\""))
            .unwrap_err();
        assert_eq!(err.field, "supervisor.children[2].child_grants.dirs");
        assert_eq!(err.line, 30);
        let _ = std::fs::remove_dir_all(dir);
    }
}
