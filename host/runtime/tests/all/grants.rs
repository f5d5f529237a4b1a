//! README "Security model": a child reaches nothing beyond its memory and
//! Arbor's host interface unless its tree-file entry grants it (files,
//! environment, outgoing HTTP, sockets), a run-time child never more than
//! its supervisor's `child_grants`, and what a child writes to stdout and
//! stderr lands in the host's log, tagged with its path and rate-limited.
//! Each test drives the grants probe (`guests/grants_probe`) in a tree
//! file of its own, in a scratch directory of its own, under a root
//! supervisor named after the test (so its log lines are its own).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arbor::grants::{DirRequest, GrantRequest};
use arbor::{CallError, ChildCommandError, CommandError, StartOutcome, TreeSpec, WorkerSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Harness, PATIENCE, warm};

const GRANTS_PROBE: &str = arbor_guest_artifacts::GRANTS_PROBE;

/// A fresh scratch directory for `test`, holding `data/in/hello.txt`
/// ("hello") and `secret.txt` beside `data`.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-grants-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data/in")).unwrap();
    std::fs::write(dir.join("data/in/hello.txt"), "hello").unwrap();
    std::fs::write(dir.join("secret.txt"), "secret").unwrap();
    dir
}

/// Starts the tree file `dir/tree.toml` whose root is named `root` and
/// whose children (`[[supervisor.children]]` tables) are `children`; the
/// grants probe is the component `g`.
async fn start(dir: &Path, root: &str, children: &str) -> Harness {
    warm(GRANTS_PROBE);
    let text =
        format!("[components]\ng = {GRANTS_PROBE:?}\n\n[supervisor]\nname = {root:?}\n{children}");
    let file = dir.join("tree.toml");
    std::fs::write(&file, &text).unwrap();
    Harness::start_tree(TreeSpec::load(&file).expect("a valid tree")).await
}

/// A worker table running the grants probe.
fn worker(name: &str, settings: &str) -> String {
    format!("\n[[supervisor.children]]\nname = {name:?}\ncomponent = \"g\"\n{settings}\n")
}

/// The guest's `err` text, or a failure naming what came instead.
fn refused(reply: Result<String, CallError>) -> String {
    match reply {
        Err(CallError::Rejected(text)) => text,
        other => panic!("expected the guest's err, got {other:?}"),
    }
}

#[tokio::test]
async fn a_granted_read_only_directory_is_readable_and_not_writable() {
    let dir = scratch("ro");
    let h = start(
        &dir,
        "ro",
        &worker("r", "dirs = [{ host = \"data/in\", guest = \"/in\" }]"),
    )
    .await;
    assert_eq!(h.call("r", "read /in/hello.txt").await.unwrap(), "hello");
    assert_eq!(h.call("r", "list /in").await.unwrap(), "hello.txt");
    let write = refused(h.call("r", "write /in/new.txt x").await);
    assert!(!write.is_empty());
    let overwrite = refused(h.call("r", "write /in/hello.txt changed").await);
    assert!(!overwrite.is_empty());
    assert!(!dir.join("data/in/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("data/in/hello.txt")).unwrap(),
        "hello"
    );
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_read_write_directory_takes_the_guests_writes_on_the_host() {
    let dir = scratch("rw");
    let h = start(
        &dir,
        "rw",
        &worker(
            "w",
            "dirs = [{ host = \"data\", guest = \"/data\", mode = \"rw\" }]",
        ),
    )
    .await;
    assert_eq!(
        h.call("w", "write /data/out.txt done").await.unwrap(),
        "wrote 4"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/out.txt")).unwrap(),
        "done"
    );
    assert_eq!(
        h.call("w", "read /data/in/hello.txt").await.unwrap(),
        "hello"
    );
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_file_outside_every_grant_cannot_be_opened() {
    let dir = scratch("outside");
    let secret = dir.join("secret.txt").display().to_string();
    let h = start(
        &dir,
        "outside",
        &(worker("r", "dirs = [{ host = \"data/in\", guest = \"/in\" }]") + &worker("none", "")),
    )
    .await;
    for path in [
        "/in/../../secret.txt",
        "/in/../hello.txt",
        "/secret.txt",
        "/etc/passwd",
        &secret,
    ] {
        let why = refused(h.call("r", &format!("read {path}")).await);
        assert!(!why.is_empty(), "{path}");
    }
    // A child granted nothing opens nothing, not even what its sibling may.
    refused(h.call("none", "read /in/hello.txt").await);
    refused(h.call("none", "list /").await);
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn environment_variables_are_visible_only_when_granted() {
    let dir = scratch("env");
    // SAFETY of the test: the host's own environment has variables (PATH
    // at least); none may reach a guest.
    assert!(std::env::var_os("PATH").is_some());
    let h = start(
        &dir,
        "env",
        &(worker("e", "env = { REGION = \"eu\", MODE = \"test\" }") + &worker("none", "")),
    )
    .await;
    assert_eq!(h.call("e", "env REGION").await.unwrap(), "eu");
    assert_eq!(
        h.call("e", "env-all").await.unwrap(),
        "MODE=test\nREGION=eu"
    );
    assert_eq!(refused(h.call("e", "env PATH").await), "unset");
    assert_eq!(h.call("none", "env-all").await.unwrap(), "");
    assert_eq!(refused(h.call("none", "env REGION").await), "unset");
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A one-route HTTP server on loopback: answers every request `200` with
/// `hello PATH`, and counts the connections it accepted.
async fn http_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("?").to_string();
                let body = format!("hello {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (address, accepted)
}

#[tokio::test]
async fn outgoing_http_reaches_a_listed_host_over_loopback_and_an_unlisted_one_is_denied() {
    let dir = scratch("http");
    let (listed, _) = http_server().await;
    let (unlisted, unlisted_accepted) = http_server().await;
    let h = start(
        &dir,
        "http",
        &(worker("h", &format!("http_outgoing = [\"{listed}\"]")) + &worker("none", "")),
    )
    .await;
    assert_eq!(
        h.call("h", &format!("http-get http://{listed}/orders?id=7"))
            .await
            .unwrap(),
        "200 hello /orders?id=7"
    );
    let denied = refused(h.call("h", &format!("http-get http://{unlisted}/")).await);
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    // The same host on another port is another authority.
    let other_port = format!("http-get http://127.0.0.1:{}/", listed.port() + 1);
    let denied = refused(h.call("h", &other_port).await);
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    let none = refused(h.call("none", &format!("http-get http://{listed}/")).await);
    assert!(none.contains("HttpRequestDenied"), "{none}");
    assert_eq!(
        unlisted_accepted.load(Ordering::SeqCst),
        0,
        "a denied request opens no connection"
    );
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn outgoing_https_is_refused_saying_the_host_has_no_tls_client() {
    let dir = scratch("https");
    let (listed, accepted) = http_server().await;
    let h = start(
        &dir,
        "https",
        &worker("h", &format!("http_outgoing = [\"{listed}\"]")),
    )
    .await;
    let why = refused(h.call("h", &format!("http-get https://{listed}/")).await);
    assert!(why.contains("InternalError"), "{why}");
    assert!(why.contains("https is not available"), "{why}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_socket_connects_only_to_a_granted_address() {
    let dir = scratch("sockets");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    let h = start(
        &dir,
        "sockets",
        &(worker("s", &format!("sockets = {{ connect = [\"{open}\"] }}")) + &worker("none", "")),
    )
    .await;
    assert_eq!(
        h.call("s", &format!("connect {open}")).await.unwrap(),
        "connected"
    );
    let other = format!("connect 127.0.0.1:{}", open.port() + 1);
    let denied = refused(h.call("s", &other).await);
    assert!(denied.contains("access-denied"), "{denied}");
    // Without a grant, sockets are off: the same address is refused.
    let denied = refused(h.call("none", &format!("connect {open}")).await);
    assert!(denied.contains("access-denied"), "{denied}");
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Every line the host logs in this test process, as the `arbor` command
/// formats it (without colours): installed once, for the whole process.
fn captured_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        log
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log lines tagged with the child `path`.
fn lines_of(path: &str) -> Vec<String> {
    let log = captured_log().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| {
            line.contains(&format!("child=\"{path}\"")) || line.contains(&format!("child={path} "))
        })
        .map(String::from)
        .collect()
}

/// Waits until `pred` holds for the lines of `path`.
async fn log_until(path: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let lines = lines_of(path);
        if pred(&lines) {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; lines of {path}:\n{}",
            lines.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stdout_and_stderr_lines_reach_the_log_tagged_with_the_childs_path() {
    captured_log();
    let dir = scratch("stdout");
    let h = start(&dir, "stdout", &worker("p", "")).await;
    assert_eq!(h.call("p", "print 2 to-stdout").await.unwrap(), "printed 2");
    assert_eq!(
        h.call("p", "eprint 1 to-stderr").await.unwrap(),
        "printed 1"
    );
    assert_eq!(
        h.call("p", "print-part no-newline-yet").await.unwrap(),
        "printed"
    );
    let lines = log_until("stdout/p", |lines| lines.len() >= 3).await;
    assert!(
        lines[0].contains(" INFO ") && lines[0].contains("to-stdout 0"),
        "{lines:?}"
    );
    assert!(lines[0].contains("stream=\"stdout\""), "{lines:?}");
    assert!(lines[1].contains("to-stdout 1"), "{lines:?}");
    assert!(
        lines[2].contains(" WARN ") && lines[2].contains("to-stderr 0"),
        "{lines:?}"
    );
    assert!(lines[2].contains("stream=\"stderr\""), "{lines:?}");
    // The partial line waits for its newline, or for the instance's end.
    assert!(
        !lines.iter().any(|l| l.contains("no-newline-yet")),
        "{lines:?}"
    );
    h.node.shutdown().await;
    log_until("stdout/p", |lines| {
        lines.iter().any(|l| l.contains("no-newline-yet"))
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

/// How many lines `path` logged with `text`, and the dropped lines it reported.
fn counted(lines: &[String], text: &str) -> (u64, u64) {
    let passed = lines.iter().filter(|l| l.contains(text)).count() as u64;
    let dropped = lines
        .iter()
        .filter_map(|l| l.split_once(" lines from this child dropped: over its log_rate"))
        .map(|(head, _)| head.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    (passed, dropped)
}

#[tokio::test]
async fn a_guest_spamming_stdout_or_the_log_is_cut_to_its_rate_and_the_dropped_lines_are_counted() {
    captured_log();
    let dir = scratch("spam");
    let h = start(
        &dir,
        "spam",
        &worker("s", "log_rate = { lines_per_sec = 20, burst = 50 }"),
    )
    .await;
    assert_eq!(
        h.call("s", "print 1000 spam-out").await.unwrap(),
        "printed 1000"
    );
    // The count is reported once a line may pass again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.call("s", "print 1 after-out").await.unwrap(), "printed 1");
    let lines = log_until("spam/s", |lines| {
        lines.iter().any(|l| l.contains("after-out 0"))
    })
    .await;
    let (passed, dropped) = counted(&lines, "spam-out ");
    assert!((50..=60).contains(&passed), "{passed} lines passed");
    assert_eq!(passed + dropped, 1000, "each line is logged or counted");
    // `host.log` goes through the same limit.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        h.call("s", "log 1000 spam-log").await.unwrap(),
        "logged 1000"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.call("s", "print 1 after-log").await.unwrap(), "printed 1");
    let lines = log_until("spam/s", |lines| {
        lines.iter().any(|l| l.contains("after-log 0"))
    })
    .await;
    let since = lines
        .iter()
        .position(|l| l.contains("after-out 0"))
        .unwrap();
    let (passed, dropped) = counted(&lines[since + 1..], "spam-log ");
    assert!((50..=60).contains(&passed), "{passed} lines passed");
    assert_eq!(passed + dropped, 1000, "each line is logged or counted");
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A worker of the grants probe asking for `request`.
fn asking(name: &str, request: GrantRequest) -> WorkerSpec {
    let (grants, keyvalue) = request.read().expect("a well-formed request");
    let mut spec = WorkerSpec::new(name, "g");
    spec.grants = grants.map(Arc::new);
    spec.keyvalue = keyvalue;
    spec
}

fn dir_asked(host: &str, guest: &str, mode: &str) -> DirRequest {
    DirRequest {
        host: host.into(),
        guest: Some(guest.into()),
        mode: Some(mode.into()),
    }
}

fn denied_grant(result: Result<StartOutcome, CommandError>) -> &'static str {
    match result {
        Err(CommandError::Child(ChildCommandError::GrantDenied(denied))) => {
            assert!(denied.to_string().starts_with("denied: "), "{denied}");
            denied.grant
        }
        other => panic!("expected a denied grant, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dynamic_child_is_granted_within_its_supervisors_child_grants_and_denied_wider() {
    let dir = scratch("ceiling");
    let h = start(
        &dir,
        "ceiling",
        "\n[[supervisor.children]]\nname = \"pool\"\ndynamic = {}\n\
         child_grants = { dirs = [{ host = \"data\", mode = \"ro\" }], env = [\"REGION\"] }\n\
         \n[[supervisor.children]]\nname = \"bare\"\ndynamic = {}\n",
    )
    .await;
    let within = GrantRequest {
        dirs: vec![dir_asked("data/in", "/in", "ro")],
        env: BTreeMap::from([("REGION".into(), "eu".into())]),
        ..GrantRequest::default()
    };
    let started = h
        .node
        .start_child("pool", asking("c1", within.clone()))
        .await;
    assert_eq!(started.unwrap(), StartOutcome::Running);
    assert_eq!(h.call("c1", "read /in/hello.txt").await.unwrap(), "hello");
    assert_eq!(h.call("c1", "env REGION").await.unwrap(), "eu");

    let writable = GrantRequest {
        dirs: vec![dir_asked("data/in", "/in", "rw")],
        ..GrantRequest::default()
    };
    assert_eq!(
        denied_grant(h.node.start_child("pool", asking("c2", writable)).await),
        "dirs"
    );
    let outside = GrantRequest {
        dirs: vec![dir_asked(".", "/all", "ro")],
        ..GrantRequest::default()
    };
    assert_eq!(
        denied_grant(h.node.start_child("pool", asking("c3", outside)).await),
        "dirs"
    );
    let env = GrantRequest {
        env: BTreeMap::from([("TOKEN".into(), "x".into())]),
        ..GrantRequest::default()
    };
    assert_eq!(
        denied_grant(h.node.start_child("pool", asking("c4", env)).await),
        "env"
    );
    let http = GrantRequest {
        http_outgoing: vec!["api.example.com".into()],
        ..GrantRequest::default()
    };
    assert_eq!(
        denied_grant(h.node.start_child("pool", asking("c5", http)).await),
        "http_outgoing"
    );
    let buckets = GrantRequest {
        keyvalue: vec!["orders".into()],
        ..GrantRequest::default()
    };
    assert_eq!(
        denied_grant(h.node.start_child("pool", asking("c6", buckets)).await),
        "keyvalue"
    );
    // A supervisor without child_grants grants its run-time children nothing.
    assert_eq!(
        denied_grant(h.node.start_child("bare", asking("c7", within)).await),
        "dirs"
    );
    // Nothing of a denied child started: its name is free.
    for name in ["c2", "c3", "c4", "c5", "c6", "c7"] {
        assert!(
            matches!(h.call(name, "ping").await, Err(CallError::NoSuchName(_))),
            "{name}"
        );
    }
    let plain = h.node.start_child("bare", WorkerSpec::new("c8", "g")).await;
    assert_eq!(plain.unwrap(), StartOutcome::Running);
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_guest_starts_a_child_with_grants_within_the_ceiling_and_is_denied_wider_ones() {
    let dir = scratch("guest-ceiling");
    let h = start(
        &dir,
        "guest_ceiling",
        &(worker("boss", "may_start = [\"pool\"]")
            + "\n[[supervisor.children]]\nname = \"pool\"\ndynamic = {}\n\
               child_grants = { dirs = [{ host = \"data\", mode = \"rw\" }], env = [\"ORDER\"] }\n"),
    )
    .await;
    assert_eq!(
        h.call("boss", "spawn pool k1 g dir-rw=data/in:/in env=ORDER=17")
            .await
            .unwrap(),
        "started k1"
    );
    assert_eq!(h.call("k1", "env ORDER").await.unwrap(), "17");
    assert_eq!(
        h.call("k1", "write /in/k1.txt mine").await.unwrap(),
        "wrote 4"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/in/k1.txt")).unwrap(),
        "mine"
    );

    let wider = refused(h.call("boss", "spawn pool k2 g dir=.:/all").await);
    assert!(
        wider.starts_with("denied: dirs ") && wider.contains("child_grants dirs: "),
        "{wider}"
    );
    let env = refused(h.call("boss", "spawn pool k3 g env=SECRET=x").await);
    assert!(env.starts_with("denied: env SECRET"), "{env}");
    let http = refused(h.call("boss", "spawn pool k4 g http=example.com").await);
    assert!(
        http.starts_with("denied: http_outgoing example.com"),
        "{http}"
    );
    let missing = refused(h.call("boss", "spawn pool k5 g dir=data/gone:/gone").await);
    assert!(
        missing
            .starts_with("start-failed: bad grant: dirs: the directory data/gone does not exist"),
        "{missing}"
    );
    for name in ["k2", "k3", "k4", "k5"] {
        assert!(
            matches!(h.call(name, "ping").await, Err(CallError::NoSuchName(_))),
            "{name}"
        );
    }
    h.node.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
