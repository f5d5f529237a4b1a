//! README "Semantics" row "start", and guests that misbehave in init, handle or terminate.

use std::time::{Duration, Instant};

use arbor::{CallError, EventKind, EventSink, Node, NodeError, NodeOptions, WorkerSpec};

use crate::support::{Harness, TreeText, compacts, parse, root};

#[tokio::test]
async fn children_start_in_listed_order_each_init_finished_before_the_next_starts() {
    // b's init calls a, and c's init calls b: that only works if each init
    // ran to completion, in order, before the next child started.
    let tree = root("")
        .worker("a", "")
        .worker("b", "args = '{\"init_gate\": \"a\"}'")
        .worker("c", "args = '{\"init_gate\": \"b\"}'");
    let h = Harness::start(tree.text()).await;
    assert_eq!(
        compacts(&h.seen),
        [
            "child_started root/a g1",
            "child_started root/b g1",
            "child_started root/c g1",
            "supervisor_started root",
        ]
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn an_init_error_at_first_start_stops_the_started_siblings_in_reverse_and_fails_the_start() {
    let tree = parse(
        root("")
            .worker("a", "")
            .worker("b", "")
            .worker("c", "args = '{\"fail_init\": true}'")
            .worker("d", "")
            .text(),
    );
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let result = Node::start(
        &tree,
        NodeOptions {
            events: sink,
            threads: 2,
            cache: crate::support::user_cache(),
            ..NodeOptions::default()
        },
    )
    .await;
    let Err(NodeError::Start { reason, detail }) = result else {
        panic!("the start must fail");
    };
    assert_eq!(reason.as_str(), "error");
    assert!(
        detail.starts_with("c: init returned an error: fail_init was set"),
        "{detail}"
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        compacts(&seen),
        [
            "child_started root/a g1",
            "child_started root/b g1",
            "child_terminated root/c error",
            "child_terminated root/b shutdown",
            "child_terminated root/a shutdown",
        ],
        "d never starts, and no supervisor_started"
    );
}

fn loopy() -> TreeText {
    root("")
        .worker("spinner", "timeout_ms = 1000")
        .worker("neighbour", "")
}

#[tokio::test]
async fn a_guest_that_loops_forever_is_a_crash_with_detail_timeout_while_its_neighbours_keep_serving()
 {
    let mut h = Harness::start(loopy().text()).await;
    let started = Instant::now();
    let (spin, neighbour) = tokio::join!(
        async {
            let reply = h.call("spinner", "loop").await;
            (reply, started.elapsed())
        },
        async {
            // Same supervisor, same thread: the spinner must yield to it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let reply = h.call("neighbour", "ping").await;
            (reply, started.elapsed())
        }
    );
    assert_eq!(spin.0, Err(CallError::Crashed("timeout".into())));
    assert_eq!(neighbour.0.unwrap(), "pong");
    assert!(
        neighbour.1 < spin.1,
        "the neighbour answered while the spinner spun: {:?} vs {:?}",
        neighbour.1,
        spin.1
    );
    let terminated = h
        .wait_event(EventKind::ChildTerminated, "root/spinner", Some("crash"))
        .await;
    assert_eq!(terminated.detail.as_deref(), Some("timeout"));
    h.wait_event(EventKind::ChildRestarted, "root/spinner", None)
        .await;
    assert_eq!(h.call("spinner", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_guest_sleeping_past_its_deadline_in_a_host_call_is_a_timeout_crash() {
    let mut h = Harness::start(loopy().text()).await;
    assert_eq!(
        h.call("spinner", "sleep 3000").await,
        Err(CallError::Crashed("timeout".into()))
    );
    let terminated = h
        .wait_event(EventKind::ChildTerminated, "root/spinner", Some("crash"))
        .await;
    assert_eq!(terminated.detail.as_deref(), Some("timeout"));
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_guest_that_fails_init_when_started_at_run_time_is_refused_and_the_tree_keeps_serving() {
    let mut h = Harness::start(loopy().text()).await;
    let mut spec = WorkerSpec::new("broken", "probe");
    spec.args = br#"{"fail_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    assert!(err.to_string().contains("fail_init was set"), "{err}");
    h.wait_event(EventKind::ChildTerminated, "root/broken", Some("error"))
        .await;
    let mut spec = WorkerSpec::new("trapper", "probe");
    spec.args = br#"{"trap_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    assert!(err.to_string().contains("crash"), "{err}");
    assert_eq!(h.call("neighbour", "ping").await.unwrap(), "pong");
    assert_eq!(h.node.count_children("root").await.unwrap().specs, 2);
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_guest_that_traps_in_terminate_is_reported_as_a_crash_and_the_shutdown_goes_on() {
    let tree = root("")
        .worker("a", "")
        .worker("bad", "args = '{\"trap_terminate\": true}'")
        .worker("c", "");
    let mut h = Harness::start(tree.text()).await;
    h.node.shutdown().await;
    let events = h
        .collect_until("root stopped", |e| {
            e.event == EventKind::SupervisorTerminated
        })
        .await;
    let tail: Vec<String> = compacts(&events)
        .into_iter()
        .filter(|e| !e.contains("started"))
        .collect();
    assert_eq!(
        tail,
        [
            "child_terminated root/c shutdown",
            "child_terminated root/bad crash",
            "child_terminated root/a shutdown",
            "supervisor_terminated root shutdown",
        ]
    );
    let bad = events
        .iter()
        .find(|e| e.path == "root/bad" && e.reason.is_some())
        .unwrap();
    assert!(
        bad.detail
            .as_deref()
            .unwrap()
            .starts_with("terminate: panic: trap_terminate was set"),
        "{bad:?}"
    );
}

#[tokio::test]
async fn a_trap_in_terminate_after_stop_is_a_crash_and_the_child_restarts() {
    let tree = root("").worker(
        "bad",
        "restart = \"transient\"\nargs = '{\"trap_terminate\": true}'",
    );
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("bad", "exit normal").await.unwrap(), "bye");
    let t = h
        .wait_event(EventKind::ChildTerminated, "root/bad", None)
        .await;
    assert_eq!(
        t.reason.map(|r| r.as_str()),
        Some("crash"),
        "terminate trapped, so the exit is abnormal"
    );
    h.wait_event(EventKind::ChildRestarted, "root/bad", None)
        .await;
    h.node.shutdown().await;
}
