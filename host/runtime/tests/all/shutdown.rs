//! README "Semantics" row "shutdown": reverse order, terminate, budgets.

use std::time::{Duration, Instant};

use arbor::EventKind;

use crate::support::{Harness, TreeText, compacts, root};

fn tree(worker_extra: &str) -> TreeText {
    let report = "args = '{\"report_to\": \"recorder\"}'";
    root("")
        .worker("recorder", "")
        .supervisor("sub", "strategy = \"one_for_one\"", |s| {
            s.worker("first", report)
                .worker("second", report)
                .worker("w", worker_extra)
        })
}

#[tokio::test]
async fn shutdown_stops_children_in_reverse_start_order_and_calls_terminate_on_each() {
    let mut h = Harness::start(tree("").text()).await;
    h.node.terminate_child("root", "sub").await.unwrap();
    let events = h
        .collect_until("sub stopped", |e| {
            e.event == EventKind::SupervisorTerminated
        })
        .await;
    let stops: Vec<String> = compacts(&events)
        .into_iter()
        .filter(|e| !e.contains("started"))
        .collect();
    assert_eq!(
        stops,
        [
            "child_terminated root/sub/w shutdown",
            "child_terminated root/sub/second shutdown",
            "child_terminated root/sub/first shutdown",
            "supervisor_terminated root/sub shutdown",
        ]
    );
    // terminate ran in each, in that order (each cast a note to the recorder).
    assert_eq!(
        h.call("recorder", "notes").await.unwrap(),
        "terminated:second:shutdown,terminated:first:shutdown"
    );
    h.node.shutdown().await;
    let last = h
        .wait_event(EventKind::SupervisorTerminated, "root", None)
        .await;
    assert_eq!(last.reason.map(|r| r.as_str()), Some("shutdown"));
    assert_eq!(last.detail, None);
}

#[tokio::test]
async fn a_child_past_its_shutdown_budget_is_killed() {
    let tree = tree("shutdown_ms = 100\nargs = '{\"terminate_sleep_ms\": 5000}'");
    let mut h = Harness::start(tree.text()).await;
    let started = Instant::now();
    h.node.terminate_child("root", "sub").await.unwrap();
    let killed = h
        .wait_event(EventKind::ChildTerminated, "root/sub/w", None)
        .await;
    assert_eq!(killed.reason.map(|r| r.as_str()), Some("killed"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for terminate: {:?}",
        started.elapsed()
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn brutal_kill_drops_the_child_without_calling_terminate() {
    let tree = tree("shutdown_ms = \"brutal_kill\"\nargs = '{\"report_to\": \"recorder\"}'");
    let mut h = Harness::start(tree.text()).await;
    h.node.terminate_child("root", "sub").await.unwrap();
    let killed = h
        .wait_event(EventKind::ChildTerminated, "root/sub/w", None)
        .await;
    assert_eq!(killed.reason.map(|r| r.as_str()), Some("killed"));
    h.wait_event(EventKind::SupervisorTerminated, "root/sub", None)
        .await;
    let notes = h.call("recorder", "notes").await.unwrap();
    assert!(
        !notes.contains("terminated:w"),
        "terminate must not run: {notes}"
    );
    assert!(
        notes.contains("terminated:second"),
        "the others stop in order: {notes}"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn an_infinity_budget_waits_for_terminate_to_finish() {
    let tree = tree("shutdown_ms = \"infinity\"\nargs = '{\"terminate_sleep_ms\": 300}'");
    let mut h = Harness::start(tree.text()).await;
    let started = Instant::now();
    h.node.terminate_child("root", "sub").await.unwrap();
    let stopped = h
        .wait_event(EventKind::ChildTerminated, "root/sub/w", None)
        .await;
    assert_eq!(stopped.reason.map(|r| r.as_str()), Some("shutdown"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_stopped_child_can_be_restarted_by_name() {
    let mut h = Harness::start(tree("").text()).await;
    h.node.terminate_child("sub", "second").await.unwrap();
    h.wait_event(
        EventKind::ChildTerminated,
        "root/sub/second",
        Some("shutdown"),
    )
    .await;
    assert!(h.call("second", "ping").await.is_err());
    h.node.restart_child("sub", "second").await.unwrap();
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/sub/second", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("second", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// `sub` is killed (its 300 ms budget runs out) while it waits for `w` to
/// finish a 3 s `terminate`: the kill reaches `w` too, and `w` reports
/// exactly one stop.
#[tokio::test]
async fn a_kill_while_a_child_is_being_stopped_still_stops_and_reports_that_child() {
    let tree = root("").supervisor(
        "sub",
        "strategy = \"one_for_one\"\nshutdown_ms = 300",
        |s| {
            s.worker(
                "w",
                "shutdown_ms = 10000\nargs = '{\"terminate_sleep_ms\": 3000}'",
            )
        },
    );
    let mut h = Harness::start(tree.text()).await;
    h.node.shutdown().await;
    h.drain(std::time::Duration::from_millis(300)).await;
    let w_stops: Vec<String> = h
        .seen
        .iter()
        .filter(|e| e.event == EventKind::ChildTerminated && e.path == "root/sub/w")
        .map(crate::support::compact)
        .collect();
    assert_eq!(w_stops, ["child_terminated root/sub/w killed"]);
    let sub = h
        .seen
        .iter()
        .find(|e| e.event == EventKind::SupervisorTerminated && e.path == "root/sub")
        .expect("sub reports its end");
    assert_eq!(sub.reason, Some(arbor::ExitReason::Killed));
}
