//! README "Semantics" rows: restart intensity, restart failure and its
//! retries, nested escalation.

use std::time::Duration;

use arbor::{
    ChildCommandError, ChildStatus, CommandError, EventKind, ExitReason, Node, NodeError,
    NodeOptions,
};

use crate::support::{Harness, compacts, parse, root, user_cache};

#[tokio::test]
async fn intensity_exceeded_stops_the_children_in_reverse_order_and_the_supervisor_exits_with_max_restarts()
 {
    let tree = root("max_restarts = 2\nmax_seconds = 60")
        .worker("a", "")
        .worker("b", "")
        .worker("c", "");
    let mut h = Harness::start(tree.text()).await;
    for generation in 2..=3 {
        assert!(h.call("b", "crash").await.is_err());
        let restarted = h
            .wait_event(EventKind::ChildRestarted, "root/b", None)
            .await;
        assert_eq!(restarted.generation, Some(generation));
    }
    assert!(h.call("b", "crash").await.is_err());
    let events = h
        .collect_until("root gave up", |e| {
            e.event == EventKind::SupervisorTerminated
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/b crash",
            "child_terminated root/c shutdown",
            "child_terminated root/a shutdown",
            "supervisor_terminated root shutdown",
        ]
    );
    assert_eq!(
        events.last().unwrap().detail.as_deref(),
        Some("max_restarts")
    );
    let exit = h.node.wait().await;
    assert_eq!(exit.reason, ExitReason::Shutdown);
    assert!(exit.gave_up());
}

#[tokio::test]
async fn default_intensity_is_three_restarts_in_five_seconds() {
    let mut h = Harness::start(root("").worker("w", "").text()).await;
    for _ in 0..3 {
        assert!(h.call("w", "crash").await.is_err());
        h.wait_event(EventKind::ChildRestarted, "root/w", None)
            .await;
    }
    assert!(h.call("w", "crash").await.is_err());
    let gave_up = h
        .wait_event(EventKind::SupervisorTerminated, "root", None)
        .await;
    assert_eq!(gave_up.detail.as_deref(), Some("max_restarts"));
    assert!(
        !h.seen
            .iter()
            .any(|e| e.event == EventKind::ChildRestarted && e.generation == Some(5)),
        "no fourth restart"
    );
}

#[tokio::test]
async fn nested_supervisor_giving_up_counts_as_one_child_exit_for_its_parent() {
    let tree = root("max_restarts = 1\nmax_seconds = 60")
        .worker("steady", "")
        .supervisor("sub", "strategy = \"one_for_one\"\nmax_restarts = 0", |s| {
            s.worker("x", "")
        });
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("steady", "count").await.unwrap(), "1");
    // x crashes: sub (max 0) gives up; root restarts sub, which starts a fresh x.
    assert!(h.call("x", "crash").await.is_err());
    let events = h
        .collect_until("sub back", |e| {
            e.event == EventKind::SupervisorStarted && e.path == "root/sub"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/sub/x crash",
            "supervisor_terminated root/sub shutdown",
            "child_started root/sub/x g1",
            "supervisor_started root/sub",
        ]
    );
    assert_eq!(
        h.call("steady", "count").await.unwrap(),
        "2",
        "one_for_one: steady untouched"
    );
    // Again: root's second restart within its window exceeds max_restarts = 1.
    assert!(h.call("x", "crash").await.is_err());
    let events = h
        .collect_until("root gave up", |e| {
            e.event == EventKind::SupervisorTerminated && e.path == "root"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/sub/x crash",
            "supervisor_terminated root/sub shutdown",
            "child_terminated root/steady shutdown",
            "supervisor_terminated root shutdown",
        ]
    );
    assert!(h.node.wait().await.gave_up());
}

#[tokio::test]
async fn a_failed_restart_counts_as_a_restart_and_is_retried_until_the_intensity_is_exceeded() {
    let tree = root("max_restarts = 0").worker("flags", "").supervisor(
        "sub",
        "strategy = \"one_for_one\"\nmax_restarts = 3\nmax_seconds = 60",
        |s| s.worker("g", "args = '{\"init_gate\": \"flags\"}'"),
    );
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("flags", "note fail-init").await.unwrap(), "noted");
    assert!(h.call("g", "crash").await.is_err());
    let events = h
        .collect_until("sub gave up", |e| {
            e.event == EventKind::SupervisorTerminated && e.path == "root/sub"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/sub/g crash",
            "child_terminated root/sub/g error",
            "child_terminated root/sub/g error",
            "child_terminated root/sub/g error",
            "supervisor_terminated root/sub shutdown",
        ],
        "one crash, then three restarts that fail in init, then the fourth exceeds max_restarts = 3"
    );
    assert!(
        events[1].detail.as_deref().unwrap().contains("fail-init"),
        "{:?}",
        events[1]
    );
}

#[tokio::test]
async fn a_failed_restart_is_retried_and_succeeds_once_init_works_again() {
    let tree = root("max_restarts = 1000\nmax_seconds = 60")
        .worker("flags", "")
        .worker("g", "args = '{\"init_gate\": \"flags\"}'");
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("flags", "note fail-init").await.unwrap(), "noted");
    assert!(h.call("g", "crash").await.is_err());
    h.wait_event(EventKind::ChildTerminated, "root/g", Some("error"))
        .await;
    assert_eq!(h.call("flags", "forget").await.unwrap(), "forgotten");
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/g", None)
        .await;
    assert_eq!(
        restarted.generation,
        Some(2),
        "failed attempts do not count as generations"
    );
    assert_eq!(h.call("g", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// Each failed start takes 400 ms (an `init` that hangs until its deadline),
/// so no more than 3 restarts ever fall in one second: the supervisor would
/// retry forever. A retry is queued behind other requests, so a command is
/// answered and a shutdown gets in between two attempts.
#[tokio::test]
async fn commands_and_shutdown_get_in_between_restart_retries_that_fail_slowly() {
    let tree = root("max_restarts = 3\nmax_seconds = 1")
        .worker("flags", "")
        .worker("g", "timeout_ms = 400\nargs = '{\"init_gate\": \"flags\"}'");
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("flags", "note hang-init").await.unwrap(), "noted");
    assert!(h.call("g", "crash").await.is_err());
    h.wait_for("a restart that timed out in init", |e| {
        e.path == "root/g" && e.detail.as_deref() == Some("init: timeout")
    })
    .await;

    let answer = tokio::time::timeout(Duration::from_secs(3), h.node.restart_child("root", "g"))
        .await
        .expect("a command is answered between two retries");
    assert_eq!(
        answer,
        Err(CommandError::Child(ChildCommandError::Restarting(
            "g".into()
        )))
    );
    let tree = h.node.tree().await.unwrap();
    let g = tree.children.iter().find(|c| c.path == "root/g").unwrap();
    assert_eq!(g.state, ChildStatus::Restarting);

    let stopped = tokio::time::timeout(Duration::from_secs(5), h.node.shutdown())
        .await
        .expect("the shutdown gets in between two retries");
    assert_eq!(stopped.reason, ExitReason::Shutdown);
    assert!(!stopped.gave_up());
}

#[tokio::test]
async fn an_init_timeout_at_first_start_fails_the_start_and_names_the_child() {
    let tree = parse(
        root("")
            .worker("a", "")
            .worker(
                "slow",
                "timeout_ms = 300\nargs = '{\"init_sleep_ms\": 60000}'",
            )
            .text(),
    );
    let started = tokio::time::timeout(
        Duration::from_secs(10),
        Node::start(
            &tree,
            NodeOptions {
                cache: user_cache(),
                ..NodeOptions::default()
            },
        ),
    )
    .await
    .expect("the deadline ends the init");
    let Err(NodeError::Start { reason, detail }) = started else {
        panic!("the start must fail");
    };
    assert_eq!(reason, ExitReason::Crash);
    assert_eq!(detail, "slow: init: timeout");
}

/// OTP: a supervisor that reaches its intensity exits with reason
/// `shutdown`, which a transient child's supervisor does not restart.
#[tokio::test]
async fn a_transient_nested_supervisor_that_gives_up_stays_down() {
    let tree = root("").worker("steady", "").supervisor(
        "sub",
        "strategy = \"one_for_one\"\nrestart = \"transient\"\nmax_restarts = 0",
        |s| s.worker("x", ""),
    );
    let mut h = Harness::start(tree.text()).await;
    assert!(h.call("x", "crash").await.is_err());
    let gave_up = h
        .wait_event(EventKind::SupervisorTerminated, "root/sub", None)
        .await;
    assert_eq!(gave_up.detail.as_deref(), Some("max_restarts"));
    let later = h.drain(Duration::from_millis(300)).await;
    assert!(later.is_empty(), "nothing restarts: {:?}", compacts(&later));
    let report = h.node.tree().await.unwrap();
    let sub = report
        .children
        .iter()
        .find(|c| c.path == "root/sub")
        .unwrap();
    assert_eq!(sub.state, ChildStatus::Stopped);
    assert_eq!(h.call("steady", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// `sub` is killed (its 300 ms budget runs out) while it waits for a
/// restart whose `init` hangs for 3 s: it does not wait for that `init`,
/// and its other child is killed and reported.
#[tokio::test]
async fn a_supervisor_killed_in_the_middle_of_a_restart_ends_at_once() {
    let tree = root("").worker("flags", "").supervisor(
        "sub",
        "strategy = \"one_for_one\"\nshutdown_ms = 300",
        |s| {
            s.worker("other", "shutdown_ms = 5000").worker(
                "g",
                "timeout_ms = 3000\nargs = '{\"init_gate\": \"flags\"}'",
            )
        },
    );
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("flags", "note hang-init").await.unwrap(), "noted");
    h.node.cast("g", b"crash".to_vec()).unwrap();
    h.wait_event(EventKind::ChildTerminated, "root/sub/g", Some("crash"))
        .await;
    let started = std::time::Instant::now();
    h.node.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the kill does not wait for the 3 s init: {:?}",
        started.elapsed()
    );
    h.drain(Duration::from_millis(100)).await;
    let ends: Vec<String> = h
        .seen
        .iter()
        .filter(|e| e.path.starts_with("root/sub"))
        .filter(|e| {
            matches!(
                e.event,
                EventKind::ChildTerminated | EventKind::SupervisorTerminated
            )
        })
        .map(crate::support::compact)
        .collect();
    assert_eq!(
        ends,
        [
            "child_terminated root/sub/g crash",
            "child_terminated root/sub/other killed",
            "supervisor_terminated root/sub killed",
        ]
    );
}
