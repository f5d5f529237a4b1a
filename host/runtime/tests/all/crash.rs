//! `crash` (`arbor ctl crash`, [`arbor::NodeHandle::crash_child`]): OTP's
//! `exit(Pid, kill)` from outside. The child is dropped without
//! `terminate`, exits `killed`, and its supervisor decides as on any crash.

use std::time::{Duration, Instant};

use arbor::node::CommandError;
use arbor::{ChildCommandError, EventKind, ExitReason};

use crate::support::{Harness, PATIENCE, compacts, root};

#[tokio::test]
async fn a_crashed_child_is_killed_without_terminate_and_its_one_for_all_supervisor_restarts_both()
{
    let report = r#"args = '{"report_to": "recorder"}'"#;
    let tree =
        root("")
            .worker("recorder", "")
            .supervisor("pay", "strategy = \"one_for_all\"", |s| {
                s.worker("ledger", report).worker("gateway", report)
            });
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("ledger", "count").await.unwrap(), "1");
    // Busy in a callback: a kill does not wait for it, a stop would.
    let node = h.node.handle();
    let busy = tokio::spawn(async move { node.call("gateway", b"sleep 5000".to_vec()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();

    h.node.crash_child("pay/gateway").await.unwrap();
    let events = h
        .collect_until("ledger restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/pay/gateway"
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/pay/gateway killed",
            "child_terminated root/pay/ledger shutdown",
            "child_restarted root/pay/ledger g2",
            "child_restarted root/pay/gateway g2",
        ]
    );
    assert_eq!(events[0].detail.as_deref(), Some("crashed on request"));
    assert!(busy.await.unwrap().is_err(), "the call in flight fails");
    assert_eq!(h.call("ledger", "count").await.unwrap(), "1", "restarted");
    let notes = h.call("recorder", "notes").await.unwrap();
    assert!(
        !notes.contains("terminated:gateway"),
        "no terminate: {notes}"
    );
    assert!(
        notes.contains("terminated:ledger"),
        "the sibling stops in order: {notes}"
    );

    let why = h.node.why("gateway").unwrap();
    let [entry] = &why.child.history[..] else {
        panic!("one entry: {why}");
    };
    assert_eq!(entry.cause.reason, ExitReason::Killed);
    assert_eq!(entry.cause.detail.as_deref(), Some("crashed on request"));
    assert_eq!(entry.decision.strategy, "one_for_all");
    assert_eq!(entry.decision.action, "restart");
    assert_eq!(
        entry.decision.restarted,
        ["root/pay/ledger", "root/pay/gateway"]
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn crashes_count_against_the_intensity_and_a_temporary_child_is_not_restarted() {
    let tree = root("")
        .supervisor("sub", "max_restarts = 1\nmax_seconds = 60", |s| {
            s.worker("w", "")
        })
        .worker("once", "restart = \"temporary\"");
    let mut h = Harness::start(tree.text()).await;

    h.node.crash_child("w").await.unwrap();
    h.wait_event(EventKind::ChildRestarted, "root/sub/w", None)
        .await;
    // The second within the window is one too many: sub gives up, and
    // root restarts it as one child.
    h.node.crash_child("w").await.unwrap();
    let gave_up = h
        .wait_event(EventKind::SupervisorTerminated, "root/sub", None)
        .await;
    assert_eq!(gave_up.detail.as_deref(), Some("max_restarts"));
    h.wait_event(EventKind::SupervisorStarted, "root/sub", None)
        .await;

    h.node.crash_child("once").await.unwrap();
    h.wait_event(EventKind::ChildTerminated, "root/once", Some("killed"))
        .await;
    let after = h.drain(Duration::from_millis(300)).await;
    assert!(
        !compacts(&after).iter().any(|e| e.contains("root/once")),
        "{after:?}"
    );
    assert!(matches!(
        h.node.crash_child("once").await,
        Err(CommandError::NoSuchChild(_))
    ));
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_crashed_supervisor_kills_its_children_and_its_parent_restarts_it() {
    let tree = root("").supervisor("sub", "", |s| s.worker("w", ""));
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("w", "count").await.unwrap(), "1");
    h.node.crash_child("sub").await.unwrap();
    let killed = h
        .wait_event(EventKind::SupervisorTerminated, "root/sub", None)
        .await;
    assert_eq!(killed.reason, Some(ExitReason::Killed));
    h.wait_event(EventKind::ChildStarted, "root/sub/w", None)
        .await;
    assert_eq!(h.call("w", "count").await.unwrap(), "1", "fresh");
    // root publishes sub's generation once sub says it started, which is
    // after sub's children's events.
    let deadline = Instant::now() + PATIENCE;
    let why = loop {
        let why = h.node.why("sub").unwrap();
        if why.child.generation == 2 {
            break why;
        }
        assert!(Instant::now() < deadline, "sub restarted: {why}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        why.child.history[0].cause.detail.as_deref(),
        Some("crashed on request")
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn only_a_running_child_below_the_root_can_be_crashed() {
    let tree = root("").worker("a", "").worker("b", "");
    let h = Harness::start(tree.text()).await;
    h.node.terminate_child("root", "b").await.unwrap();
    assert!(matches!(
        h.node.crash_child("b").await,
        Err(CommandError::Child(ChildCommandError::NotRunning(_)))
    ));
    assert!(matches!(
        h.node.crash_child("root").await,
        Err(CommandError::Root(_))
    ));
    assert!(matches!(
        h.node.crash_child("ghost").await,
        Err(CommandError::NoSuchChild(_))
    ));
    assert_eq!(
        h.call("a", "ping").await.unwrap(),
        "pong",
        "nothing else moved"
    );
    h.node.shutdown().await;
}
