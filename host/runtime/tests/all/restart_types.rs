//! README "Semantics" rows: permanent, transient, temporary.

use std::time::Duration;

use arbor::{CallError, EventKind};

use crate::support::{Harness, TreeText, compacts, root};

fn one(restart: &str, strategy: &str) -> TreeText {
    root(&format!("strategy = \"{strategy}\""))
        .worker("keeper", "")
        .worker("w", &format!("restart = \"{restart}\""))
        .worker("last", "")
}

#[tokio::test]
async fn permanent_child_is_restarted_even_after_a_normal_exit() {
    let mut h = Harness::start(one("permanent", "one_for_one").text()).await;
    assert_eq!(h.call("w", "exit normal").await.unwrap(), "bye");
    let events = h
        .collect_until("w restarted", |e| e.event == EventKind::ChildRestarted)
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/w normal",
            "child_restarted root/w g2"
        ]
    );
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn transient_child_is_restarted_after_an_abnormal_exit_only() {
    let mut h = Harness::start(one("transient", "one_for_one").text()).await;
    // crash and error are abnormal: restarted.
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(h.call("w", "exit error boom").await.unwrap(), "bye");
    let terminated = h
        .wait_event(EventKind::ChildTerminated, "root/w", Some("error"))
        .await;
    assert_eq!(terminated.detail.as_deref(), Some("boom"));
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    // normal is not: w stays down, and callers get an error at once.
    assert_eq!(h.call("w", "exit normal").await.unwrap(), "bye");
    h.wait_event(EventKind::ChildTerminated, "root/w", Some("normal"))
        .await;
    let later = h.drain(Duration::from_millis(300)).await;
    assert!(later.is_empty(), "nothing restarts: {:?}", compacts(&later));
    assert!(matches!(
        h.call("w", "ping").await,
        Err(CallError::Stopped(_))
    ));
    let tree = h.node.tree().await.unwrap();
    let w = tree.children.iter().find(|c| c.path == "root/w").unwrap();
    assert_eq!(
        w.state,
        arbor::ChildStatus::Stopped,
        "a transient child that exited normally stays in the tree"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn transient_child_is_not_restarted_after_exit_shutdown() {
    let mut h = Harness::start(one("transient", "one_for_one").text()).await;
    assert_eq!(h.call("w", "exit shutdown").await.unwrap(), "bye");
    h.wait_event(EventKind::ChildTerminated, "root/w", Some("shutdown"))
        .await;
    assert!(h.drain(Duration::from_millis(300)).await.is_empty());
    h.node.shutdown().await;
}

#[tokio::test]
async fn temporary_child_is_never_restarted_and_is_removed_from_the_tree() {
    let mut h = Harness::start(one("temporary", "one_for_one").text()).await;
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildTerminated, "root/w", Some("crash"))
        .await;
    assert!(h.drain(Duration::from_millis(300)).await.is_empty());
    let counts = h.node.count_children("root").await.unwrap();
    assert_eq!(
        (counts.specs, counts.active),
        (2, 2),
        "w is gone from the tree"
    );
    assert!(matches!(
        h.call("w", "ping").await,
        Err(CallError::NoSuchName(_))
    ));
    h.node.shutdown().await;
}

#[tokio::test]
async fn temporary_child_stopped_by_a_sibling_failure_is_removed_not_restarted() {
    let mut h = Harness::start(one("temporary", "one_for_all").text()).await;
    assert!(h.call("keeper", "crash").await.is_err());
    let events = h
        .collect_until("last restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/last"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/keeper crash",
            "child_terminated root/last shutdown",
            "child_terminated root/w shutdown",
            "child_restarted root/keeper g2",
            "child_restarted root/last g2",
        ]
    );
    assert_eq!(h.node.count_children("root").await.unwrap().specs, 2);
    h.node.shutdown().await;
}
