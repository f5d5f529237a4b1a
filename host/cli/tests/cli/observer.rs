//! `arbor run --observe`: the page and its API over HTTP, a crash made
//! through `arbor ctl` reaching the event stream, and the guards on actions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::commands::{Running, SIMPLE, arbor, scratch, stderr, stdout};
use crate::support::{PATIENCE, tree};

pub(crate) fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Starts a host observed on a free port; with `actions`, also returns the
/// token it printed.
fn observed(dir: &std::path::Path, actions: bool) -> (Running, SocketAddr, Option<String>) {
    observed_tree(dir, &tree(SIMPLE), actions)
}

/// [`observed`] running the tree file `text`.
pub(crate) fn observed_tree(
    dir: &std::path::Path,
    text: &str,
    actions: bool,
) -> (Running, SocketAddr, Option<String>) {
    let address = free_port();
    let address_text = address.to_string();
    let mut extra = vec!["--observe", &address_text];
    if actions {
        extra.push("--observe-actions");
    }
    let mut host = Running::start_text(dir, text, arbor(), &extra);
    let mut lines = BufReader::new(host.child.stderr.take().unwrap()).lines();
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(t) = line.split("their token: ").nth(1) {
            token = Some(t.trim().to_string());
        }
        // The token, when there is one, is printed right after the address.
        if (line.contains("observer on http://") && !actions) || token.is_some() {
            break;
        }
    }
    // Keep draining stderr so the host never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (host, address, token)
}

/// One HTTP/1.0 exchange: status and body.
fn http(address: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "{head}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

fn get(address: SocketAddr, path: &str) -> (u16, String) {
    http(
        address,
        &format!("GET {path} HTTP/1.0\r\nHost: {address}"),
        "",
    )
}

#[test]
fn the_page_loads_and_its_event_stream_shows_a_crash_made_through_ctl_within_a_second() {
    let dir = scratch("observe-page");
    let (host, address, _) = observed(&dir, false);
    let (status, page) = get(address, "/");
    assert_eq!(status, 200);
    assert!(page.contains(r#"<script src="/app.js">"#), "{page}");
    let (status, script) = get(address, "/app.js");
    assert_eq!(status, 200);
    assert!(script.contains("EventSource(\"/api/events\")"));
    let (status, snapshot) = get(address, "/api/snapshot");
    assert_eq!(status, 200);
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(snapshot["tree"]["path"], "root");
    assert_eq!(snapshot["tree"]["children"][1]["path"], "root/b");
    assert_eq!(snapshot["tree"]["intensity"]["max_restarts"], 3);
    assert_eq!(snapshot["actions"], false);
    let seq = snapshot["seq"].as_u64().unwrap();

    // The stream: a hello with the last number, then numbered events.
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(stream).lines();
    let hello = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("data: "))
        .unwrap();
    assert_eq!(hello, format!("data: {{\"seq\":{seq}}}"));

    let crashed = Instant::now();
    let _ = host.ctl(&["call", "b", "crash"]);
    let crash: serde_json::Value = lines
        .by_ref()
        .map(Result::unwrap)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .map(|d| serde_json::from_str::<serde_json::Value>(&d).unwrap())
        .find(|e| e["event"] == "child_terminated" && e["path"] == "root/b")
        .unwrap();
    assert!(
        crashed.elapsed() < Duration::from_secs(1),
        "{:?}",
        crashed.elapsed()
    );
    assert_eq!(crash["reason"], "crash");
    assert_eq!(crash["seq"], seq + 1, "numbered from the snapshot on");

    let (status, why) = get(address, "/api/why?name=b");
    assert_eq!(status, 200);
    let why: serde_json::Value = serde_json::from_str(&why).unwrap();
    let entry = &why["child"]["history"][0];
    assert_eq!(entry["cause"]["reason"], "crash");
    assert_eq!(entry["cause"]["message"], "crash");
    assert_eq!(entry["decision"]["strategy"], "one_for_one");
    assert_eq!(entry["decision"]["action"], "restart");
    assert_eq!(get(address, "/api/why?name=ghost").0, 404);
    let (status, metrics) = get(address, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            r#"arbor_child_exits_total{supervisor="root",component="probe",reason="crash"} 1"#
        ),
        "{metrics}"
    );
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}

/// Polls `done` for [`PATIENCE`].
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn ctl_crash_kills_a_child_its_supervisor_restarts_it_and_why_names_both() {
    let dir = scratch("ctl-crash");
    let host = Running::start(&dir, SIMPLE);
    assert_eq!(stdout(&host.ctl(&["call", "b", "count"])), "1");
    let out = host.ctl(&["crash", "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
    // Only b can be at generation 2.
    let restarted = wait_until(|| stdout(&host.ctl(&["tree"])).contains("running, generation 2"));
    assert!(restarted, "{}", stdout(&host.ctl(&["tree"])));
    assert_eq!(stdout(&host.ctl(&["call", "b", "count"])), "1", "fresh");
    let why = stdout(&host.ctl(&["why", "b"]));
    assert!(why.contains("exited: killed (crashed on request)"), "{why}");
    assert!(why.contains("root (one_for_one) decided: restart"), "{why}");
    for (name, error) in [
        ("ghost", "no child named \"ghost\" in the tree"),
        ("root", "\"root\" is the root"),
    ] {
        let out = host.ctl(&["crash", name]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(error), "{}", stderr(&out));
    }
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}

fn post_action(address: SocketAddr, host: &str, extra: &str, body: &str) -> (u16, String) {
    http(
        address,
        &format!(
            "POST /api/action HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json{extra}"
        ),
        body,
    )
}

#[test]
fn actions_are_refused_without_the_token_from_another_origin_or_host_and_when_off() {
    let stop = r#"{"cmd":"stop_child","supervisor":"root","name":"a"}"#;
    let dir = scratch("observe-actions");
    let (host, address, token) = observed(&dir, true);
    let token = token.expect("the token is printed at start");
    let me = address.to_string();
    let auth = format!("\r\nAuthorization: Bearer {token}");
    let origin = format!("\r\nOrigin: http://{me}");

    assert_eq!(post_action(address, &me, &origin, stop).0, 401, "no token");
    let wrong = "\r\nAuthorization: Bearer 0000";
    assert_eq!(post_action(address, &me, wrong, stop).0, 401, "wrong token");
    let evil = format!("{auth}\r\nOrigin: http://evil.example");
    assert_eq!(
        post_action(address, &me, &evil, stop).0,
        403,
        "wrong Origin"
    );
    assert_eq!(
        post_action(address, "evil.example", &auth, stop).0,
        403,
        "wrong Host (DNS rebinding)"
    );
    let shutdown = r#"{"cmd":"shutdown"}"#;
    assert_eq!(
        post_action(address, &me, &auth, shutdown).0,
        400,
        "not an action"
    );
    assert!(host.ctl(&["tree"]).status.success(), "still running");
    assert!(
        stdout(&host.ctl(&["tree"])).contains("├── a  probe@"),
        "nothing was stopped"
    );

    let (status, body) = post_action(address, &me, &format!("{auth}{origin}"), stop);
    assert_eq!(status, 200, "{body}");
    let tree = stdout(&host.ctl(&["tree"]));
    assert!(tree.contains("permanent, stopped, generation 1"), "{tree}");
    let crash = r#"{"cmd":"crash","name":"root/b"}"#;
    let (status, body) = post_action(address, &me, &format!("{auth}{origin}"), crash);
    assert_eq!(status, 200, "{body}");
    let restarted = wait_until(|| stdout(&host.ctl(&["tree"])).contains("running, generation 2"));
    assert!(restarted, "the crash action restarts b");
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();

    let dir = scratch("observe-actions-off");
    let (host, address, token) = observed(&dir, false);
    assert_eq!(token, None, "no token without --observe-actions");
    let (status, body) = post_action(
        address,
        &address.to_string(),
        "\r\nAuthorization: Bearer x",
        stop,
    );
    assert_eq!(status, 403);
    assert!(body.contains("--observe-actions"), "{body}");
    let out = host.ctl(&["shutdown"]);
    assert!(out.status.success(), "{}", stderr(&out));
    host.wait();
}
