//! README "Semantics", beyond OTP: the mailbox belongs to the place, not the instance.

use std::time::{Duration, Instant};

use arbor::{CallError, EventKind};

use crate::support::Harness;

fn tree(restart: &str) -> String {
    format!(
        r#"
[supervisor]
name = "root"

[[supervisor.children]]
name = "w"
component = "probe"
restart = "{restart}"
"#
    )
}

#[tokio::test]
async fn messages_queued_behind_a_crash_reach_the_fresh_instance() {
    let mut h = Harness::start(&tree("permanent")).await;
    assert_eq!(h.call("w", "count").await.unwrap(), "1");
    // The sleep keeps w busy while the crash and two counts queue up behind it.
    let (slept, crashed, first, second) = tokio::join!(
        h.call("w", "sleep 200"),
        h.call("w", "crash"),
        h.call("w", "count"),
        h.call("w", "count"),
    );
    assert_eq!(slept.unwrap(), "slept");
    assert!(matches!(crashed, Err(CallError::Crashed(_))), "{crashed:?}");
    // Fresh state: the count starts again at 1, and both queued messages arrive.
    let mut counts = [first.unwrap(), second.unwrap()];
    counts.sort();
    assert_eq!(counts, ["1", "2"]);
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    h.node.shutdown().await;
}

#[tokio::test]
async fn the_message_in_flight_at_a_crash_is_answered_with_the_crash() {
    let h = Harness::start(&tree("permanent")).await;
    match h.call("w", "crash").await {
        Err(CallError::Crashed(detail)) => assert!(detail.contains("wasm trap"), "{detail}"),
        other => panic!("expected a crash reply, got {other:?}"),
    }
    h.node.shutdown().await;
}

#[tokio::test]
async fn callers_of_a_child_that_is_not_restarted_get_an_error_at_once() {
    let h = Harness::start(&tree("temporary")).await;
    let started = Instant::now();
    let (slept, crashed, queued) = tokio::join!(
        h.call("w", "sleep 100"),
        h.call("w", "crash"),
        h.call("w", "ping"),
    );
    assert_eq!(slept.unwrap(), "slept");
    assert!(matches!(crashed, Err(CallError::Crashed(_))));
    assert!(matches!(queued, Err(CallError::Stopped(_))), "{queued:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no waiting for a timeout"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn casts_queued_behind_a_crash_are_handled_by_the_fresh_instance() {
    let mut h = Harness::start(&tree("permanent")).await;
    h.node.cast("w", b"sleep 100".to_vec()).unwrap();
    h.node.cast("w", b"crash".to_vec()).unwrap();
    h.node.cast("w", b"note after-crash".to_vec()).unwrap();
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(h.call("w", "notes").await.unwrap(), "after-crash");
    h.node.shutdown().await;
}
