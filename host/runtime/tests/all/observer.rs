//! The observer's HTTP routes over a running host: `/metrics` parsed as
//! Prometheus text and checked against counts made by scripted crashes.

use std::collections::BTreeMap;
use std::time::Duration;

use arbor::observe::server::ObserveServer;
use arbor::{EventKind, EventSink, Node, NodeOptions};

use crate::support::{PATIENCE, parse, request, root, user_cache};

/// Parsed samples: `name{labels}` (labels sorted, as written) -> value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                typed.insert(name.to_string()),
                "one TYPE per family: {line}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number: {line}")),
        };
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "a TYPE before {line}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{line}"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_restarts_exits_messages_and_errors_of_scripted_crashes() {
    let tree = parse(
        root("max_restarts = 10")
            .worker("a", "")
            .worker("b", "")
            .supervisor("pool", "dynamic = {}", |s| s)
            .text(),
    );
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let node = Node::start(
        &tree,
        NodeOptions {
            events: sink,
            threads: 2,
            cache: user_cache(),
            observe: true,
            ..NodeOptions::default()
        },
    )
    .await
    .expect("the tree starts");
    let server = ObserveServer::bind("127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let address = server.address();
    let serving = tokio::spawn(server.serve(node.handle()));

    for i in 0..5 {
        let reply = node.call("a", b"count".to_vec()).await.unwrap();
        assert_eq!(reply, (i + 1).to_string().as_bytes());
    }
    assert!(node.call("a", b"fail no".to_vec()).await.is_err());
    for _ in 0..3 {
        assert!(node.call("b", b"crash".to_vec()).await.is_err());
        // Wait for the restart before the next crash reaches a fresh instance.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let e = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("the restart in time")
                .unwrap();
            if e.event == EventKind::ChildRestarted && e.path == "root/b" {
                break;
            }
        }
    }

    let (status, body) = request(address, "GET", "/metrics", "").await;
    assert_eq!(status, 200, "{body}");
    let m = parse_metrics(&body);
    let get = |series: &str| {
        *m.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{body}"))
    };
    assert_eq!(
        get(r#"arbor_child_restarts_total{supervisor="root",component="probe"}"#),
        3.0
    );
    assert_eq!(
        get(r#"arbor_child_exits_total{supervisor="root",component="probe",reason="crash"}"#),
        3.0
    );
    assert_eq!(
        get(r#"arbor_child_exits_total{supervisor="root",component="probe",reason="normal"}"#),
        0.0
    );
    assert_eq!(
        get(r#"arbor_supervisor_restarts_total{supervisor="root"}"#),
        3.0
    );
    // a: 5 counts and 1 error; b: 3 messages that crashed are not handled.
    assert_eq!(
        get(r#"arbor_messages_total{supervisor="root",component="probe"}"#),
        6.0
    );
    assert_eq!(
        get(r#"arbor_message_errors_total{supervisor="root",component="probe"}"#),
        1.0
    );
    assert_eq!(
        get(r#"arbor_callback_duration_seconds_count{supervisor="root",component="probe"}"#),
        6.0
    );
    assert_eq!(
        get(
            r#"arbor_callback_duration_seconds_bucket{supervisor="root",component="probe",le="+Inf"}"#
        ),
        6.0
    );
    assert_eq!(
        get(r#"arbor_children{supervisor="root",state="running"}"#),
        3.0
    );
    assert_eq!(
        get(r#"arbor_children{supervisor="root/pool",state="running"}"#),
        0.0
    );
    assert_eq!(
        get(r#"arbor_mailbox_messages{supervisor="root",component="probe"}"#),
        0.0
    );
    assert!(get("arbor_instances_capacity") >= 2.0);
    // a and b; a crashed instance may not be given back to the pool yet.
    let live = get("arbor_instances_live");
    assert!((2.0..=3.0).contains(&live), "{live}");
    assert!(get("arbor_process_resident_memory_bytes") > 1e6);

    // The snapshot has each worker's own figures.
    let (status, body) = request(address, "GET", "/api/tree", "").await;
    assert_eq!(status, 200);
    let tree: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tree["children"][0]["messages"], 6);
    assert_eq!(tree["children"][0]["mailbox"], 0);
    assert_eq!(tree["children"][1]["restarts"], 3);

    let (status, _) = request(address, "GET", "/nope", "").await;
    assert_eq!(status, 404);
    serving.abort();
    tokio::time::timeout(Duration::from_secs(10), node.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cardinality_of_many_dynamic_children_is_one_series_per_supervisor_and_component() {
    let tree = parse(root("").supervisor("pool", "dynamic = {}", |s| s).text());
    let node = Node::start(
        &tree,
        NodeOptions {
            threads: 1,
            cache: user_cache(),
            observe: true,
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap();
    for i in 0..50 {
        let spec = arbor::WorkerSpec::new(format!("w{i}"), "probe".to_string());
        node.start_child("pool", spec).await.unwrap();
        node.call(&format!("w{i}"), b"ping".to_vec()).await.unwrap();
    }
    let text = arbor::observe::metrics::render(&node.handle());
    let restarts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("arbor_messages_total{"))
        .collect();
    assert_eq!(
        restarts,
        [r#"arbor_messages_total{supervisor="root/pool",component="probe"} 50"#]
    );
    assert!(!text.contains("w17"), "no child names in labels");
    node.shutdown().await;
}

async fn wait_restart(events: &mut tokio::sync::mpsc::UnboundedReceiver<arbor::Event>, path: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no restart of {path}"))
            .unwrap();
        if e.path == path
            && matches!(
                e.event,
                EventKind::ChildRestarted | EventKind::SupervisorStarted
            )
        {
            return;
        }
    }
}

#[tokio::test]
async fn why_names_the_sibling_crash_the_message_and_the_one_for_all_decision() {
    let tree = parse(
        root("")
            .supervisor(
                "pay",
                "strategy = \"one_for_all\"\nmax_restarts = 3\nmax_seconds = 5",
                |s| s.worker("ledger", "").worker("gateway", ""),
            )
            .supervisor("sub", "max_restarts = 0", |s| s.worker("x", ""))
            .text(),
    );
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let node = Node::start(
        &tree,
        NodeOptions {
            events: sink,
            threads: 1,
            cache: user_cache(),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap();
    let handle = node.handle();
    let why = handle.why("ledger").unwrap();
    assert!(why.child.history.is_empty(), "{why}");

    assert!(node.call("gateway", b"crash".to_vec()).await.is_err());
    wait_restart(&mut events, "root/pay/gateway").await;
    let why = handle.why("ledger").unwrap();
    assert_eq!(why.child.path, "root/pay/ledger");
    assert_eq!(why.child.generation, 2);
    let [entry] = &why.child.history[..] else {
        panic!("one entry: {why}");
    };
    assert_eq!(entry.cause.path, "root/pay/gateway");
    assert_eq!(entry.cause.reason, arbor::ExitReason::Crash);
    assert!(
        entry
            .cause
            .detail
            .as_deref()
            .unwrap()
            .contains("panic: crash requested"),
        "{why}"
    );
    assert_eq!(entry.cause.message.as_deref(), Some("crash"));
    assert_eq!(entry.decision.supervisor, "root/pay");
    assert_eq!(entry.decision.strategy, "one_for_all");
    assert_eq!(entry.decision.action, "restart");
    assert_eq!(entry.decision.stopped, ["root/pay/ledger"]);
    assert_eq!(
        entry.decision.restarted,
        ["root/pay/ledger", "root/pay/gateway"]
    );
    assert_eq!(entry.decision.restarts_in_window, 1);
    assert_eq!(entry.decision.max_restarts, 3);
    assert_eq!(entry.decision.max_seconds, 5.0);
    assert_eq!(why.supervisors[0].path, "root/pay");
    let text = why.to_string();
    assert!(
        text.contains("root/pay (one_for_all) decided: restart; stopped root/pay/ledger"),
        "{text}"
    );

    // A supervisor that gives up: its parent's decision is the chain's
    // next link (the escalation), found through the child's supervisors.
    assert!(node.call("x", b"crash".to_vec()).await.is_err());
    wait_restart(&mut events, "root/sub").await;
    let why = handle.why("x").unwrap();
    assert_eq!(why.supervisors[0].path, "root/sub");
    let escalation = why.supervisors[0]
        .history
        .last()
        .expect("the parent's decision");
    assert_eq!(escalation.cause.path, "root/sub");
    assert_eq!(escalation.cause.reason, arbor::ExitReason::Shutdown);
    assert_eq!(escalation.cause.detail.as_deref(), Some("max_restarts"));
    assert_eq!(escalation.decision.supervisor, "root");
    assert_eq!(escalation.decision.action, "restart");

    assert!(matches!(
        handle.why("ghost"),
        Err(arbor::node::WhyError::NoSuchChild(_))
    ));
    node.shutdown().await;
}

#[tokio::test]
async fn each_worker_shows_the_linear_memory_it_holds_and_metrics_sum_it_per_group() {
    let tree = parse(root("").worker("a", "").worker("b", "").text());
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let node = Node::start(
        &tree,
        NodeOptions {
            events: sink,
            threads: 1,
            cache: user_cache(),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap();
    let memory = |tree: &arbor::NodeReport, i: usize| tree.children[i].memory.unwrap();
    let tree = node.tree().await.unwrap();
    let fresh = memory(&tree, 0);
    assert!(
        fresh >= 1 << 16,
        "a running probe holds its memory: {fresh}"
    );
    assert_eq!(fresh % (1 << 16), 0, "whole wasm pages");
    assert_eq!(memory(&tree, 1), fresh, "the same component, fresh");
    assert_eq!(tree.memory, None, "a supervisor holds no memory of its own");

    let group = |text: &str| parse_metrics(text)[r#"arbor_memory_bytes{supervisor="root",component="probe"}"#];
    let text = arbor::observe::metrics::render(&node.handle());
    assert_eq!(group(&text), (2 * fresh) as f64, "{text}");

    node.call("a", b"grow 3".to_vec()).await.unwrap();
    let grown = memory(&node.tree().await.unwrap(), 0);
    assert!(grown >= fresh + (3 << 20), "{fresh} -> {grown}");
    let text = arbor::observe::metrics::render(&node.handle());
    assert_eq!(group(&text), (grown + fresh) as f64);

    // A crash drops the grown instance; its successor starts fresh.
    assert!(node.call("a", b"crash".to_vec()).await.is_err());
    wait_restart(&mut events, "root/a").await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    // The dead instance is dropped just after the restart (`drop_later`).
    while memory(&node.tree().await.unwrap(), 0) != fresh {
        assert!(tokio::time::Instant::now() < deadline, "given back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = arbor::observe::metrics::render(&node.handle());
    assert_eq!(group(&text), (2 * fresh) as f64);

    node.terminate_child("root", "b").await.unwrap();
    while memory(&node.tree().await.unwrap(), 1) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a stopped child holds nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await;
}
