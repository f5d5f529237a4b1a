//! Bad input of every kind the host meets: tree files with each mistake,
//! files that are not a usable component, and garbage on the control
//! socket. Each gets one clear error naming the problem and where, and a
//! running host keeps serving without losing a queued message.
//!
//! (Mistakes tested elsewhere are not repeated: an unknown restart type,
//! strategy or shutdown, a duplicate worker name, an unknown component,
//! bad mailbox bounds, bad grants, a granted directory that does not exist
//! and bad `backoff` and `poison` tables in `spec.rs`; `significant` in
//! `auto_shutdown.rs`; an unknown `may_start` supervisor in
//! `guest_tree.rs`; text, a core module
//! and a component without exports in `engine.rs` and `swap.rs`; unknown
//! names given to the library in `calls.rs`, `dynamic.rs` and `swap.rs`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::control::{ControlServer, MAX_REQUEST_BYTES, Response};
use arbor::{ArborEngine, EventSink, LoadError, Node, NodeOptions, TreeSpec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::support::{PATIENCE, probe, tree, user_cache};

/// A tree using each kind of table, by line:
const TREE: &str = r#"[components]
probe = "probe.wasm"

[supervisor]
name = "root"
strategy = "one_for_one"
max_restarts = 3
max_seconds = 5

[[supervisor.children]]
name = "a"
component = "probe"
timeout_ms = 1000

[[supervisor.children]]
name = "team"
strategy = "one_for_all"

[[supervisor.children.children]]
name = "b"
component = "probe"

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 10 }
"#;

/// [`TREE`] with its line `line` (1-based) replaced by `text`.
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = TREE.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

/// Each mistake, the line and field its error names, and part of what it says.
fn mistakes() -> Vec<(&'static str, String, usize, &'static str, &'static str)> {
    vec![
        // Unknown fields, in each kind of table.
        (
            "unknown worker field",
            with_line(13, "timeout = 1000"),
            13,
            "supervisor.children[0].timeout",
            "unknown field `timeout`, expected one of `name`",
        ),
        (
            "unknown field of dynamic",
            with_line(25, "dynamic = { max_childs = 10 }"),
            25,
            "supervisor.children[2].dynamic.max_childs",
            "unknown field `max_childs`, expected `max_children`",
        ),
        (
            "unknown [node] field",
            with_line(3, "[node]\nmax_instance = 5\n"),
            4,
            "node.max_instance",
            "unknown field `max_instance`",
        ),
        (
            "unknown table",
            with_line(3, "[supervisors]\nname = \"x\"\n"),
            3,
            "supervisors",
            "unknown field `supervisors`",
        ),
        // Bad enums.
        (
            "bad auto_shutdown",
            with_line(6, "auto_shutdown = \"sometimes\""),
            6,
            "supervisor.auto_shutdown",
            "\"sometimes\"",
        ),
        (
            "bad restart type of a supervisor",
            with_line(17, "strategy = \"one_for_all\"\nrestart = \"always\""),
            18,
            "supervisor.children[1].restart",
            "unknown restart type \"always\"",
        ),
        // Values of the wrong type, named in TOML's words.
        (
            "a number for a name",
            with_line(11, "name = 5"),
            11,
            "supervisor.children[0].name",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "text for milliseconds",
            with_line(13, "timeout_ms = \"1s\""),
            13,
            "supervisor.children[0].timeout_ms",
            "invalid type: string \"1s\", expected an integer",
        ),
        (
            "a fraction for milliseconds",
            with_line(13, "timeout_ms = 1.5"),
            13,
            "supervisor.children[0].timeout_ms",
            "invalid type: floating point `1.5`, expected an integer",
        ),
        (
            "a string for a list",
            with_line(13, "may_call = \"b\""),
            13,
            "supervisor.children[0].may_call",
            "expected an array",
        ),
        (
            "a number for a table",
            with_line(25, "dynamic = 3"),
            25,
            "supervisor.children[2].dynamic",
            "invalid type: integer `3`, expected a table",
        ),
        (
            "a number for the root table",
            "supervisor = 5\n".to_string(),
            1,
            "supervisor",
            "invalid type: integer `5`, expected a table",
        ),
        (
            "a number for args",
            with_line(13, "args = 5"),
            13,
            "supervisor.children[0].args",
            "expected a string or a table, got 5",
        ),
        (
            "a number for a component path",
            with_line(2, "probe = 5"),
            2,
            "components.probe",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "a value with line breaks, shown on one line",
            with_line(13, "shutdown_ms = [\"\\n\\n\"]"),
            13,
            "supervisor.children[0].shutdown_ms",
            "got [\"\"\"\\n\\n\\n\"\"\"]",
        ),
        // Names given twice.
        (
            "a key twice in a table",
            with_line(12, "component = \"probe\"\nname = \"a2\""),
            13,
            "supervisor.children[0].name",
            "duplicate key",
        ),
        (
            "a worker named as its supervisor",
            with_line(20, "name = \"team\""),
            20,
            "supervisor.children[1].children[0].name",
            "the name \"team\" is used twice",
        ),
        (
            "the root table twice",
            format!("{TREE}\n[supervisor]\nname = \"again\"\n"),
            27,
            "supervisor",
            "duplicate key",
        ),
        // Negative and absurd limits.
        (
            "negative deadline",
            with_line(13, "timeout_ms = -1"),
            13,
            "supervisor.children[0].timeout_ms",
            "must be a positive number of milliseconds, got -1",
        ),
        (
            "zero call timeout",
            with_line(13, "call_timeout_ms = 0"),
            13,
            "supervisor.children[0].call_timeout_ms",
            "must be a positive number of milliseconds, got 0",
        ),
        (
            "an integer past 64 bits",
            with_line(13, "timeout_ms = -99999999999999999999"),
            13,
            "supervisor.children[0].timeout_ms",
            "the integer -99999999999999999999 is out of range (at most 64 bits",
        ),
        (
            "no memory",
            with_line(13, "max_memory_mb = 0"),
            13,
            "supervisor.children[0].max_memory_mb",
            "must be 1 to 4096, got 0",
        ),
        (
            "negative memory",
            with_line(13, "max_memory_mb = -1"),
            13,
            "supervisor.children[0].max_memory_mb",
            "must be 1 to 4096, got -1",
        ),
        (
            "more memory than a slot",
            with_line(13, "max_memory_mb = 9223372036854775807"),
            13,
            "supervisor.children[0].max_memory_mb",
            "must be 1 to 4096, got 9223372036854775807",
        ),
        (
            "negative restarts",
            with_line(7, "max_restarts = -1"),
            7,
            "supervisor.max_restarts",
            "must be 0 to 4294967295, got -1",
        ),
        (
            "more restarts than count",
            with_line(7, "max_restarts = 4294967296"),
            7,
            "supervisor.max_restarts",
            "must be 0 to 4294967295, got 4294967296",
        ),
        (
            "a window of no time",
            with_line(8, "max_seconds = 0"),
            8,
            "supervisor.max_seconds",
            "must be more than 0, got 0",
        ),
        (
            "a negative window",
            with_line(8, "max_seconds = -2.5"),
            8,
            "supervisor.max_seconds",
            "must be more than 0, got -2.5",
        ),
        (
            "a window of not a number",
            with_line(8, "max_seconds = nan"),
            8,
            "supervisor.max_seconds",
            "must be more than 0, got NaN",
        ),
        (
            "an endless window",
            with_line(8, "max_seconds = inf"),
            8,
            "supervisor.max_seconds",
            "must be at most 31536000 (one year), got inf",
        ),
        (
            "a window as text",
            with_line(8, "max_seconds = \"5\""),
            8,
            "supervisor.max_seconds",
            "expected a number, got \"5\"",
        ),
        (
            "room for no dynamic child",
            with_line(25, "dynamic = { max_children = 0 }"),
            25,
            "supervisor.children[2].dynamic.max_children",
            "must be 1 or more, got 0",
        ),
        (
            "negative dynamic children",
            with_line(25, "dynamic = { max_children = -3 }"),
            25,
            "supervisor.children[2].dynamic.max_children",
            "must be 1 or more, got -3",
        ),
        (
            "negative shutdown",
            with_line(13, "shutdown_ms = -1"),
            13,
            "supervisor.children[0].shutdown_ms",
            "expected milliseconds (>= 0), \"brutal_kill\" or \"infinity\", got -1",
        ),
        (
            "a mailbox past its maximum",
            with_line(13, "mailbox_capacity = 1000001"),
            13,
            "supervisor.children[0].mailbox_capacity",
            "must be 1 to 1000000 messages, got 1000001",
        ),
        (
            "a negative mailbox size",
            with_line(13, "mailbox_max_mb = -1"),
            13,
            "supervisor.children[0].mailbox_max_mb",
            "must be 1 to 4096 MiB, got -1",
        ),
        (
            "negative instances",
            with_line(3, "[node]\nmax_instances = -1\n"),
            4,
            "node.max_instances",
            "must be a positive number of instances (at most 4294967295), got -1",
        ),
        (
            "more instances than count",
            with_line(3, "[node]\nmax_instances = 4294967296\n"),
            4,
            "node.max_instances",
            "got 4294967296",
        ),
        // Structure.
        (
            "no root",
            "[components]\nprobe = \"probe.wasm\"\n".to_string(),
            1,
            "supervisor",
            "missing the root [supervisor] table",
        ),
        (
            "a child without a name",
            with_line(11, ""),
            10,
            "supervisor.children[0].name",
            "missing `name`",
        ),
        (
            "an empty name",
            with_line(11, "name = \"\""),
            11,
            "supervisor.children[0].name",
            "a name may not be empty",
        ),
        (
            "a name with a slash",
            with_line(11, "name = \"a/b\""),
            11,
            "supervisor.children[0].name",
            "may not contain '/' or whitespace",
        ),
        (
            "a name with a space",
            with_line(16, "name = \"the team\""),
            16,
            "supervisor.children[1].name",
            "may not contain '/' or whitespace",
        ),
        (
            "a worker without a component",
            with_line(12, ""),
            10,
            "supervisor.children[0].component",
            "a worker needs `component`",
        ),
        (
            "a supervisor with a component",
            with_line(17, "strategy = \"one_for_all\"\ncomponent = \"probe\""),
            18,
            "supervisor.children[1].component",
            "a supervisor has no component",
        ),
        (
            "a worker with a supervisor's field",
            with_line(13, "max_restarts = 2"),
            13,
            "supervisor.children[0].max_restarts",
            "only supervisors take this field",
        ),
        (
            "a dynamic supervisor with another strategy",
            with_line(25, "dynamic = {}\nstrategy = \"one_for_all\""),
            26,
            "supervisor.children[2].strategy",
            "a dynamic supervisor is always one_for_one",
        ),
        (
            "a component named with a line break, shown on one line",
            with_line(2, "\"pro\\nbe\" = \"\""),
            2,
            "components.pro\\nbe",
            "the component path is empty",
        ),
        (
            "an empty component path",
            with_line(2, "probe = \" \""),
            2,
            "components.probe",
            "the component path is empty",
        ),
        (
            "a string where a table starts",
            with_line(10, "[[supervisor.children]]\n= 3"),
            11,
            "toml",
            "unquoted keys cannot be empty",
        ),
    ]
}

#[test]
fn every_kind_of_tree_file_mistake_names_its_line_and_field_on_one_line() {
    assert!(TreeSpec::parse(Path::new("dir/tree.toml"), TREE).is_ok());
    let mut wrong = Vec::new();
    for (what, text, line, field, says) in mistakes() {
        let err = match TreeSpec::parse(Path::new("dir/tree.toml"), &text) {
            Ok(_) => {
                wrong.push(format!("{what}: accepted"));
                continue;
            }
            Err(err) => err,
        };
        let shown = err.to_string();
        let expected = format!("dir/tree.toml:{line}: {field}: ");
        if !shown.starts_with(&expected) || !err.message.contains(says) || shown.contains('\n') {
            wrong.push(format!(
                "{what}: expected {expected}...{says}..., got {shown}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A named pipe at `path`.
fn fifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

#[test]
fn a_tree_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte() {
    let path = scratch("not-utf8").join("tree.toml");
    let mut bytes = TREE.as_bytes().to_vec();
    bytes[TREE.find("\"team\"").unwrap() + 1] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = TreeSpec::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:16: file: not UTF-8 text (a TOML file is UTF-8)",
            path.display()
        )
    );
}

#[test]
fn a_tree_file_past_the_limit_is_refused_without_being_read_whole() {
    // `/dev/zero` given as a tree file was read until memory ran out; a
    // sparse file of zeros is the same bytes with an end.
    let path = scratch("huge-tree").join("tree.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(arbor::spec::MAX_TREE_FILE_BYTES as u64 + 4096)
        .unwrap();
    let err = TreeSpec::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1: file: cannot read the tree file: it is larger than 16 MiB, the most a tree file may be",
            path.display()
        )
    );
}

/// The contract version the probe is built against (`0.2.3`), as its
/// `lifecycle` export names it.
fn probe_contract() -> String {
    let bytes = std::fs::read(probe()).unwrap();
    let name = b"arbor:supervised/lifecycle@";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("the probe exports lifecycle")
        + name.len();
    let version = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|b| *b as char)
        .collect::<String>();
    version.trim_end_matches('.').to_string()
}

/// The probe with each `old` in its bytes replaced by `new`, of the same
/// length, so that every length prefix stays right: the probe as if built
/// against another contract version or world.
fn patched_probe(dir: &Path, file: &str, old: &str, new: &str) -> PathBuf {
    assert_eq!(old.len(), new.len());
    let bytes = std::fs::read(probe()).unwrap();
    let mut patched = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    let mut replaced = 0;
    while let Some(at) = rest.windows(old.len()).position(|w| w == old.as_bytes()) {
        patched.extend_from_slice(&rest[..at]);
        patched.extend_from_slice(new.as_bytes());
        rest = &rest[at + old.len()..];
        replaced += 1;
    }
    patched.extend_from_slice(rest);
    assert!(replaced > 0, "{old} is not in the probe");
    let path = dir.join(file);
    std::fs::write(&path, patched).unwrap();
    path
}

#[test]
fn a_component_built_against_another_contract_version_is_refused_naming_that_version() {
    let dir = scratch("contract");
    let engine = ArborEngine::new().unwrap();
    let built = format!("@{}", probe_contract());
    for version in ["0.9.0", "1.0.0"] {
        let path = patched_probe(&dir, "p.wasm", &built, &format!("@{version}"));
        let err = engine.load("p", &path).unwrap_err();
        assert!(matches!(err, LoadError::Contract { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: is built against arbor:supervised@{version}, which this host does not run \
                 (it runs 0.2.3, 0.2.2, 0.2.1, 0.2.0 and 0.1.0): rebuild it against one of those",
                path.display()
            )
        );
    }
    // A later patch release of a version the host runs is that version.
    let path = patched_probe(&dir, "p.wasm", &built, "@0.2.7");
    let loaded = engine.load("p", &path).unwrap();
    assert_eq!(loaded.contract(), Some(arbor::ContractVersion::V0_2));
}

#[test]
fn a_component_of_another_world_is_refused_naming_what_it_exports() {
    let dir = scratch("world");
    let engine = ArborEngine::new().unwrap();
    // The lifecycle export renamed to as long a name of another package.
    let version = probe_contract();
    let lifecycle = format!("arbor:supervised/lifecycle@{version}");
    let other = format!("acme:unrelated/greetings-v@{version}");
    let path = patched_probe(&dir, "other.wasm", &lifecycle, &other);
    let err = engine.load("other", &path).unwrap_err();
    assert!(matches!(err, LoadError::Exports { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: does not export `arbor:supervised/lifecycle@0.2` or `@0.1.0`",
            path.display()
        )),
        "{text}"
    );
    // The component's own order, which its toolchain decides.
    let (_, exports) = text.split_once("; it exports ").expect("names its exports");
    let mut names: Vec<&str> = exports.split(", ").collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("`{other}`"),
            format!("`arbor:supervised/handover@{version}`")
        ],
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
}

#[tokio::test]
async fn a_swap_to_a_device_a_pipe_or_a_directory_is_refused_at_once_and_the_child_serves_on() {
    let h = crate::support::Harness::start(crate::support::root("").worker("a", "").text()).await;
    assert_eq!(h.call("a", "count").await.unwrap(), "1");
    let dir = scratch("swap-not-a-file");
    let pipe = dir.join("probe.wasm");
    fifo(&pipe);
    for (path, what) in [
        (Path::new("/dev/null"), "a device"),
        (pipe.as_path(), "a named pipe"),
        (dir.as_path(), "a directory"),
    ] {
        let prepared =
            tokio::time::timeout(PATIENCE, h.node.prepare_component("probe", path)).await;
        let Ok(prepared) = prepared else {
            // Reading a pipe waits for a writer: be one, so the test ends.
            drop(std::fs::OpenOptions::new().write(true).open(&pipe));
            panic!("{}: still reading after {PATIENCE:?}", path.display());
        };
        let err = prepared.unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: cannot read the component: it is {what}, not a regular file",
                path.display()
            )
        );
    }
    assert_eq!(h.call("a", "count").await.unwrap(), "2");
    h.node.shutdown().await;
}

/// A node serving a control socket, as `arbor run` does.
pub(crate) struct Controlled {
    pub(crate) node: Arc<Node>,
    socket: PathBuf,
    serving: tokio::task::JoinHandle<()>,
}

impl Controlled {
    pub(crate) async fn start(name: &str, body: &str) -> Controlled {
        let dir = scratch(name);
        // The tree file's directory holds the key-value store, if one opens.
        let tree = TreeSpec::parse(&dir.join("tree.toml"), &tree(body)).unwrap();
        let node = Node::start(
            &tree,
            NodeOptions {
                events: EventSink::new(),
                threads: 2,
                cache: user_cache(),
                ..NodeOptions::default()
            },
        )
        .await
        .expect("the tree starts");
        let node = Arc::new(node);
        let socket = dir.join("arbor.sock");
        let server = ControlServer::bind(&socket).await.unwrap();
        let (shutdown, _) = tokio::sync::mpsc::unbounded_channel();
        let serving = tokio::spawn(server.serve(node.clone(), shutdown));
        Controlled {
            node,
            socket,
            serving,
        }
    }

    pub(crate) async fn connect(&self) -> Raw {
        let (read, write) = UnixStream::connect(&self.socket)
            .await
            .unwrap()
            .into_split();
        Raw {
            read: BufReader::new(read),
            write,
        }
    }

    pub(crate) async fn stop(self) {
        self.node.shutdown().await;
        self.serving.abort();
    }
}

/// A control connection that sends bytes as they are.
pub(crate) struct Raw {
    read: BufReader<tokio::net::unix::OwnedReadHalf>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// The next response line.
    pub(crate) async fn answer(&mut self) -> Response {
        let mut line = String::new();
        let read = tokio::time::timeout(PATIENCE, self.read.read_line(&mut line))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(read > 0, "the host closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends `line` and a newline; the answer.
    pub(crate) async fn ask(&mut self, line: &[u8]) -> Response {
        self.send(line).await;
        self.send(b"\n").await;
        self.answer().await
    }

    /// The error of a request that must fail.
    pub(crate) async fn refused(&mut self, line: &[u8]) -> String {
        let response = self.ask(line).await;
        assert!(!response.ok, "{}: accepted", String::from_utf8_lossy(line));
        response.error.expect("an error says why")
    }

    /// The reply of `call NAME MESSAGE`, as text.
    pub(crate) async fn call(&mut self, name: &str, message: &str) -> String {
        let request = serde_json::json!({"cmd": "call", "name": name, "message": message});
        let response = self.ask(request.to_string().as_bytes()).await;
        assert!(response.ok, "{response:?}");
        let reply: arbor::control::CallReply =
            serde_json::from_value(response.value.unwrap()).unwrap();
        String::from_utf8(reply.0).unwrap()
    }
}

/// Makes worker `a` busy for `ms` and queues `casts` `count` messages
/// behind it: what must survive the bad input that follows.
async fn queue_behind_a_sleep(
    host: &Controlled,
    ms: u64,
    casts: usize,
) -> tokio::task::JoinHandle<()> {
    let node = host.node.clone();
    let sleeping = tokio::spawn(async move {
        let reply = node.call("a", format!("sleep {ms}").into_bytes()).await;
        assert_eq!(reply.unwrap(), b"slept");
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    for _ in 0..casts {
        host.node.cast("a", b"count".to_vec()).unwrap();
    }
    sleeping
}

#[tokio::test]
async fn garbage_lines_on_the_control_socket_each_get_an_error_and_the_connection_serves_on() {
    let host = Controlled::start("garbage", "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"probe\"\n").await;
    let sleeping = queue_behind_a_sleep(&host, 300, 3).await;
    let mut conn = host.connect().await;
    // Nested past serde_json's recursion limit: refused, not a stack overflow.
    let deep = format!("{{\"cmd\":\"tree\",\"x\":{}", "[".repeat(100_000));
    let syntax = "(a request is one JSON object per line, e.g. {\"cmd\":\"tree\"})";
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", syntax),
        (b"   ", syntax),
        (b"hello", "expected value at line 1 column 1"),
        (b"{", syntax),
        (b"\0\0\0", "expected value at line 1 column 1"),
        (b"null", "expected a JSON object with a \"cmd\""),
        (b"42", "expected a JSON object with a \"cmd\""),
        (b"[]", "missing field `cmd`"),
        (b"\"tree\"", "expected a JSON object with a \"cmd\""),
        (b"{}", "missing field `cmd`"),
        (
            b"{\"cmd\":\"fly\"}",
            "unknown variant `fly`, expected one of `tree`, `call`",
        ),
        (b"{\"cmd\":\"call\"}", "missing field `name`"),
        (
            b"{\"cmd\":\"call\",\"name\":5,\"message\":\"ping\"}",
            "invalid type: integer `5`, expected a string",
        ),
        (
            b"{\"cmd\":\"swap\",\"name\":\"a\",\"batch\":-1}",
            "invalid value: integer `-1`",
        ),
        (
            b"{\"cmd\":\"swap\",\"name\":\"a\",\"probation_ms\":1e400}",
            "number out of range",
        ),
        (b"{\"cmd\":\"tree\"} and more", "trailing characters"),
        (
            b"\xff\xfe garbage",
            "not UTF-8 text (an invalid byte at offset 0)",
        ),
        (
            b"{\"cmd\":\"call\",\"name\":\"a\",\"message\":\"\xc3\x28\"}",
            "not UTF-8 text (an invalid byte at offset 36)",
        ),
        (deep.as_bytes(), "recursion limit exceeded"),
    ];
    for (line, says) in cases {
        let error = conn.refused(line).await;
        assert!(
            error.starts_with("bad request: ") && error.contains(says) && !error.contains('\n'),
            "{:?}: {error}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        );
    }
    // A line ending in \r\n is a line.
    conn.send(b"{\"cmd\":\"call\",\"name\":\"a\",\"message\":\"ping\"}\r\n")
        .await;
    let pong = conn.answer().await;
    assert!(pong.ok, "{pong:?}");
    // The busy worker's queue went through untouched.
    sleeping.await.unwrap();
    assert_eq!(conn.call("a", "count").await, "4");
    host.stop().await;
}

#[tokio::test]
async fn a_request_line_past_the_limit_is_refused_and_skipped_and_one_at_the_limit_is_read() {
    let host = Controlled::start("oversized", "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"probe\"\n").await;
    let mut conn = host.connect().await;
    let mut line = vec![b'x'; MAX_REQUEST_BYTES + 1];
    line.push(b'\n');
    // The answer comes once the whole line is in; the host reads while
    // this side writes.
    let (written, error) = tokio::join!(conn.write.write_all(&line), async {
        let mut answer = String::new();
        conn.read.read_line(&mut answer).await.unwrap();
        answer
    });
    written.unwrap();
    let error: Response = serde_json::from_str(&error).unwrap();
    assert_eq!(
        error.error.as_deref(),
        Some(
            format!(
                "bad request: the line is longer than {MAX_REQUEST_BYTES} bytes, the most a request may be; it was skipped"
            )
            .as_str()
        )
    );
    assert_eq!(conn.call("a", "ping").await, "pong");
    // At the limit: a request padded with spaces (JSON allows them) is read.
    let mut line = br#"{"cmd":"call","name":"a","message":"ping"}"#.to_vec();
    line.resize(MAX_REQUEST_BYTES, b' ');
    line.push(b'\n');
    let (written, answer) = tokio::join!(conn.write.write_all(&line), async {
        let mut answer = String::new();
        conn.read.read_line(&mut answer).await.unwrap();
        answer
    });
    written.unwrap();
    let answer: Response = serde_json::from_str(&answer).unwrap();
    assert!(answer.ok, "{answer:?}");
    host.stop().await;
}

#[tokio::test]
async fn requests_naming_what_does_not_exist_are_refused_clearly_and_lose_no_queued_message() {
    let body = "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"probe\"\n\n[[supervisor.children]]\nname = \"pool\"\ndynamic = {}\n";
    let host = Controlled::start("unknown-names", body).await;
    let sleeping = queue_behind_a_sleep(&host, 500, 3).await;
    let mut conn = host.connect().await;
    let dir = scratch("unknown-names-files");
    let bad_tree = dir.join("bad.toml");
    std::fs::write(
        &bad_tree,
        "[supervisor]\nname = \"x\"\nstrategy = \"sideways\"\n",
    )
    .unwrap();
    let bad_tree = bad_tree.to_str().unwrap();
    let probe = probe();
    let cases: Vec<(serde_json::Value, String)> = vec![
        (
            serde_json::json!({"cmd": "call", "name": "ghost", "message": "ping"}),
            "call to ghost failed: no child named \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "call", "name": "pool", "message": "ping"}),
            "call to pool failed: ".into(),
        ),
        (
            serde_json::json!({"cmd": "cast", "name": "ghost", "message": "ping"}),
            "cast to ghost failed: no child named \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "ghost", "component": "probe", "name": "n1"}),
            "no supervisor named \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "pool", "component": "nope", "name": "n1"}),
            "unknown component \"nope\"".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "pool", "component": "probe", "name": "n 1"}),
            "the name \"n 1\" may not contain '/' or whitespace".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "pool", "component": "probe", "name": "n1", "restart": "often"}),
            "unknown restart type \"often\"".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "pool", "component": "probe", "name": "a"}),
            "already in use".into(),
        ),
        (
            serde_json::json!({"cmd": "start_subtree", "supervisor": "root", "file": "sub.toml", "tree": "[[["}),
            "sub.toml:1: toml: ".into(),
        ),
        (
            serde_json::json!({"cmd": "stop_child", "supervisor": "root", "name": "ghost"}),
            "ghost".into(),
        ),
        (
            serde_json::json!({"cmd": "restart_child", "supervisor": "root", "name": "ghost"}),
            "ghost".into(),
        ),
        (
            serde_json::json!({"cmd": "crash", "name": "ghost"}),
            "no child named \"ghost\" in the tree".into(),
        ),
        (
            serde_json::json!({"cmd": "crash", "name": "root"}),
            "\"root\" is the root: no supervisor would restart it".into(),
        ),
        (
            serde_json::json!({"cmd": "delete_child", "supervisor": "ghost", "name": "a"}),
            "no supervisor named \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "count_children", "supervisor": "ghost"}),
            "no supervisor named \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "swap", "name": "ghost", "file": probe}),
            "no child named \"ghost\" in the tree".into(),
        ),
        (
            serde_json::json!({"cmd": "swap", "component": "ghost", "file": probe}),
            "unknown component \"ghost\"".into(),
        ),
        (
            serde_json::json!({"cmd": "swap", "name": "a", "undo": true}),
            "has no previous version to go back to".into(),
        ),
        (
            serde_json::json!({"cmd": "swap", "name": "a"}),
            "no component file given".into(),
        ),
        (
            serde_json::json!({"cmd": "swap"}),
            "the swap names no worker (`name`) and no component (`component`)".into(),
        ),
        (
            serde_json::json!({"cmd": "swap", "name": "a", "file": "/dev/null"}),
            "/dev/null: cannot read the component: it is a device, not a regular file".into(),
        ),
        (
            serde_json::json!({"cmd": "apply", "file": dir.join("missing.toml")}),
            "missing.toml:1: file: cannot read the tree file".into(),
        ),
        (
            serde_json::json!({"cmd": "apply", "file": bad_tree}),
            "bad.toml:3: supervisor.strategy: unknown strategy \"sideways\"".into(),
        ),
        (
            serde_json::json!({"cmd": "redeliver", "id": 999}),
            "no dead letter 999".into(),
        ),
        (
            serde_json::json!({"cmd": "start_child", "supervisor": "pool", "component": "probe", "name": "n2", "grants": {"dirs": [{"host": "/tmp", "guest": "/t"}]}}),
            "denied: dirs /tmp (ro) is not within what \"pool\" may grant its children".into(),
        ),
        (
            serde_json::json!({"cmd": "kv", "op": "get", "bucket": "", "key": "k"}),
            "bucket".into(),
        ),
    ];
    for (request, says) in cases {
        let error = conn.refused(request.to_string().as_bytes()).await;
        assert!(
            error.contains(&says) && !error.contains('\n'),
            "{request}: expected {says:?} in {error:?}"
        );
    }
    sleeping.await.unwrap();
    assert_eq!(conn.call("a", "count").await, "4");
    let tree = conn.ask(br#"{"cmd":"tree"}"#).await;
    assert!(tree.ok, "{tree:?}");
    host.stop().await;
}

#[tokio::test]
async fn an_apply_of_a_file_slow_to_read_leaves_the_control_socket_serving() {
    let host = Controlled::start("apply-pipe", "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"probe\"\n").await;
    let pipe = scratch("apply-pipe-file").join("tree.toml");
    fifo(&pipe);
    // Reading a pipe waits for its writer: this one comes after 5 s (so a
    // host that waited on its async thread is not stuck for good), and
    // writes a tree with a mistake.
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            std::fs::write(&pipe, "[supervisor]\nname = 5\n").unwrap();
        })
    };
    let mut applying = host.connect().await;
    let mut conn = host.connect().await;
    let request = serde_json::json!({"cmd": "apply", "file": pipe});
    let sent = Instant::now();
    applying.send(format!("{request}\n").as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(conn.call("a", "ping").await, "pong");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "ping answered {:?} after the apply was sent, while the apply waited",
        sent.elapsed()
    );
    let applied = applying.answer().await;
    let error = applied.error.unwrap_or_default();
    assert!(
        error.ends_with(
            "tree.toml:2: supervisor.name: invalid type: integer `5`, expected a string"
        ),
        "{error}"
    );
    writer.join().unwrap();
    host.stop().await;
}
