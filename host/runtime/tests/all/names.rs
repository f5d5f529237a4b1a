//! One table owns every name in the host, for workers and supervisors,
//! across restarts.

use std::time::Duration;

use arbor::{ChildCommandError, CommandError, EventKind, WorkerSpec};

use crate::support::{Harness, root};

/// While nested supervisor `sub` is down (its restarts fail slowly), its
/// name stays taken: a new child may not take it, and once `sub` is back
/// the name still leads to it.
#[tokio::test]
async fn a_supervisor_keeps_its_name_while_it_restarts() {
    let tree = root("max_restarts = 1000\nmax_seconds = 60")
        .worker("flags", "")
        .supervisor("sub", "strategy = \"one_for_one\"\nmax_restarts = 0", |s| {
            s.worker("g", "timeout_ms = 300\nargs = '{\"init_gate\": \"flags\"}'")
        })
        .supervisor("pool", "dynamic = { max_children = 10 }", |s| s);
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("flags", "note hang-init").await.unwrap(), "noted");
    assert!(h.call("g", "crash").await.is_err());
    h.wait_event(EventKind::SupervisorTerminated, "root/sub", None)
        .await;

    let taken = h
        .node
        .start_child("pool", WorkerSpec::new("sub", "probe"))
        .await;
    assert_eq!(
        taken,
        Err(CommandError::Child(ChildCommandError::NameTaken(
            "sub".into()
        )))
    );

    assert_eq!(h.call("flags", "forget").await.unwrap(), "forgotten");
    h.wait_event(EventKind::SupervisorStarted, "root/sub", None)
        .await;
    let counts = tokio::time::timeout(Duration::from_secs(5), h.node.count_children("sub"))
        .await
        .expect("answered")
        .expect("sub is registered as a supervisor again");
    assert_eq!(counts.active, 1);
    assert_eq!(h.call("g", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// A name freed by a child that left the tree can be used again.
#[tokio::test]
async fn a_name_is_free_again_once_its_place_is_forgotten() {
    let tree = root("").supervisor("pool", "dynamic = { max_children = 10 }", |s| s);
    let h = Harness::start(tree.text()).await;
    h.node
        .start_child("pool", WorkerSpec::new("w", "probe"))
        .await
        .unwrap();
    h.node.terminate_child("pool", "w").await.unwrap();
    h.node
        .start_child("pool", WorkerSpec::new("w", "probe"))
        .await
        .expect("the name is free");
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
