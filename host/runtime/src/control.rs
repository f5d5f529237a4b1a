//! The control plane of a running host: a Unix socket speaking JSON lines.
//!
//! Each connection sends one [`Request`] per line and gets one [`Response`]
//! per line, except `events`, which streams the event stream (one JSON event
//! per line) until the client hangs up. The socket is created owner-only
//! (0600): whoever can connect can stop the tree.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::grants::GrantRequest;
use crate::mailbox::MAX_MESSAGE_BYTES;
use crate::node::{Node, NodeHandle};
use crate::spec::{SupervisorSpec, TreeSpec, WorkerSpec, check_name};
use crate::swap::{SwapError, SwapOptions};
use crate::upgrade::apply::ApplyOptions;
use crate::vocab::{RestartType, StartOutcome};

/// Events queued for one `events` connection that is not reading. A client
/// that falls this far behind loses the next events and reads an
/// `events_dropped` event saying how many; the host does not grow for it.
/// An event is ~150 bytes (at most ~64 KiB: details are capped).
pub const EVENTS_QUEUE: usize = 1024;

/// The longest request line the host reads, in bytes. A `call`, `cast` or
/// `kv set` carries at most [`MAX_MESSAGE_BYTES`] of text, which JSON may
/// spell with up to 6 bytes a byte (`\u0000`); 1 MiB more is room for the
/// rest of the request. A longer line is answered with an error and
/// skipped, never held in memory whole: a client that never sends a
/// newline cannot grow the host.
pub const MAX_REQUEST_BYTES: usize = 6 * MAX_MESSAGE_BYTES + (1 << 20);

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The live tree.
    Tree,
    /// Call a worker; the message is text, the reply a [`CallReply`].
    Call {
        /// The worker.
        name: String,
        /// The message.
        message: String,
    },
    /// Cast to a worker.
    Cast {
        /// The worker.
        name: String,
        /// The message.
        message: String,
    },
    /// Add a worker under a supervisor. Answers `null` once it runs, or a
    /// text starting `ignored` when its `init` answered `ignore`.
    StartChild {
        /// The supervisor (name or path).
        supervisor: String,
        /// A name from `[components]`.
        component: String,
        /// The new child's name.
        name: String,
        /// `init` args (JSON text).
        #[serde(default)]
        args: Option<String>,
        /// permanent, transient or temporary (default permanent).
        #[serde(default)]
        restart: Option<String>,
        /// What it may reach: within the supervisor's `child_grants`
        /// (host directories relative to the tree file's directory).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grants: Option<GrantRequest>,
    },
    /// Add a whole supervisor (and its children) under a supervisor.
    StartSubtree {
        /// The supervisor (name or path).
        supervisor: String,
        /// Where the text came from, for messages.
        file: String,
        /// TOML whose `[supervisor]` table is the new child.
        tree: String,
    },
    /// Forget a stopped child of a static supervisor.
    DeleteChild {
        /// The supervisor.
        supervisor: String,
        /// The child.
        name: String,
    },
    /// Stop a child.
    StopChild {
        /// The supervisor.
        supervisor: String,
        /// The child.
        name: String,
    },
    /// Kill a running child as if it had crashed (OTP's `exit(Pid,
    /// kill)`): its supervisor restarts it, or not, as after any crash.
    /// Answers `null` once the kill is sent.
    Crash {
        /// The child (name or path).
        name: String,
    },
    /// Start a stopped child again; answers as `StartChild`.
    RestartChild {
        /// The supervisor.
        supervisor: String,
        /// The child.
        name: String,
    },
    /// Hot-swap a worker (`name`), every worker of a component
    /// (`component`), or undo a worker's last swap (`undo`). Answers the
    /// report as text; an error says what was refused or rolled back.
    Swap(SwapCommand),
    /// Change the running tree to match a changed tree file (or, with
    /// `dry_run`, print the plan). Answers the report as text; an error
    /// says which step failed, what was rolled back and what stays applied.
    Apply(ApplyCommand),
    /// Read or write the host's key-value store, as the guests do
    /// (`arbor ctl kv`).
    Kv(KvCommand),
    /// Why a child is at its current generation: its last exits, the
    /// decisions on them, and its supervisors' (an [`crate::observe::why::Why`]).
    Why {
        /// The child (name or path).
        name: String,
    },
    /// The dead-letter store: a [`crate::dead_letters::DeadLetterList`]
    /// of every worker's letters, or of `name`'s (a name or a path).
    DeadLetters {
        /// The worker whose letters to list; all when unset.
        #[serde(default)]
        name: Option<String>,
    },
    /// Send dead letter `id` to its child again, as a call: the reply is a
    /// [`CallReply`].
    Redeliver {
        /// The letter's id.
        id: u64,
    },
    /// Count a supervisor's children.
    CountChildren {
        /// The supervisor.
        supervisor: String,
    },
    /// How full the instance pool is.
    Instances,
    /// Stream events until the connection closes.
    Events,
    /// Stop the tree in order and exit.
    Shutdown,
}

impl Request {
    /// Decodes one request line (without its newline) as the host does;
    /// the error is the text of the answer: what is wrong with the line.
    pub fn decode(line: &[u8]) -> Result<Request, String> {
        let text = std::str::from_utf8(line).map_err(|e| {
            format!(
                "bad request: not UTF-8 text (an invalid byte at offset {}); a request is one JSON object per line",
                e.valid_up_to()
            )
        })?;
        serde_json::from_str(text).map_err(|e| {
            let hint = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    " (a request is one JSON object per line, e.g. {\"cmd\":\"tree\"})"
                }
                _ => "",
            };
            // serde names the Rust type it expected; a client wrote JSON.
            let said = e
                .to_string()
                .replace(
                    "internally tagged enum Request",
                    "a JSON object with a \"cmd\"",
                )
                .replace(
                    "internally tagged enum KvCommand",
                    "a JSON object with an \"op\"",
                );
            format!("bad request: {said}{hint}")
        })
    }
}

/// What `arbor ctl kv` asks for: the same store, limits and commits as a
/// guest's `wasi:keyvalue` calls (an operator needs no grant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KvCommand {
    /// The value of `key`: answers a [`CallReply`] (its bytes), or an
    /// error when there is none.
    Get {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Set `key` to `value`; answers `null` once committed.
    Set {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The value (text).
        value: String,
    },
    /// Every key of `bucket`, in order: answers a list of strings.
    List {
        /// The bucket.
        bucket: String,
    },
}

/// What `arbor ctl swap` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapCommand {
    /// The worker to swap (or undo); unset with `component`.
    #[serde(default)]
    pub name: Option<String>,
    /// The component whose workers all swap.
    #[serde(default)]
    pub component: Option<String>,
    /// The new component file, an absolute path on the host's machine;
    /// unset for `undo`.
    #[serde(default)]
    pub file: Option<String>,
    /// Go back to the worker's previous version.
    #[serde(default)]
    pub undo: bool,
    /// See [`SwapOptions::fresh`].
    #[serde(default)]
    pub fresh: bool,
    /// See [`SwapOptions::probation`]; the default when unset.
    #[serde(default)]
    pub probation_ms: Option<u64>,
    /// See [`SwapOptions::drain_timeout`]; the default when unset.
    #[serde(default)]
    pub drain_timeout_ms: Option<u64>,
    /// See [`SwapOptions::canary`].
    #[serde(default)]
    pub canary: usize,
    /// See [`SwapOptions::batch`]; the default when unset.
    #[serde(default)]
    pub batch: Option<usize>,
    /// See [`SwapOptions::dry_run`].
    #[serde(default)]
    pub dry_run: bool,
}

impl SwapCommand {
    /// The options it asks for, defaults where it says nothing.
    pub fn options(&self) -> SwapOptions {
        let defaults = SwapOptions::default();
        SwapOptions {
            fresh: self.fresh,
            probation: self
                .probation_ms
                .map_or(defaults.probation, Duration::from_millis),
            drain_timeout: self
                .drain_timeout_ms
                .map_or(defaults.drain_timeout, Duration::from_millis),
            canary: self.canary,
            batch: self.batch.unwrap_or(defaults.batch),
            dry_run: self.dry_run,
        }
    }

    /// Carries the command out on `node`: the report's text, or why not.
    pub async fn carry_out(&self, node: &NodeHandle) -> Result<String, SwapError> {
        let options = self.options();
        let file = || {
            self.file
                .as_deref()
                .map(Path::new)
                .ok_or_else(|| SwapError::Load("no component file given".to_string()))
        };
        match (&self.name, &self.component) {
            (Some(name), _) if self.undo => Ok(node.undo_swap(name, &options).await?.to_string()),
            (_, Some(component)) => {
                let new = node.prepare_component(component, file()?).await?;
                Ok(node
                    .swap_component(component, new, &options)
                    .await?
                    .to_string())
            }
            (Some(name), None) => {
                let component = node.worker_component(name)?;
                let new = node.prepare_component(&component, file()?).await?;
                Ok(node.swap_child(name, new, &options).await?.to_string())
            }
            (None, None) => Err(SwapError::Load(
                "the swap names no worker (`name`) and no component (`component`)".to_string(),
            )),
        }
    }
}

/// What `arbor ctl apply` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyCommand {
    /// The tree file, an absolute path on the host's machine (its
    /// components are found relative to it).
    pub file: String,
    /// Print the plan and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// How its component swaps are carried out (only the swap settings
    /// are used: a swap in an apply is never a dry run of its own).
    #[serde(default)]
    pub swap: SwapCommand,
}

impl ApplyCommand {
    /// The options it asks for.
    pub fn options(&self) -> ApplyOptions {
        ApplyOptions {
            dry_run: self.dry_run,
            swap: SwapOptions {
                dry_run: false,
                ..self.swap.options()
            },
        }
    }

    /// Carries the command out on `node`: the report's text, or why not.
    pub async fn carry_out(&self, node: &NodeHandle) -> Result<String, String> {
        // Off the async threads: the control socket and the signals are
        // served on one, and the path may be slow to read (or a pipe).
        let file = PathBuf::from(&self.file);
        let tree = tokio::task::spawn_blocking(move || TreeSpec::load(&file))
            .await
            .expect("reading a tree file does not panic")
            .map_err(|e| e.to_string())?;
        node.apply(&tree, &self.options())
            .await
            .map(|report| report.to_string())
            .map_err(|e| e.to_string())
    }
}

/// The reply of a `call`, byte for byte.
///
/// A guest replies bytes, not necessarily UTF-8, and a JSON string holds
/// text only, so on the wire the reply is standard base64:
/// `{"base64":"AP+A/g=="}` (a lossy UTF-8 conversion would turn each
/// invalid byte into U+FFFD and lose it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReply(pub Vec<u8>);

impl CallReply {
    /// The reply's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The reply as standard base64 with padding.
    pub fn to_base64(&self) -> String {
        BASE64_STANDARD.encode(&self.0)
    }
}

/// [`CallReply`] as it is on the wire.
#[derive(Serialize, Deserialize)]
struct WireReply {
    base64: String,
}

impl Serialize for CallReply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireReply {
            base64: self.to_base64(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CallReply {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireReply::deserialize(deserializer)?;
        BASE64_STANDARD
            .decode(wire.base64)
            .map(CallReply)
            .map_err(serde::de::Error::custom)
    }
}

/// A control response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result: a [`CallReply`] for `call` and `redeliver`, a JSON value
    /// for `tree`, `instances`, `count_children` and `dead_letters`, text
    /// or null for the others.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<serde_json::Value>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Response {
    fn ok(value: serde_json::Value) -> Self {
        Response {
            ok: true,
            value: Some(value),
            error: None,
        }
    }

    fn err(error: impl ToString) -> Self {
        Response {
            ok: false,
            value: None,
            error: Some(error.to_string()),
        }
    }
}

/// Why the control socket could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Something else is listening on the path.
    #[error("{}: a host is already listening on this control socket", .0.display())]
    InUse(PathBuf),
    /// The path holds something other than a socket, which binding would
    /// have to delete: someone's file, not a stale socket of a dead host.
    #[error("{}: is {kind}, not a socket; not replacing it", path.display())]
    NotASocket {
        /// The control path.
        path: PathBuf,
        /// What is there, e.g. "a regular file".
        kind: &'static str,
    },
    /// The socket could not be created or reached. The I/O error is the
    /// source, not repeated in the message (a chain printer shows it once).
    #[error("{}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The host answered something that is not a response.
    #[error("bad response from the host: {0}")]
    Protocol(String),
}

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlServer {
    /// Binds `path` (owner-only). A stale socket left by a dead host is
    /// replaced; anything else at `path` is an error, never deleted.
    pub async fn bind(path: &Path) -> Result<ControlServer, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        remove_stale_socket(path).await?;
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves connections until the task is dropped. A `shutdown` request is
    /// passed to `shutdown` for the owner of the node to act on.
    ///
    /// A failed `accept` (EMFILE when out of descriptors, ENOBUFS, ...)
    /// leaves the connection queued and the socket readable, so accepting
    /// again at once fails again at once: a busy loop. Like hyper's
    /// `sleep_on_errors`, wait a little first (a descriptor freed meanwhile
    /// lets the next attempt succeed); the warning is logged once per run
    /// of failures, not once per attempt.
    pub async fn serve(self, node: Arc<Node>, shutdown: mpsc::UnboundedSender<()>) {
        let mut failures: u64 = 0;
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(
                            "control socket {}: cannot accept a connection: {e}; retrying every {} ms",
                            self.path.display(),
                            ACCEPT_RETRY.as_millis()
                        );
                    }
                    failures += 1;
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            if failures > 0 {
                tracing::info!(
                    "control socket {}: accepting again after {failures} failed attempts",
                    self.path.display()
                );
                failures = 0;
            }
            let node = node.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_connection(stream, node, shutdown).await {
                    tracing::debug!("control connection ended: {e}");
                }
            });
        }
    }
}

/// How long [`ControlServer::serve`] waits after a failed `accept`.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Clears `path` for binding: nothing there is fine, a socket nobody answers
/// on is a dead host's and is removed, a live one is [`ControlError::InUse`].
/// Anything else (a file, a directory, a symlink) is someone's: a typo in
/// `--control` must not delete it.
async fn remove_stale_socket(path: &Path) -> Result<(), ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_type = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if !file_type.is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_path_buf(),
            kind: crate::engine::file_kind(file_type),
        });
    }
    if UnixStream::connect(path).await.is_ok() {
        return Err(ControlError::InUse(path.to_path_buf()));
    }
    std::fs::remove_file(path).map_err(io)
}

async fn serve_connection(
    stream: UnixStream,
    node: Arc<Node>,
    shutdown: mpsc::UnboundedSender<()>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    while let Some(complete) = read_request_line(&mut read, &mut line).await? {
        let decoded = if complete {
            Request::decode(&line)
        } else {
            Err(format!(
                "bad request: the line is longer than {MAX_REQUEST_BYTES} bytes, the most a request may be; it was skipped"
            ))
        };
        let request = match decoded {
            Ok(r) => r,
            Err(e) => {
                write_line(&mut write, &Response::err(e)).await?;
                continue;
            }
        };
        if request == Request::Events {
            let mut events = node.events().subscribe_bounded(EVENTS_QUEUE);
            write_line(&mut write, &Response::ok(serde_json::Value::Null)).await?;
            while let Some(event) = events.recv().await {
                write_line(&mut write, &event).await?;
            }
            return Ok(());
        }
        let response = handle(&node, request, &shutdown).await;
        write_line(&mut write, &response).await?;
    }
    Ok(())
}

/// Reads the next line into `line` (without its `\n` or `\r\n`): `None`
/// at the end of the stream, `Some(false)` for a line longer than
/// [`MAX_REQUEST_BYTES`], which is read to its end and dropped (`line` is
/// left empty). Bytes, not text: a line that is not UTF-8 is the decoder's
/// to refuse, and the connection goes on.
async fn read_request_line<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    use tokio::io::AsyncReadExt;
    line.clear();
    let limit = MAX_REQUEST_BYTES as u64 + 1;
    if (&mut *read).take(limit).read_until(b'\n', line).await? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        return Ok(Some(true));
    }
    if line.len() <= MAX_REQUEST_BYTES {
        return Ok(Some(true)); // the last line, without a newline
    }
    // Too long: skip to its end in bounded pieces, keeping none of it.
    *line = Vec::new();
    let mut skipped = Vec::with_capacity(64 << 10);
    loop {
        skipped.clear();
        let n = (&mut *read)
            .take(64 << 10)
            .read_until(b'\n', &mut skipped)
            .await?;
        if n == 0 || skipped.last() == Some(&b'\n') {
            return Ok(Some(false));
        }
    }
}

async fn write_line<T: Serialize>(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    value: &T,
) -> std::io::Result<()> {
    let mut line = serde_json::to_string(value).expect("responses serialize");
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

/// The answer to a start that did not fail: `ctl` prints `ok` for a child
/// that runs, and says so when it does not, since an ignored child is not
/// an error but is not running either.
fn started(outcome: StartOutcome) -> Response {
    match outcome {
        StartOutcome::Running => Response::ok(serde_json::Value::Null),
        StartOutcome::Ignored => Response::ok(serde_json::Value::String(
            "ignored: its init answered ignore, so it is not running".to_string(),
        )),
    }
}

/// `arbor ctl kv`: one operation on the host's store.
async fn kv(node: &NodeHandle, command: KvCommand) -> Response {
    let store = node.keyvalue();
    let failed = |e: crate::keyvalue::KvError| Response::err(e);
    match command {
        KvCommand::Get { bucket, key } => match store.get(&bucket, &key).await {
            Ok(Some(value)) => {
                Response::ok(serde_json::to_value(CallReply(value)).expect("replies serialize"))
            }
            Ok(None) => Response::err(format!("bucket {bucket:?} has no key {key:?}")),
            Err(e) => failed(e),
        },
        KvCommand::Set { bucket, key, value } => {
            match store.set(&bucket, &key, value.into_bytes()).await {
                Ok(()) => Response::ok(serde_json::Value::Null),
                Err(e) => failed(e),
            }
        }
        KvCommand::List { bucket } => match store.keys(&bucket).await {
            Ok(keys) => Response::ok(serde_json::to_value(keys).expect("keys serialize")),
            Err(e) => failed(e),
        },
    }
}

/// Carries out `request` as the control socket does for `arbor ctl`: the
/// observer's actions take this path. `events` and `shutdown` belong to the
/// socket and are refused here.
pub async fn carry_out(node: &NodeHandle, request: Request) -> Response {
    match request {
        Request::Events | Request::Shutdown => Response::err("not available here"),
        request => handle(node, request, &mpsc::unbounded_channel().0).await,
    }
}

async fn handle(
    node: &NodeHandle,
    request: Request,
    shutdown: &mpsc::UnboundedSender<()>,
) -> Response {
    use serde_json::Value;
    match request {
        Request::Tree => match node.tree().await {
            Ok(report) => Response::ok(serde_json::to_value(report).expect("reports serialize")),
            Err(e) => Response::err(e),
        },
        Request::Instances => match node.instances() {
            Some(usage) => Response::ok(serde_json::to_value(usage).expect("usage serializes")),
            None => Response::ok(Value::String(
                "on-demand allocator: no instance pool, no capacity limit".to_string(),
            )),
        },
        Request::Call { name, message } => match node.call(&name, message.into_bytes()).await {
            Ok(reply) => {
                Response::ok(serde_json::to_value(CallReply(reply)).expect("replies serialize"))
            }
            Err(e) => Response::err(format!("call to {name} failed: {e}")),
        },
        Request::Kv(command) => kv(node, command).await,
        Request::DeadLetters { name } => {
            let list = node.dead_letters(name.as_deref());
            match name {
                // Letters outlive their child (a temporary child that has
                // stopped keeps its letters): a name is unknown only when
                // neither the tree nor the store has it.
                Some(name) if list.letters.is_empty() && !node.has_child(&name) => Response::err(
                    format!("no child named {name:?} in the tree, and no dead letters for it"),
                ),
                _ => Response::ok(serde_json::to_value(list).expect("letters serialize")),
            }
        }
        Request::Redeliver { id } => match node.redeliver(id).await {
            Ok(reply) => {
                Response::ok(serde_json::to_value(CallReply(reply)).expect("replies serialize"))
            }
            Err(e) => Response::err(e),
        },
        Request::Cast { name, message } => match node.cast(&name, message.into_bytes()) {
            Ok(()) => Response::ok(Value::Null),
            Err(e) => Response::err(format!("cast to {name} failed: {e}")),
        },
        Request::StartChild {
            supervisor,
            component,
            name,
            args,
            restart,
            grants,
        } => {
            if let Err(e) = check_name(&name) {
                return Response::err(e);
            }
            let restart = match restart
                .as_deref()
                .map_or(Ok(RestartType::Permanent), RestartType::parse)
            {
                Ok(r) => r,
                Err(e) => return Response::err(e),
            };
            let mut spec = WorkerSpec::new(name, component);
            spec.restart = restart;
            spec.args = args.unwrap_or_default().into_bytes();
            if let Some(request) = grants {
                match request.read() {
                    Ok((grants, keyvalue)) => {
                        spec.grants = grants.map(Arc::new);
                        spec.keyvalue = keyvalue;
                    }
                    Err(e) => return Response::err(format!("bad grant: {e}")),
                }
            }
            match node.start_child(&supervisor, spec).await {
                Ok(outcome) => started(outcome),
                Err(e) => Response::err(e),
            }
        }
        Request::StartSubtree {
            supervisor,
            file,
            tree,
        } => {
            let spec = match SupervisorSpec::parse_subtree(
                std::path::Path::new(&file),
                &tree,
                &node.component_names(),
            ) {
                Ok(spec) => spec,
                Err(e) => return Response::err(e),
            };
            match node.start_child(&supervisor, spec).await {
                Ok(outcome) => started(outcome),
                Err(e) => Response::err(e),
            }
        }
        Request::Swap(command) => match command.carry_out(node).await {
            Ok(text) => Response::ok(Value::String(text)),
            Err(e) => Response::err(e),
        },
        Request::Apply(command) => match command.carry_out(node).await {
            Ok(text) => Response::ok(Value::String(text)),
            Err(e) => Response::err(e),
        },
        Request::DeleteChild { supervisor, name } => {
            match node.delete_child(&supervisor, &name).await {
                Ok(()) => Response::ok(Value::Null),
                Err(e) => Response::err(e),
            }
        }
        Request::Crash { name } => match node.crash_child(&name).await {
            Ok(()) => Response::ok(Value::Null),
            Err(e) => Response::err(e),
        },
        Request::StopChild { supervisor, name } => {
            match node.terminate_child(&supervisor, &name).await {
                Ok(()) => Response::ok(Value::Null),
                Err(e) => Response::err(e),
            }
        }
        Request::RestartChild { supervisor, name } => {
            match node.restart_child(&supervisor, &name).await {
                Ok(outcome) => started(outcome),
                Err(e) => Response::err(e),
            }
        }
        Request::CountChildren { supervisor } => match node.count_children(&supervisor).await {
            Ok(counts) => Response::ok(serde_json::to_value(counts).expect("counts serialize")),
            Err(e) => Response::err(e),
        },
        Request::Why { name } => match node.why(&name) {
            Ok(why) => Response::ok(serde_json::to_value(why).expect("why serializes")),
            Err(e) => Response::err(e),
        },
        Request::Shutdown => {
            let _ = shutdown.send(());
            Response::ok(Value::String("stopping".to_string()))
        }
        Request::Events => Response::err("events is a stream"),
    }
}

/// A client of a host's control socket.
pub struct ControlClient {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl ControlClient {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<ControlClient, ControlError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ControlError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let (read, write) = stream.into_split();
        Ok(ControlClient {
            lines: BufReader::new(read).lines(),
            write,
        })
    }

    /// Sends one request and reads its response.
    pub async fn request(&mut self, request: &Request) -> Result<Response, ControlError> {
        let protocol = |e: std::io::Error| ControlError::Protocol(e.to_string());
        write_line(&mut self.write, request)
            .await
            .map_err(protocol)?;
        let line = self
            .lines
            .next_line()
            .await
            .map_err(protocol)?
            .ok_or_else(|| ControlError::Protocol("the host closed the connection".to_string()))?;
        serde_json::from_str(&line).map_err(|e| ControlError::Protocol(format!("{e}: {line}")))
    }

    /// After an `events` request: the next raw event line.
    pub async fn next_line(&mut self) -> Result<Option<String>, ControlError> {
        self.lines
            .next_line()
            .await
            .map_err(|e| ControlError::Protocol(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_reply_crosses_the_wire_byte_for_byte() {
        let reply = CallReply(vec![0x00, 0xff, 0x80, 0xfe]);
        let wire = serde_json::to_string(&reply).unwrap();
        assert_eq!(wire, r#"{"base64":"AP+A/g=="}"#);
        assert_eq!(serde_json::from_str::<CallReply>(&wire).unwrap(), reply);
        assert!(serde_json::from_str::<CallReply>(r#"{"base64":"not base64!"}"#).is_err());
    }
}
