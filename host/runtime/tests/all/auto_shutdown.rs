//! `significant` children and `auto_shutdown`: a supervisor that ends when
//! its significant children have done their work.

use arbor::{EventKind, ExitReason, SupervisorStop};

use crate::support::{Harness, root};

#[tokio::test]
async fn any_significant_stops_the_supervisor_when_a_significant_child_ends_normally() {
    let tree = root("auto_shutdown = \"any_significant\"")
        .worker("job", "restart = \"transient\"\nsignificant = true")
        .worker("helper", "");
    let mut h = Harness::start(tree.text()).await;
    // A crash restarts a significant transient child: no shutdown.
    assert!(h.call("job", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestarted, "root/job", None)
        .await;
    assert_eq!(h.call("job", "exit normal").await.unwrap(), "bye");
    let ended = h
        .wait_event(EventKind::SupervisorTerminated, "root", None)
        .await;
    assert_eq!(ended.detail.as_deref(), Some("auto_shutdown"));
    let exit = h.node.wait().await;
    assert_eq!(exit.reason, ExitReason::Shutdown);
    assert_eq!(exit.stop, Some(SupervisorStop::AutoShutdown));
    assert!(!exit.gave_up(), "an auto shutdown is not giving up");
}

#[tokio::test]
async fn all_significant_waits_for_the_last_one_and_a_transient_supervisor_stays_down() {
    let tree = root("").worker("steady", "").supervisor(
        "batch",
        "strategy = \"one_for_one\"\nrestart = \"transient\"\nauto_shutdown = \"all_significant\"",
        |s| {
            s.worker("p1", "restart = \"temporary\"\nsignificant = true")
                .worker("p2", "restart = \"temporary\"\nsignificant = true")
                .worker("watcher", "")
        },
    );
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("p1", "exit normal").await.unwrap(), "bye");
    h.wait_event(EventKind::ChildTerminated, "root/batch/p1", Some("normal"))
        .await;
    assert_eq!(h.call("watcher", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("p2", "exit normal").await.unwrap(), "bye");
    let ended = h
        .wait_event(EventKind::SupervisorTerminated, "root/batch", None)
        .await;
    assert_eq!(ended.detail.as_deref(), Some("auto_shutdown"));
    // batch is transient and ended with reason shutdown: not restarted.
    let later = h.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !later
            .iter()
            .any(|e| e.event == EventKind::SupervisorStarted && e.path == "root/batch"),
        "{later:?}"
    );
    assert_eq!(h.call("steady", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[test]
fn a_significant_child_needs_auto_shutdown_and_a_restart_type_that_may_end() {
    let text = crate::support::tree(
        root("")
            .worker("j", "restart = \"transient\"\nsignificant = true")
            .text(),
    );
    let err = arbor::TreeSpec::parse(std::path::Path::new("t.toml"), &text).unwrap_err();
    assert!(err.message.contains("auto_shutdown"), "{err}");
    let text = crate::support::tree(
        root("auto_shutdown = \"any_significant\"")
            .worker("j", "significant = true")
            .text(),
    );
    let err = arbor::TreeSpec::parse(std::path::Path::new("t.toml"), &text).unwrap_err();
    assert!(err.message.contains("transient or temporary"), "{err}");
}
