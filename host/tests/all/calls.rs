//! Calls between children and from Rust: replies, errors, timeouts, limits.

use arbor::CallError;
use arbor::mailbox::MAX_MESSAGE_BYTES;

use crate::support::Harness;

const TREE: &str = r#"
[supervisor]
name = "root"

[[supervisor.children]]
name = "a"
component = "probe"

[[supervisor.children]]
name = "b"
component = "probe"

[[supervisor.children]]
name = "impatient"
component = "probe"
call_timeout_ms = 200

[[supervisor.children]]
name = "fenced"
component = "probe"
may_call = ["a"]

[[supervisor.children]]
name = "sub"
strategy = "one_for_one"

[[supervisor.children.children]]
name = "far"
component = "probe"
"#;

#[tokio::test]
async fn a_guest_calls_another_by_name_and_gets_its_reply() {
    let h = Harness::start(TREE).await;
    assert_eq!(h.call("a", "call b ping").await.unwrap(), "pong");
    // Across supervisors (and scheduler threads) too.
    assert_eq!(h.call("a", "call far name").await.unwrap(), "far");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_guest_calling_itself_gets_an_error_not_a_deadlock() {
    let h = Harness::start(TREE).await;
    assert_eq!(
        h.call("a", "call a ping").await,
        Err(CallError::Rejected("self-call".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_call_without_a_reply_in_time_gets_a_timeout() {
    let h = Harness::start(TREE).await;
    assert_eq!(
        h.call("impatient", "call b sleep 1000").await,
        Err(CallError::Rejected("timeout".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn business_errors_are_replies_and_the_child_keeps_its_state() {
    let h = Harness::start(TREE).await;
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
    let h = Harness::start(TREE).await;
    assert_eq!(h.call("fenced", "call a ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("fenced", "call b ping").await,
        Err(CallError::Rejected("denied: b".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn unknown_names_supervisors_and_oversized_messages_are_refused_clearly() {
    let h = Harness::start(TREE).await;
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
