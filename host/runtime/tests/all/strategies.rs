//! README "Semantics" rows: one_for_one, one_for_all, rest_for_one.

use arbor::EventKind;

use crate::support::{Harness, compacts};

fn three(strategy: &str) -> String {
    format!(
        r#"
[supervisor]
name = "root"
strategy = "{strategy}"

[[supervisor.children]]
name = "a"
component = "probe"

[[supervisor.children]]
name = "b"
component = "probe"

[[supervisor.children]]
name = "c"
component = "probe"
"#
    )
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let mut h = Harness::start(&three("one_for_one")).await;
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
    let mut h = Harness::start(&three("one_for_all")).await;
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
    let mut h = Harness::start(&three("rest_for_one")).await;
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
