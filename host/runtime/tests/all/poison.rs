//! README "Poison messages": with `poison = { after = N }` the message that
//! crashed a worker goes again to its next instance, first; after N crashes
//! in a row it moves to the dead-letter store, its caller is told, and the
//! worker goes on with the next message. Dead letters can be redelivered.

use std::time::Duration;

use arbor::events::MessageKind;
use arbor::{CallError, EventKind, ExitReason, RedeliverError};

use crate::support::{Harness, PATIENCE, compacts, root};

/// `w` with `poison = { after = N }` (and `settings`), beside `gate`, the
/// child the probe's `crash-times` counts its crashes in.
fn poisoned(after: u32, settings: &str) -> String {
    root("max_restarts = 20")
        .worker("gate", "")
        .worker("w", &format!("poison = {{ after = {after} }}\n{settings}"))
        .text()
        .to_string()
}

#[tokio::test]
async fn a_message_that_crashes_every_time_is_dead_lettered_after_n_crashes_and_the_next_is_served()
{
    // The default intensity (3 restarts in 5 s) allows the three crashes.
    let tree = root("").worker("w", "poison = { after = 3 }");
    let mut h = Harness::start(tree.text()).await;
    let (crashed, next) = tokio::join!(h.call("w", "crash"), h.call("w", "ping"));
    match crashed {
        Err(CallError::DeadLettered {
            id,
            attempts,
            detail,
        }) => {
            assert_eq!((id, attempts), (1, 3));
            assert!(detail.contains("crash requested"), "{detail}");
        }
        other => panic!("expected the message to be dead-lettered, got {other:?}"),
    }
    assert_eq!(next.unwrap(), "pong", "the next message is served");
    let events = h
        .collect_until("the fourth instance", |e| {
            e.event == EventKind::ChildRestarted && e.generation == Some(4)
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/w crash",
            "child_restarted root/w g2",
            "child_terminated root/w crash",
            "child_restarted root/w g3",
            "message_dead_lettered root/w crash",
            "child_terminated root/w crash",
            "child_restarted root/w g4",
        ],
        "each crash is a crash the supervisor restarts; the letter comes before the third's exit"
    );
    let event = events
        .iter()
        .find(|e| e.event == EventKind::MessageDeadLettered)
        .unwrap();
    let detail = event.dead_letter.unwrap();
    assert_eq!(
        (detail.id, detail.kind, detail.attempts, detail.bytes),
        (1, MessageKind::Call, 3, 5)
    );
    let list = h.node.dead_letters(Some("w"));
    assert_eq!(list.letters.len(), 1);
    let letter = &list.letters[0];
    assert_eq!(
        (letter.id, letter.child.as_str(), letter.path.as_str()),
        (1, "w", "root/w")
    );
    assert_eq!(
        (letter.kind, letter.message.as_slice(), letter.attempts),
        (MessageKind::Call, &b"crash"[..], 3)
    );
    assert_eq!(letter.reason, ExitReason::Crash);
    assert!(
        letter.detail.starts_with("panic: crash requested (at "),
        "{}",
        letter.detail
    );
    assert!(letter.time.ends_with('Z') && letter.unix_ms > 0);
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_message_that_crashes_fewer_than_n_times_in_a_row_is_answered_by_the_instance_that_survives_it()
 {
    let mut h = Harness::start(&poisoned(3, "")).await;
    assert_eq!(
        h.call("w", "crash-times 2 gate").await.unwrap(),
        "survived 2"
    );
    assert_eq!(
        h.call("gate", "notes").await.unwrap(),
        "crashed,crashed,survived"
    );
    // Crashes are counted per message: the next one starts again from 0,
    // though the child has crashed twice already.
    assert_eq!(h.call("gate", "forget").await.unwrap(), "forgotten");
    assert_eq!(
        h.call("w", "crash-times 2 gate").await.unwrap(),
        "survived 2"
    );
    assert!(h.node.dead_letters(None).letters.is_empty());
    let events = h
        .collect_until("the fifth instance", |e| {
            e.event == EventKind::ChildRestarted && e.generation == Some(5)
        })
        .await;
    assert!(
        !events
            .iter()
            .any(|e| e.event == EventKind::MessageDeadLettered)
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn messages_queued_behind_a_poison_message_are_served_after_it_in_order() {
    let h = Harness::start(&poisoned(3, "")).await;
    h.node.cast("w", b"crash".to_vec()).unwrap();
    for note in ["note a", "note b", "note c"] {
        h.node.cast("w", note.as_bytes().to_vec()).unwrap();
    }
    // All three reached one instance, in order: none went to an instance
    // that the poison message crashed afterwards (its notes would be lost).
    assert_eq!(h.call("w", "notes").await.unwrap(), "a,b,c");
    let letters = h.node.dead_letters(None).letters;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].kind, letters[0].message.as_slice()),
        (MessageKind::Cast, &b"crash"[..])
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn without_poison_the_message_that_crashed_the_child_is_answered_with_the_crash_and_dropped()
{
    let tree = root("").worker("gate", "").worker("w", "");
    let h = Harness::start(tree.text()).await;
    let crashed = h.call("w", "crash-times 1 gate").await;
    assert!(matches!(crashed, Err(CallError::Crashed(_))), "{crashed:?}");
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("gate", "notes").await.unwrap(),
        "crashed",
        "not delivered again"
    );
    assert!(h.node.dead_letters(None).letters.is_empty());
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_dead_letter_is_answered_by_its_child_and_leaves_the_store() {
    let h = Harness::start(&poisoned(2, "")).await;
    let id = match h.call("w", "crash-times 2 gate").await {
        Err(CallError::DeadLettered {
            id, attempts: 2, ..
        }) => id,
        other => panic!("expected the message to be dead-lettered, got {other:?}"),
    };
    // The third delivery finds two crashes noted in the gate: it survives.
    assert_eq!(h.node.redeliver(id).await.unwrap(), b"survived 2");
    assert!(h.node.dead_letters(None).letters.is_empty());
    assert_eq!(
        h.call("gate", "notes").await.unwrap(),
        "crashed,crashed,survived"
    );
    assert_eq!(
        h.node.redeliver(id).await,
        Err(RedeliverError::NoSuchLetter(id))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_letter_that_crashes_again_is_counted_anew_and_dead_lettered_under_a_new_id()
{
    let h = Harness::start(&poisoned(2, "")).await;
    assert!(matches!(
        h.call("w", "crash").await,
        Err(CallError::DeadLettered { id: 1, .. })
    ));
    match h.node.redeliver(1).await {
        Err(RedeliverError::Failed {
            id: 1,
            child,
            error: CallError::DeadLettered {
                id: 2, attempts: 2, ..
            },
        }) => assert_eq!(child, "w"),
        other => panic!("expected a second dead letter, got {other:?}"),
    }
    let ids: Vec<u64> = h
        .node
        .dead_letters(None)
        .letters
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, [2]);
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_dead_letter_whose_child_is_stopped_stays_in_the_store() {
    let h = Harness::start(&poisoned(1, "")).await;
    assert!(matches!(
        h.call("w", "crash").await,
        Err(CallError::DeadLettered {
            id: 1,
            attempts: 1,
            ..
        })
    ));
    h.node.terminate_child("root", "w").await.unwrap();
    match h.node.redeliver(1).await {
        Err(RedeliverError::NotSent {
            id: 1,
            error: CallError::Stopped(_),
            ..
        }) => {}
        other => panic!("expected the send to fail, got {other:?}"),
    }
    assert_eq!(h.node.dead_letters(Some("w")).letters.len(), 1);
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_gave_up_loses_nothing_the_message_is_still_handled() {
    let h = Harness::start(&poisoned(3, "")).await;
    // The gate is busy for a while, so the first delivery waits on it
    // past the caller's patience; the crashes come after.
    h.node.cast("gate", b"sleep 300".to_vec()).unwrap();
    let gave_up = h
        .node
        .call_with_timeout(
            "w",
            b"crash-times 2 gate".to_vec(),
            Duration::from_millis(50),
        )
        .await;
    assert_eq!(gave_up, Err(CallError::Timeout));
    assert_eq!(h.call("gate", "notes").await.unwrap(), "", "no crash yet");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let notes = h.call("gate", "notes").await.unwrap();
        if notes == "crashed,crashed,survived" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "notes: {notes}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_handle_past_its_deadline_is_a_crash_of_the_message() {
    let h = Harness::start(&poisoned(2, "timeout_ms = 100")).await;
    match h.call("w", "loop").await {
        Err(CallError::DeadLettered {
            attempts: 2,
            detail,
            ..
        }) => assert_eq!(detail, "timeout"),
        other => panic!("expected the loop to be dead-lettered, got {other:?}"),
    }
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_held_message_of_a_child_that_is_not_restarted_is_answered_stopped() {
    let tree = root("").worker("w", "restart = \"temporary\"\npoison = { after = 3 }");
    let h = Harness::start(tree.text()).await;
    let crashed = tokio::time::timeout(PATIENCE, h.call("w", "crash"))
        .await
        .expect("the caller is answered, not left waiting");
    assert!(matches!(crashed, Err(CallError::Stopped(_))), "{crashed:?}");
    assert!(h.node.dead_letters(None).letters.is_empty());
    h.node.shutdown().await;
}

#[tokio::test]
async fn with_a_backoff_each_delivery_again_waits_for_the_delayed_restart() {
    let h = Harness::start(&poisoned(2, "backoff = { initial_ms = 150 }")).await;
    let started = tokio::time::Instant::now();
    assert!(matches!(
        h.call("w", "crash").await,
        Err(CallError::DeadLettered { attempts: 2, .. })
    ));
    // One restart between the two deliveries, delayed by the backoff (by
    // half its base at least: the delay has jitter).
    assert!(
        started.elapsed() >= Duration::from_millis(75),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
