//! README "Semantics" rows: one_for_one, one_for_all, rest_for_one.

use arbor::EventKind;

use crate::support::{Harness, TreeText, compacts, root};

fn three(strategy: &str) -> TreeText {
    root(&format!("strategy = \"{strategy}\""))
        .worker("a", "")
        .worker("b", "")
        .worker("c", "")
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let mut h = Harness::start(three("one_for_one").text()).await;
    for name in ["a", "b", "c"] {
        assert_eq!(h.call(name, "count").await.unwrap(), "1");
    }
    assert!(h.call("b", "crash").await.is_err());
    let events = h
        .collect_until("b restarted", |e| e.event == EventKind::ChildRestarted)
        .await;
    assert_eq!(
        compacts(&events),
        ["child_terminated root/b crash", "child_restarted root/b g2"]
    );
    // a and c kept their state; b starts fresh.
    assert_eq!(h.call("a", "count").await.unwrap(), "2");
    assert_eq!(h.call("b", "count").await.unwrap(), "1");
    assert_eq!(h.call("c", "count").await.unwrap(), "2");
    h.node.shutdown().await;
}

#[tokio::test]
async fn one_for_all_stops_the_others_in_reverse_order_then_restarts_all_in_start_order() {
    let mut h = Harness::start(three("one_for_all").text()).await;
    assert!(h.call("b", "crash").await.is_err());
    let events = h
        .collect_until("c restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/c"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/b crash",
            "child_terminated root/c shutdown",
            "child_terminated root/a shutdown",
            "child_restarted root/a g2",
            "child_restarted root/b g2",
            "child_restarted root/c g2",
        ]
    );
    for name in ["a", "b", "c"] {
        assert_eq!(h.call(name, "count").await.unwrap(), "1", "{name} is fresh");
    }
    h.node.shutdown().await;
}

#[tokio::test]
async fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let mut h = Harness::start(three("rest_for_one").text()).await;
    for name in ["a", "b", "c"] {
        assert_eq!(h.call(name, "count").await.unwrap(), "1");
    }
    assert!(h.call("b", "crash").await.is_err());
    let events = h
        .collect_until("c restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/c"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/b crash",
            "child_terminated root/c shutdown",
            "child_restarted root/b g2",
            "child_restarted root/c g2",
        ]
    );
    assert_eq!(
        h.call("a", "count").await.unwrap(),
        "2",
        "a, started before b, is untouched"
    );
    assert_eq!(h.call("b", "count").await.unwrap(), "1");
    assert_eq!(h.call("c", "count").await.unwrap(), "1");
    h.node.shutdown().await;
}

/// `b` crashes by itself while `a`'s one_for_all restart is stopping the
/// others (`c` takes 300 ms to terminate): `b`'s exit is part of the same
/// group restart, so every child starts exactly once more.
#[tokio::test]
async fn a_sibling_crashing_during_a_group_restart_joins_that_restart() {
    let tree = root("strategy = \"one_for_all\"\nmax_restarts = 5\nmax_seconds = 60")
        .worker("a", "")
        .worker("b", "")
        .worker("c", "args = '{\"terminate_sleep_ms\": 300}'");
    let mut h = Harness::start(tree.text()).await;
    h.node.cast("a", b"crash".to_vec()).unwrap();
    h.node.cast("b", b"crash".to_vec()).unwrap();
    let events = h
        .collect_until("c restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/c"
        })
        .await;
    let b_end = events
        .iter()
        .find(|e| e.path == "root/b" && e.event == EventKind::ChildTerminated)
        .unwrap();
    assert_eq!(b_end.reason, Some(arbor::ExitReason::Crash));
    let later = h.drain(std::time::Duration::from_millis(400)).await;
    assert!(
        later.is_empty(),
        "no second restart: {:?}",
        compacts(&later)
    );
    let report = h.node.tree().await.unwrap();
    let generations: Vec<u64> = report.children.iter().map(|c| c.generation).collect();
    assert_eq!(generations, [2, 2, 2]);
    h.node.shutdown().await;
}
