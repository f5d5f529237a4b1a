//! Inspection never waits for a supervisor: the tree is assembled from what
//! each supervisor publishes.

use std::time::Duration;

use arbor::ChildStatus;

use crate::support::{Harness, root};

/// `sub` spends 5 s stopping `w` (its `terminate` sleeps); the tree and
/// the counts are still answered at once, and show `w` running until it
/// has stopped.
#[tokio::test]
async fn the_tree_is_read_while_a_supervisor_is_busy() {
    let tree = root("").supervisor("sub", "strategy = \"one_for_one\"", |s| {
        s.worker(
            "w",
            "shutdown_ms = 10000\nargs = '{\"terminate_sleep_ms\": 5000}'",
        )
        .worker("v", "")
    });
    let h = Harness::start(tree.text()).await;
    let node = h.node.handle();
    let stopping = tokio::spawn(async move { node.terminate_child("sub", "w").await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let tree = tokio::time::timeout(Duration::from_secs(1), h.node.tree())
        .await
        .expect("the tree does not wait for a busy supervisor")
        .unwrap();
    let sub = tree.children.iter().find(|c| c.path == "root/sub").unwrap();
    let paths: Vec<(&str, ChildStatus)> = sub
        .children
        .iter()
        .map(|c| (c.path.as_str(), c.state))
        .collect();
    assert_eq!(
        paths,
        [
            ("root/sub/w", ChildStatus::Running),
            ("root/sub/v", ChildStatus::Running)
        ]
    );
    let counts = tokio::time::timeout(Duration::from_secs(1), h.node.count_children("sub"))
        .await
        .expect("counting does not wait either")
        .unwrap();
    assert_eq!(counts.specs, 2);

    stopping.await.unwrap().unwrap();
    let tree = h.node.tree().await.unwrap();
    let w = &tree.children[0].children[0];
    assert_eq!(
        (w.path.as_str(), w.state),
        ("root/sub/w", ChildStatus::Stopped)
    );
    h.node.shutdown().await;
}
