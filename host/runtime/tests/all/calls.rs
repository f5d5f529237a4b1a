//! Calls between children and from Rust: replies, errors, timeouts, limits.

use arbor::CallError;
use arbor::mailbox::MAX_MESSAGE_BYTES;

use crate::support::{Harness, TreeText, root};

fn tree() -> TreeText {
    root("")
        .worker("a", "")
        .worker("b", "")
        .worker("impatient", "call_timeout_ms = 200")
        .worker("fenced", "may_call = [\"a\"]")
        .supervisor("sub", "strategy = \"one_for_one\"", |s| s.worker("far", ""))
}

#[tokio::test]
async fn a_guest_calls_another_by_name_and_gets_its_reply() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(h.call("a", "call b ping").await.unwrap(), "pong");
    // Across supervisors (and scheduler threads) too.
    assert_eq!(h.call("a", "call far name").await.unwrap(), "far");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_guest_calling_itself_gets_an_error_not_a_deadlock() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(
        h.call("a", "call a ping").await,
        Err(CallError::Rejected("self-call".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_call_without_a_reply_in_time_gets_a_timeout() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(
        h.call("impatient", "call b sleep 1000").await,
        Err(CallError::Rejected("timeout".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn business_errors_are_replies_and_the_child_keeps_its_state() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(h.call("a", "count").await.unwrap(), "1");
    assert_eq!(
        h.call("a", "fail nope").await,
        Err(CallError::Rejected("nope".into()))
    );
    assert_eq!(
        h.call("a", "count").await.unwrap(),
        "2",
        "err is not a crash"
    );
    // A guest sees the error of the guest it called.
    assert_eq!(
        h.call("a", "call b fail nope").await,
        Err(CallError::Rejected("rejected: nope".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn may_call_limits_whom_a_guest_can_reach() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(h.call("fenced", "call a ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("fenced", "call b ping").await,
        Err(CallError::Rejected("denied: b".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn unknown_names_supervisors_and_oversized_messages_are_refused_clearly() {
    let h = Harness::start(tree().text()).await;
    assert_eq!(
        h.call("ghost", "ping").await,
        Err(CallError::NoSuchName("ghost".into()))
    );
    assert_eq!(
        h.call("sub", "ping").await,
        Err(CallError::NotAWorker("sub".into()))
    );
    let big = vec![b'x'; MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        h.node.call("a", big).await,
        Err(CallError::TooLarge { .. })
    ));
    assert_eq!(
        h.call("a", "ping").await.unwrap(),
        "pong",
        "the host keeps serving"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_rust_task_spawned_near_a_supervisor_calls_casts_and_commands_its_children() {
    let h = Harness::start(tree().text()).await;
    let replies = h
        .node
        .spawn_near("sub", |node| async move {
            node.cast("far", b"count".to_vec()).unwrap();
            let counted = node.call("far", b"count".to_vec()).await.unwrap();
            // A name under another supervisor (on another thread) still answers.
            let remote = node.call("a", b"ping".to_vec()).await.unwrap();
            let counts = node.count_children("sub").await.unwrap();
            (counted, remote, counts.to_string())
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(replies.0, b"2", "the cast was handled before the call");
    assert_eq!(replies.1, b"pong");
    assert_eq!(replies.2, "specs=1 active=1 supervisors=0 workers=1");
    let err = h
        .node
        .spawn_near("nowhere", |_| async {})
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no supervisor named \"nowhere\" is running"
    );
    h.node.shutdown().await;
}
