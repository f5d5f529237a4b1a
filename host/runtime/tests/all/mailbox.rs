//! README "Semantics", beyond OTP: the mailbox belongs to the place, not the
//! instance, and it is bounded: a full one refuses at once.

use std::time::{Duration, Instant};

use arbor::mailbox::MailboxLimit;
use arbor::{CallError, EventKind};

use crate::support::{Harness, TreeText, root};

fn tree(restart: &str) -> TreeText {
    root("").worker("w", &format!("restart = \"{restart}\""))
}

#[tokio::test]
async fn messages_queued_behind_a_crash_reach_the_fresh_instance() {
    let mut h = Harness::start(tree("permanent").text()).await;
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
    let h = Harness::start(tree("permanent").text()).await;
    match h.call("w", "crash").await {
        Err(CallError::Crashed(detail)) => assert!(detail.contains("crash requested"), "{detail}"),
        other => panic!("expected a crash reply, got {other:?}"),
    }
    h.node.shutdown().await;
}

#[tokio::test]
async fn callers_of_a_child_that_is_not_restarted_get_an_error_at_once() {
    let h = Harness::start(tree("temporary").text()).await;
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
    let mut h = Harness::start(tree("permanent").text()).await;
    h.node.cast("w", b"sleep 100".to_vec()).unwrap();
    h.node.cast("w", b"crash".to_vec()).unwrap();
    h.node.cast("w", b"note after-crash".to_vec()).unwrap();
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(h.call("w", "notes").await.unwrap(), "after-crash");
    h.node.shutdown().await;
}

/// `sleeper` (with `bounds` in its table) and `caster`, neighbours on one
/// scheduler thread.
fn bounded_tree(bounds: &str) -> TreeText {
    root("").worker("sleeper", bounds).worker("caster", "")
}

/// Keeps `sleeper` busy in a `sleep MS` that has left its mailbox. `caster`
/// shares its thread and is woken after it, so once `caster` answers,
/// `sleeper` has taken the sleep and is in it.
async fn occupy_sleeper(h: &Harness, ms: u64) {
    h.node
        .cast("sleeper", format!("sleep {ms}").into_bytes())
        .unwrap();
    assert_eq!(h.call("caster", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn a_guest_casting_in_a_loop_to_a_busy_child_fills_its_mailbox_to_the_bound_and_no_further() {
    let h = Harness::start(bounded_tree("mailbox_capacity = 8").text()).await;
    occupy_sleeper(&h, 1000).await;
    let reply = h
        .call("caster", "cast-many 20 sleeper note x")
        .await
        .unwrap();
    assert_eq!(
        reply,
        "8 sent, 12 failed: mailbox full: the mailbox of \"sleeper\" is full: \
         limit of 8 messages (mailbox_capacity)"
    );
    // A call is refused the same way, at once: it does not wait out the sleep.
    let started = Instant::now();
    let refused = h.call("sleeper", "ping").await;
    assert_eq!(
        refused,
        Err(CallError::MailboxFull {
            target: "sleeper".into(),
            limit: MailboxLimit::Messages(8),
        })
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    // Room returns as the sleeper takes its messages: every queued one arrives.
    let notes = retry_while_full(&h, "sleeper", "notes").await;
    assert_eq!(notes, ["x"; 8].join(","));
    assert_eq!(
        h.call("caster", "cast-many 8 sleeper note y")
            .await
            .unwrap(),
        "8 sent"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_mailbox_bounded_in_bytes_refuses_a_message_that_would_pass_mailbox_max_mb() {
    let h = Harness::start(bounded_tree("mailbox_max_mb = 1").text()).await;
    occupy_sleeper(&h, 1000).await;
    // Three casts of 300,005 bytes fit in 1 MiB; a fourth would not.
    let big = format!("cast-many 5 sleeper note {}", "x".repeat(300_000));
    let reply = h.call("caster", &big).await.unwrap();
    assert_eq!(
        reply,
        "3 sent, 2 failed: mailbox full: the mailbox of \"sleeper\" is full: \
         limit of 1048576 bytes (mailbox_max_mb)"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_full_mailbox_stays_full_across_a_crash_and_the_fresh_instance_frees_its_room() {
    let mut h = Harness::start(bounded_tree("mailbox_capacity = 3").text()).await;
    occupy_sleeper(&h, 300).await;
    for message in ["crash", "note a", "note b"] {
        h.node.cast("sleeper", message.as_bytes().to_vec()).unwrap();
    }
    assert!(matches!(
        h.node.cast("sleeper", b"note c".to_vec()),
        Err(CallError::MailboxFull { .. })
    ));
    h.wait_event(EventKind::ChildRestarted, "root/sleeper", None)
        .await;
    // The fresh instance got the queued notes, and taking them gave their room back.
    assert_eq!(retry_while_full(&h, "sleeper", "notes").await, "a,b");
    assert_eq!(
        h.call("caster", "cast-many 3 sleeper note d")
            .await
            .unwrap(),
        "3 sent"
    );
    h.node.shutdown().await;
}

/// Calls `name` until its mailbox has room for the call.
async fn retry_while_full(h: &Harness, name: &str, message: &str) -> String {
    let deadline = Instant::now() + crate::support::PATIENCE;
    loop {
        match h.call(name, message).await {
            Err(CallError::MailboxFull { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other.unwrap(),
        }
    }
}
