//! Children that speak HTTP (README "Children that speak HTTP"): real
//! requests over loopback to a child's `http` address, through its mailbox.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use arbor::{CallError, EventKind, Node, NodeOptions, TreeSpec, WorkerSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Harness, PATIENCE, root, warm};

const HELLO: &str = arbor_guest_artifacts::HTTP_HELLO;
const HTTP_PROBE: &str = arbor_guest_artifacts::HTTP_PROBE;
const PROBE: &str = arbor_guest_artifacts::PROBE;

/// A loopback address with a port nobody listens on (the system's pick,
/// let go at once).
fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Sends `method path` (HTTP/1.0, so the body ends with the connection) and
/// returns the status and body.
async fn request(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await?;
        std::io::Result::Ok(bytes)
    };
    let bytes = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("an answer in time")
        .expect("the exchange succeeds");
    let text = String::from_utf8(bytes).expect("a text response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).expect("a status").parse().unwrap();
    (status, body.to_string())
}

async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    request(address, "GET", path, "").await
}

/// `[components]` with the stock HTTP component, the HTTP probe and the probe.
const COMPONENTS: &[(&str, &str)] = &[("hello", HELLO), ("web", HTTP_PROBE), ("probe", PROBE)];

fn http_setting(address: SocketAddr) -> String {
    format!("http = \"{address}\"")
}

#[tokio::test]
async fn a_trap_answers_500_for_that_request_only_and_the_restarted_instance_serves_the_queued_ones()
 {
    let address = free_address();
    let tree = root("").worker_of("site", "hello", &http_setting(address));
    let mut h = Harness::start_with(COMPONENTS, tree.text()).await;
    assert_eq!(get(address, "/count").await, (200, "1".to_string()));
    // One request in flight, a crash queued behind it, and another behind that.
    let slow = tokio::spawn(get(address, "/sleep/300"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let crash = tokio::spawn(get(address, "/crash"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = tokio::spawn(get(address, "/count"));
    assert_eq!(slow.await.unwrap(), (200, "slept 300".to_string()));
    let (status, body) = crash.await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("the child crashed"), "{body}");
    // Served by the fresh instance: its count starts again.
    assert_eq!(after.await.unwrap(), (200, "1".to_string()));
    let terminated = h
        .wait_event(EventKind::ChildTerminated, "root/site", Some("crash"))
        .await;
    assert!(
        terminated
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("wasm trap"),
        "{terminated:?}"
    );
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/site", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(get(address, "/count").await, (200, "2".to_string()));
    h.node.shutdown().await;
}

#[tokio::test]
async fn while_the_child_is_stopped_a_request_waits_for_it_or_gets_503_after_the_call_timeout() {
    let address = free_address();
    let settings = format!("{}\ncall_timeout_ms = 1000", http_setting(address));
    let tree = root("").worker_of("site", "hello", &settings);
    let h = Harness::start_with(COMPONENTS, tree.text()).await;
    assert_eq!(get(address, "/count").await, (200, "1".to_string()));

    h.node.terminate_child("root", "site").await.unwrap();
    let waiting = tokio::spawn(get(address, "/count"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the request waits for the child");
    h.node.restart_child("root", "site").await.unwrap();
    // The listener outlived the stop; the fresh instance serves the request.
    assert_eq!(waiting.await.unwrap(), (200, "1".to_string()));

    h.node.terminate_child("root", "site").await.unwrap();
    let started = Instant::now();
    let (status, body) = get(address, "/count").await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("site is not running"), "{body}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "waited {waited:?}, the call timeout is 1 s"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_busy_child_answers_503_once_the_call_timeout_passes() {
    let address = free_address();
    let settings = format!("{}\ncall_timeout_ms = 300", http_setting(address));
    let tree = root("").worker_of("site", "hello", &settings);
    let mut h = Harness::start_with(COMPONENTS, tree.text()).await;
    let slow = tokio::spawn(get(address, "/sleep/1000"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, body) = get(address, "/count").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("within its call timeout (300 ms)"), "{body}");
    // The request in flight has the same limit: its client got a 503 too.
    assert_eq!(slow.await.unwrap().0, 503);
    // Once the guest is done with it (it still sleeps its second)...
    tokio::time::sleep(Duration::from_millis(900)).await;
    // ...the same instance serves on: writing the body nobody reads did
    // not crash it, and the request abandoned in the queue was not run.
    assert_eq!(get(address, "/count").await, (200, "2".to_string()));
    assert!(h.drain(Duration::from_millis(50)).await.is_empty());
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_stock_wasi_http_proxy_component_serves_unchanged_and_refuses_messages() {
    let address = free_address();
    let tree = root("").worker_of("site", "hello", &http_setting(address));
    let h = Harness::start_with(COMPONENTS, tree.text()).await;
    let loaded = h.node.component("hello").unwrap();
    assert_eq!(loaded.contract(), None, "it exports no Arbor lifecycle");
    assert!(loaded.serves_http());

    assert_eq!(
        get(address, "/some/path?q=1").await,
        (200, "hello from http_hello: GET /some/path?q=1".to_string())
    );
    assert_eq!(
        request(address, "POST", "/echo", "a body to echo").await,
        (200, "a body to echo".to_string())
    );
    assert_eq!(
        get(address, "/stream/3").await,
        (200, "chunk 0\nchunk 1\nchunk 2\n".to_string())
    );
    // Outgoing requests are not granted to guests.
    let (status, body) = get(address, "/outgoing").await;
    assert_eq!(status, 200);
    assert_eq!(body, "refused: ErrorCode::HttpRequestDenied");

    match h.call("site", "ping").await {
        Err(CallError::Rejected(why)) => assert!(why.contains("only serves HTTP"), "{why}"),
        other => panic!("expected rejected, got {other:?}"),
    }
    assert!(h.node.cast("site", b"ping".to_vec()).is_ok());
    h.node.shutdown().await;
}

#[tokio::test]
async fn the_response_streams_before_the_guests_handle_returns() {
    let address = free_address();
    let tree = root("").worker_of("site", "hello", &http_setting(address));
    let h = Harness::start_with(COMPONENTS, tree.text()).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /stream/10 HTTP/1.0\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    // 10 chunks 50 ms apart: the first arrives long before the last is written.
    let started = Instant::now();
    let mut buffer = vec![0; 4096];
    let mut seen = String::new();
    while !seen.contains("chunk 0") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the connection ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the first chunk took {:?}",
        started.elapsed()
    );
    assert!(!seen.contains("chunk 9"), "{seen}");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_child_with_lifecycle_and_incoming_handler_serves_messages_and_requests_through_one_mailbox()
 {
    let address = free_address();
    let settings = format!("{}\nargs = \"from the tree\"", http_setting(address));
    let tree = root("")
        .worker_of("helper", "probe", "")
        .worker_of("front", "web", &settings);
    let h = Harness::start_with(COMPONENTS, tree.text()).await;
    assert!(h.node.component("web").unwrap().contract().is_some());

    assert_eq!(
        get(address, "/init").await,
        (200, "init ran with from the tree".to_string())
    );
    // The handler calls another child through Arbor's host interface.
    assert_eq!(
        get(address, "/call/helper/ping").await,
        (200, "pong".to_string())
    );
    let (status, body) = get(address, "/call/nobody/ping").await;
    assert_eq!(status, 502);
    assert!(body.contains("NoSuchName"), "{body}");
    // Plain messages go to `handle`, on the same instance.
    assert_eq!(h.call("front", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("front", "served").await.unwrap(), "3");
    assert_eq!(get(address, "/messages").await, (200, "2".to_string()));
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_fails_the_start_naming_the_child_and_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    for (_, path) in COMPONENTS {
        warm(path);
    }

    // A dynamic start fails with the error; the host and its other children go on.
    let tree = root("")
        .worker_of("helper", "probe", "")
        .supervisor("pool", "dynamic = {}", |s| s);
    let h = Harness::start_with(COMPONENTS, tree.text()).await;
    let spec = WorkerSpec {
        http: Some(address),
        ..WorkerSpec::new("site", "hello")
    };
    let err = h
        .node
        .start_child("pool", spec)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("root/pool/site: cannot serve HTTP on {address}"))
            && err.contains("already in use"),
        "{err}"
    );
    assert_eq!(h.call("helper", "ping").await.unwrap(), "pong");
    // Once the address is free, the same start succeeds.
    drop(taken);
    let spec = WorkerSpec {
        http: Some(address),
        ..WorkerSpec::new("site", "hello")
    };
    h.node.start_child("pool", spec).await.unwrap();
    assert_eq!(get(address, "/count").await, (200, "1".to_string()));
    // A component that does not serve HTTP is refused, naming the child.
    let spec = WorkerSpec {
        http: Some(free_address()),
        ..WorkerSpec::new("plain", "probe")
    };
    let err = h
        .node
        .start_child("pool", spec)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("root/pool/plain: `http = ")
            && err.contains("does not export `wasi:http/incoming-handler`"),
        "{err}"
    );
    h.node.shutdown().await;

    // At the host's start, the tree does not start and says why.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let mut text = String::from("[components]\n");
    for (name, path) in COMPONENTS {
        text.push_str(&format!("{name} = {path:?}\n"));
    }
    text.push_str(
        root("")
            .worker_of("site", "hello", &http_setting(address))
            .text(),
    );
    let tree = TreeSpec::parse(Path::new("test-tree.toml"), &text).unwrap();
    let err = Node::start(&tree, NodeOptions::default())
        .await
        .err()
        .expect("the start fails")
        .to_string();
    assert!(
        err.contains(&format!("root/site: cannot serve HTTP on {address}")),
        "{err}"
    );
}

#[tokio::test]
async fn a_tree_naming_a_component_that_does_not_serve_http_is_refused_at_load() {
    let mut text = String::from("[components]\n");
    for (name, path) in COMPONENTS {
        text.push_str(&format!("{name} = {path:?}\n"));
    }
    text.push_str(
        root("")
            .worker_of("plain", "probe", "http = \"127.0.0.1:1\"")
            .text(),
    );
    let tree = TreeSpec::parse(Path::new("test-tree.toml"), &text).unwrap();
    let err = Node::start(&tree, NodeOptions::default())
        .await
        .err()
        .expect("the start fails")
        .to_string();
    assert!(
        err.contains("plain: `http = \"127.0.0.1:1\"` is set, but its component \"probe\""),
        "{err}"
    );
}
