//! Fuzzing with a bounded run: property tests that feed the parts facing
//! untrusted input (the tree-file parser, the control-socket decoder, the
//! control socket of a running host, the component loader) arbitrary and
//! mutated input. Every input must be answered (never a panic, never a
//! hang) and every error must say where, on one line.
//!
//! Each property runs 256 cases (proptest's default); `PROPTEST_CASES`
//! sets more for a long session (`just fuzz`). A failure prints the
//! smallest input that fails, and proptest keeps it in
//! `proptest-regressions/` to try first from then on.

use std::collections::BTreeSet;
use std::path::Path;

use arbor::control::Request;
use arbor::{ArborEngine, SupervisorSpec, TreeSpec};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::bad_input::Controlled;

/// A tree that uses every field of the tree file, by line (its granted
/// directory, `/tmp`, exists wherever the tests run).
const RICH: &str = r#"[components]
probe = "probe.wasm"
web = "web.wasm"

[node]
max_instances = 100
fast_traps = false
data = "state.db"
data_sync = "normal"

[supervisor]
name = "root"
strategy = "one_for_one"
max_restarts = 3
max_seconds = 5
auto_shutdown = "never"

[[supervisor.children]]
name = "a"
component = "probe"
restart = "permanent"
shutdown_ms = 5000
args = '{"x": 1}'
timeout_ms = 1000
call_timeout_ms = 2000
max_memory_mb = 32
may_call = ["b", "web"]
may_start = ["pool"]
mailbox_capacity = 100
mailbox_max_mb = 8
keyvalue = ["orders"]
backoff = { initial_ms = 10, max_ms = 1000, reset_ms = 5000 }
init_timeout_ms = 500
poison = { after = 3 }
dirs = [{ host = "/tmp", guest = "/scratch", mode = "rw" }]
env = { REGION = "eu" }
http_outgoing = ["api.example.com", "127.0.0.1:9000"]
sockets = { connect = ["127.0.0.1:5432"], bind = ["0.0.0.0:7000"], ip_name_lookup = false }
log_rate = { lines_per_sec = 100, burst = 1000 }

[[supervisor.children]]
name = "web"
component = "web"
http = "127.0.0.1:8080"
args = { greeting = "hi", n = 3 }

[[supervisor.children]]
name = "team"
strategy = "rest_for_one"
restart = "transient"
shutdown_ms = "infinity"
max_restarts = 1
max_seconds = 0.5
auto_shutdown = "any_significant"
backoff = { initial_ms = 5 }

[[supervisor.children.children]]
name = "b"
component = "probe"
restart = "transient"
significant = true

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 10 }
child_grants = { keyvalue = ["orders"], dirs = [{ host = "/tmp", mode = "ro" }], env = ["ORDER_ID"] }
shutdown_ms = "brutal_kill"
"#;

/// Every key a tree file knows, and a few it does not.
const KEYS: &[&str] = &[
    "name",
    "component",
    "strategy",
    "dynamic",
    "restart",
    "shutdown_ms",
    "max_restarts",
    "max_seconds",
    "args",
    "timeout_ms",
    "call_timeout_ms",
    "max_memory_mb",
    "may_call",
    "may_start",
    "significant",
    "auto_shutdown",
    "mailbox_capacity",
    "mailbox_max_mb",
    "http",
    "keyvalue",
    "children",
    "max_children",
    "max_instances",
    "fast_traps",
    "data",
    "data_sync",
    "tls_roots",
    "backoff",
    "initial_ms",
    "max_ms",
    "reset_ms",
    "init_timeout_ms",
    "poison",
    "after",
    "dirs",
    "host",
    "guest",
    "mode",
    "env",
    "http_outgoing",
    "sockets",
    "connect",
    "bind",
    "ip_name_lookup",
    "log_rate",
    "lines_per_sec",
    "burst",
    "child_grants",
    "probe",
    "restarts",
    "nme",
    "supervisor",
];

/// The words the tree file's enums and names use, and some near misses.
const WORDS: &[&str] = &[
    "one_for_one",
    "one_for_all",
    "rest_for_one",
    "permanent",
    "transient",
    "temporary",
    "brutal_kill",
    "infinity",
    "never",
    "any_significant",
    "all_significant",
    "full",
    "normal",
    "probe",
    "web",
    "root",
    "a",
    "b",
    "team",
    "pool",
    "orders",
    "127.0.0.1:0",
    "[::1]:8080",
    "0.0.0.0:*",
    "api.example.com",
    "ro",
    "rw",
    "/in",
    "/tmp",
    "..",
    "",
    " ",
    "a/b",
    "x y",
    "sometimes",
    "\n",
    "\u{0}",
    "é",
];

/// A TOML value of any type, in range or far out of it.
fn toml_value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            4_294_967_295,
            4_294_967_296,
            1_000_001,
            4097,
            31_536_001,
        ])
        .prop_map(|n| n.to_string()),
        Just("99999999999999999999".to_string()),
        any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        prop::sample::select(vec!["nan", "inf", "-inf", "-0.0", "1e20", "1e300", "0.001"])
            .prop_map(str::to_string),
        prop::sample::select(WORDS).prop_map(|w| toml::Value::String(w.to_string()).to_string()),
        any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ];
    scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
            vec((prop::sample::select(KEYS), inner), 0..3).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
}

/// One change to a tree file's lines: positions are taken modulo the
/// number of lines when applied.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    SetValue(usize, String),
    SetKey(usize, &'static str),
    Insert(usize, &'static str, String),
    Cut(usize, usize),
    Raw(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        1 => at.prop_map(Mutation::Drop),
        1 => at.prop_map(Mutation::Duplicate),
        1 => (at, at).prop_map(|(a, b)| Mutation::Swap(a, b)),
        3 => (at, toml_value()).prop_map(|(a, v)| Mutation::SetValue(a, v)),
        1 => (at, prop::sample::select(KEYS)).prop_map(|(a, k)| Mutation::SetKey(a, k)),
        2 => (at, prop::sample::select(KEYS), toml_value())
            .prop_map(|(a, k, v)| Mutation::Insert(a, k, v)),
        1 => (at, any::<usize>()).prop_map(|(a, n)| Mutation::Cut(a, n)),
        1 => (at, toml_fragment()).prop_map(|(a, f)| Mutation::Raw(a, f)),
    ]
}

/// Pieces of TOML syntax, to glue into lines that almost parse.
fn toml_fragment() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "[supervisor]",
        "[[supervisor.children]]",
        "[[supervisor.children.children]]",
        "[node]",
        "[components]",
        "[supervisor.children]",
        "[[supervisor]]",
        "name",
        " = ",
        "=",
        "\"",
        "'''",
        "\"\"\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ".",
        "#",
        "\n",
        "\r\n",
        "\t",
        "\\",
        "\\u0000",
        "1e999",
        "-",
        "0x7fffffff",
        "é",
        "\u{feff}",
    ]);
    vec(
        prop_oneof![pieces.prop_map(str::to_string), toml_value()],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn apply(mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = RICH.lines().map(str::to_string).collect();
    for mutation in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match mutation.clone() {
            Mutation::Drop(i) => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::Swap(i, j) => lines.swap(i % n, j % n),
            Mutation::SetValue(i, value) => {
                if let Some((key, _)) = lines[i % n].split_once(" = ") {
                    lines[i % n] = format!("{key} = {value}");
                }
            }
            Mutation::SetKey(i, key) => {
                if let Some((_, value)) = lines[i % n].split_once(" = ") {
                    lines[i % n] = format!("{key} = {value}");
                }
            }
            Mutation::Insert(i, key, value) => lines.insert(i % n, format!("{key} = {value}")),
            Mutation::Cut(i, at) => {
                let line = &mut lines[i % n];
                let mut at = at % (line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.truncate(at);
            }
            Mutation::Raw(i, fragment) => lines.insert(i % n, fragment),
        }
    }
    lines.join("\n") + "\n"
}

const FILE: &str = "fuzz/tree.toml";

/// A tree-file error is in the file, names a field, and is one line.
fn says_where(text: &str, err: &arbor::SpecError) -> Result<(), TestCaseError> {
    let lines = text.matches('\n').count() + 1;
    let shown = err.to_string();
    prop_assert!(
        (1..=lines).contains(&err.line),
        "line {} of {lines}: {shown}",
        err.line
    );
    prop_assert!(!err.field.is_empty(), "no field: {shown}");
    prop_assert!(!err.message.trim().is_empty(), "no message: {shown}");
    prop_assert!(
        !shown.contains(['\n', '\r']),
        "more than one line: {shown:?}"
    );
    prop_assert!(
        shown.starts_with(&format!("{FILE}:{}: {}: ", err.line, err.field)),
        "{shown}"
    );
    Ok(())
}

/// Parses `text` as a tree file and as a subtree: no panic, and any error
/// says where.
fn check_tree(text: &str) -> Result<(), TestCaseError> {
    if let Err(err) = TreeSpec::parse(Path::new(FILE), text) {
        says_where(text, &err)?;
    }
    let components: BTreeSet<String> = ["probe".to_string()].into();
    if let Err(err) = SupervisorSpec::parse_subtree(Path::new(FILE), text, &components) {
        says_where(text, &err)?;
    }
    Ok(())
}

/// The key and line (1-based) of each `key = value` line of [`RICH`].
fn rich_values() -> Vec<(usize, &'static str)> {
    RICH.lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, line.split_once(" = ")?.0)))
        .collect()
}

#[test]
fn the_rich_tree_parses() {
    TreeSpec::parse(Path::new(FILE), RICH).unwrap();
}

proptest! {
    #[test]
    fn arbitrary_text_as_a_tree_file_is_refused_saying_where(text in any::<String>()) {
        check_tree(&text)?;
    }

    #[test]
    fn toml_fragments_as_a_tree_file_are_refused_saying_where(
        text in vec(toml_fragment(), 0..12).prop_map(|lines| lines.join("\n"))
    ) {
        check_tree(&text)?;
    }

    #[test]
    fn a_mutated_tree_file_parses_or_says_where(mutations in vec(mutation(), 1..5)) {
        check_tree(&apply(&mutations))?;
    }

    /// One value made wrong is reported at its own lines and field, unless
    /// what it breaks is another line's: a name now used twice, a
    /// `significant` child its supervisor or restart type no longer allows,
    /// a `may_start` naming a supervisor now renamed.
    #[test]
    fn one_bad_value_names_its_own_line_and_field(
        pick in any::<prop::sample::Index>(),
        value in toml_value(),
    ) {
        let values = rich_values();
        let (line, key) = values[pick.index(values.len())];
        let mut lines: Vec<String> = RICH.lines().map(str::to_string).collect();
        lines[line - 1] = format!("{key} = {value}");
        let text = lines.join("\n") + "\n";
        check_tree(&text)?;
        if let Err(err) = TreeSpec::parse(Path::new(FILE), &text) {
            // A multi-line string makes the value more than one line.
            let own = line..=line + value.matches('\n').count();
            if own.contains(&err.line) {
                prop_assert!(err.field.contains(key), "{err}");
            } else {
                let other = err.field.rsplit('.').next().unwrap_or_default();
                prop_assert!(
                    ["name", "significant", "may_start"].contains(&other),
                    "changed line {line} ({key}), error at another line: {err}"
                );
            }
        }
    }
}

/// Any JSON value, deep or flat.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec!["ghost", "pool", "root", "probe", "", "x/y", "n 1"])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The fields control requests take.
const REQUEST_FIELDS: &[&str] = &[
    "name",
    "message",
    "supervisor",
    "component",
    "args",
    "restart",
    "file",
    "tree",
    "undo",
    "fresh",
    "probation_ms",
    "drain_timeout_ms",
    "canary",
    "batch",
    "dry_run",
    "swap",
    "op",
    "bucket",
    "key",
    "value",
    "grants",
    "id",
];

/// A JSON object shaped like a request of one of `commands`, its fields
/// of any type: mostly wrong, sometimes a request that decodes.
fn request_like(commands: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop_oneof![
            4 => prop::sample::select(commands).prop_map(|c| Value::String(c.to_string())),
            1 => json_value(),
        ],
        btree_map(prop::sample::select(REQUEST_FIELDS), json_value(), 0..6),
    )
        .prop_map(|(cmd, fields)| {
            let mut object = serde_json::Map::new();
            object.insert("cmd".to_string(), cmd);
            for (field, value) in fields {
                object.insert(field.to_string(), value);
            }
            Value::Object(object).to_string()
        })
}

const ALL_COMMANDS: &[&str] = &[
    "tree",
    "call",
    "cast",
    "start_child",
    "start_subtree",
    "delete_child",
    "stop_child",
    "restart_child",
    "crash",
    "why",
    "swap",
    "apply",
    "kv",
    "count_children",
    "dead_letters",
    "redeliver",
    "instances",
    "events",
    "shutdown",
    "fly",
];

proptest! {
    #[test]
    fn arbitrary_bytes_as_a_request_are_refused_with_one_line(
        line in vec(any::<u8>(), 0..512)
    ) {
        if let Err(error) = Request::decode(&line) {
            prop_assert!(error.starts_with("bad request: "), "{error}");
            prop_assert!(!error.contains('\n'), "{error:?}");
        }
    }

    #[test]
    fn request_shaped_json_decodes_or_is_refused_with_one_line(
        line in request_like(ALL_COMMANDS)
    ) {
        if let Err(error) = Request::decode(line.as_bytes()) {
            prop_assert!(error.starts_with("bad request: "), "{error}");
            prop_assert!(!error.contains('\n'), "{error:?}");
        }
    }
}

/// A line for a live control socket: garbage, or a request that is
/// refused or harmless (no `events`, which turns the connection into a
/// stream; no `shutdown`; no swap or apply, which would wait out a
/// probation of any length; nothing that names the worker `a`, which the
/// test calls at the end).
fn socket_line() -> impl Strategy<Value = Vec<u8>> {
    const HARMLESS: &[&str] = &[
        "tree",
        "call",
        "cast",
        "start_child",
        "start_subtree",
        "delete_child",
        "stop_child",
        "restart_child",
        "crash",
        "why",
        "kv",
        "count_children",
        "dead_letters",
        "redeliver",
        "instances",
        "fly",
    ];
    prop_oneof![
        1 => vec(any::<u8>(), 0..256),
        1 => any::<String>().prop_map(String::into_bytes),
        3 => request_like(HARMLESS).prop_map(String::into_bytes),
    ]
    .prop_map(|mut line| {
        line.retain(|b| *b != b'\n' && *b != b'\r');
        line
    })
    .prop_filter(
        "names the worker the test calls, or streams, or stops",
        |line| match Request::decode(line) {
            Err(_) => true,
            Ok(request) => {
                let text = serde_json::to_string(&request).unwrap();
                !text.contains("\"a\"")
                    && !matches!(
                        request,
                        Request::Events | Request::Shutdown | Request::Swap(_) | Request::Apply(_)
                    )
            }
        },
    )
}

#[test]
fn random_lines_on_a_live_control_socket_are_each_answered_and_the_host_serves_on() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Children started by the requests may crash: no supervisor gives up.
    let body = "[supervisor]\nname = \"root\"\nmax_restarts = 1000\n\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"probe\"\n\n[[supervisor.children]]\nname = \"pool\"\ndynamic = { max_children = 20 }\nmax_restarts = 1000\n";
    let host = runtime.block_on(Controlled::start("fuzz-socket", body));
    // `run` takes a closure it may call again and again: the connection
    // is shared with it.
    let conn = tokio::sync::Mutex::new(runtime.block_on(host.connect()));
    runtime.block_on(async {
        for _ in 0..3 {
            host.node.cast("a", b"count".to_vec()).unwrap();
        }
    });
    let mut runner = TestRunner::new(Config::default());
    let outcome = runner.run(&vec(socket_line(), 1..16), |lines| {
        runtime.block_on(async {
            let mut conn = conn.lock().await;
            // Pipelined: all lines first, then one answer each, in order.
            for line in &lines {
                conn.send(line).await;
                conn.send(b"\n").await;
            }
            for line in &lines {
                let answer = conn.answer().await;
                if let Some(error) = &answer.error {
                    prop_assert!(!answer.ok);
                    prop_assert!(
                        !error.contains('\n'),
                        "{:?}: {error:?}",
                        String::from_utf8_lossy(line)
                    );
                }
            }
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let mut conn = conn.into_inner();
    runtime.block_on(async {
        assert_eq!(conn.call("a", "count").await, "4");
        host.stop().await;
    });
}

/// Bytes that start like a file the loader is given: nothing, the wasm
/// magic, a core module's header, a component's header.
fn component_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            &b""[..],
            b"\0asm",
            b"\0asm\x01\x00\x00\x00",
            b"\0asm\x0d\x00\x01\x00",
        ]),
        vec(any::<u8>(), 0..128),
    )
        .prop_map(|(header, rest)| [header, &rest[..]].concat())
}

#[test]
fn random_bytes_as_a_component_are_refused_naming_the_file_on_one_line() {
    let dir = std::env::temp_dir().join(format!("arbor-fuzz-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("random.wasm");
    let engine = ArborEngine::new().unwrap();
    let mut runner = TestRunner::new(Config::default());
    let outcome = runner.run(&component_like(), |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        if let Err(err) = engine.load("random", &path) {
            let text = err.to_string();
            prop_assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
            prop_assert!(!text.contains('\n'), "{text:?}");
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
