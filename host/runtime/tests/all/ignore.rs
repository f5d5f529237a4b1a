//! README "Semantics" row "start": an `init` that answers `ignore` (contract
//! 0.2.0, OTP's `ignore`) starts nothing and is not a failure. The place is
//! kept, stopped, in a static supervisor; the supervisor goes on with its
//! next child; a restart that gets `ignore` is neither retried nor counted.

use std::time::Duration;

use arbor::{CallError, ChildStatus, EventKind, NodeReport, RestartType, StartOutcome, WorkerSpec};

use crate::support::{Harness, compacts, root};

const IGNORE: &str = r#"args = '{"ignore_init": true}'"#;

/// The state and generation of the child at `path`, as `node.tree()` shows it.
fn shown(tree: &NodeReport, path: &str) -> (ChildStatus, u64) {
    fn find<'a>(node: &'a NodeReport, path: &str) -> Option<&'a NodeReport> {
        if node.path == path {
            return Some(node);
        }
        node.children.iter().find_map(|c| find(c, path))
    }
    let child = find(tree, path).unwrap_or_else(|| panic!("{path} is not in the tree"));
    (child.state, child.generation)
}

#[tokio::test]
async fn a_child_that_ignores_at_first_start_keeps_its_place_stopped_and_the_tree_starts() {
    let tree = root("")
        .worker("a", "")
        .worker("ig", IGNORE)
        .worker("b", "");
    let h = Harness::start(tree.text()).await;
    // The supervisor went on with b after ig answered ignore.
    assert_eq!(
        compacts(&h.seen),
        [
            "child_started root/a g1",
            "child_ignored root/ig",
            "child_started root/b g1",
            "supervisor_started root",
        ]
    );
    let tree = h.node.tree().await.unwrap();
    assert_eq!(shown(&tree, "root/ig"), (ChildStatus::Stopped, 0));
    assert_eq!(shown(&tree, "root/a"), (ChildStatus::Running, 1));
    assert_eq!(shown(&tree, "root/b"), (ChildStatus::Running, 1));
    assert_eq!(
        h.node.count_children("root").await.unwrap().to_string(),
        "specs=3 active=2 supervisors=0 workers=3"
    );
    // Nobody serves its mailbox: callers are told at once, not left to time out.
    let call = tokio::time::timeout(Duration::from_secs(1), h.call("ig", "ping"))
        .await
        .expect("answered at once");
    assert!(matches!(call, Err(CallError::Stopped(_))), "{call:?}");
    assert!(matches!(
        h.node.cast("ig", b"ping".to_vec()),
        Err(CallError::Stopped(_))
    ));
    h.node.shutdown().await;
}

#[tokio::test]
async fn restart_child_of_an_ignored_child_ignores_again_without_error() {
    let tree = root("max_restarts = 1")
        .worker("ig", IGNORE)
        .worker("b", "");
    let mut h = Harness::start(tree.text()).await;
    // More often than max_restarts allows: a command's start is never counted,
    // and an ignore is not a failure either.
    for _ in 0..3 {
        assert_eq!(
            h.node.restart_child("root", "ig").await,
            Ok(StartOutcome::Ignored)
        );
        h.wait_event(EventKind::ChildIgnored, "root/ig", None).await;
    }
    let tree = h.node.tree().await.unwrap();
    assert_eq!(shown(&tree, "root/ig"), (ChildStatus::Stopped, 0));
    assert_eq!(tree.state, ChildStatus::Running);
    assert!(matches!(
        h.call("ig", "ping").await,
        Err(CallError::Stopped(_))
    ));
    assert_eq!(h.call("b", "ping").await.unwrap(), "pong");
    assert!(
        h.drain(Duration::from_millis(200)).await.is_empty(),
        "nothing else happened"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_restart_that_gets_ignore_leaves_the_child_stopped_and_is_not_a_failure() {
    // max_restarts = 1: the crash's restart uses it up, so had the ignore
    // counted as a failed restart (retried, counted again), root would give up.
    let tree = root("max_restarts = 1")
        .worker("gate", "")
        .worker("g", r#"args = '{"init_gate": "gate"}'"#);
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("g", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("gate", "note ignore-init").await.unwrap(), "noted");
    // The sleep keeps g busy while the crash and a ping queue behind it.
    let (slept, crashed, queued) = tokio::join!(
        h.call("g", "sleep 100"),
        h.call("g", "crash"),
        h.call("g", "ping"),
    );
    assert_eq!(slept.unwrap(), "slept");
    assert!(matches!(crashed, Err(CallError::Crashed(_))), "{crashed:?}");
    // The message queued behind the crash met no instance: `stopped`.
    assert!(matches!(queued, Err(CallError::Stopped(_))), "{queued:?}");
    let events = h
        .collect_until("g ignored", |e| e.event == EventKind::ChildIgnored)
        .await;
    assert_eq!(
        compacts(&events),
        ["child_terminated root/g crash", "child_ignored root/g"]
    );
    assert!(
        h.drain(Duration::from_millis(300)).await.is_empty(),
        "no retry, and root did not give up: {}",
        h.dump()
    );
    let tree = h.node.tree().await.unwrap();
    assert_eq!(tree.state, ChildStatus::Running);
    assert_eq!(shown(&tree, "root/g"), (ChildStatus::Stopped, 1));

    // Once the gate lets it run, restart-child starts it: generation 2,
    // since the ignored start did not count as one.
    assert_eq!(h.call("gate", "forget").await.unwrap(), "forgotten");
    assert_eq!(
        h.node.restart_child("root", "g").await,
        Ok(StartOutcome::Running)
    );
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/g", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("g", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn an_ignored_child_under_one_for_all_does_not_stop_its_siblings() {
    let tree = root(r#"strategy = "one_for_all""#)
        .worker("a", "")
        .worker("ig", IGNORE)
        .worker("b", "");
    let mut h = Harness::start(tree.text()).await;
    for name in ["a", "b"] {
        assert_eq!(h.call(name, "count").await.unwrap(), "1");
    }
    // Ignored again on command: a and b keep their instances (the count goes on).
    assert_eq!(
        h.node.restart_child("root", "ig").await,
        Ok(StartOutcome::Ignored)
    );
    h.wait_event(EventKind::ChildIgnored, "root/ig", None).await;
    for name in ["a", "b"] {
        assert_eq!(
            h.call(name, "count").await.unwrap(),
            "2",
            "{name} kept running"
        );
    }
    // A crash restarts the whole group; ig answers ignore again and the
    // restart goes on with b.
    assert!(h.call("a", "crash").await.is_err());
    let events = h
        .collect_until("b restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/b"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/a crash",
            "child_terminated root/b shutdown",
            "child_restarted root/a g2",
            "child_ignored root/ig",
            "child_restarted root/b g2",
        ]
    );
    let tree = h.node.tree().await.unwrap();
    assert_eq!(shown(&tree, "root/ig"), (ChildStatus::Stopped, 0));
    assert_eq!(shown(&tree, "root/b"), (ChildStatus::Running, 2));
    h.node.shutdown().await;
}

#[tokio::test]
async fn an_ignored_start_child_is_kept_by_a_static_supervisor_and_forgotten_by_a_dynamic_one() {
    let tree = root("").supervisor("pool", "dynamic = { max_children = 1 }", |s| s);
    let mut h = Harness::start(tree.text()).await;
    let ignoring = |name: &str, restart| {
        let mut spec = WorkerSpec::new(name, "probe");
        spec.args = br#"{"ignore_init": true}"#.to_vec();
        spec.restart = restart;
        spec
    };

    // Static, permanent: kept, stopped, as OTP keeps an ignored child's spec.
    let answer = h
        .node
        .start_child("root", ignoring("kept", RestartType::Permanent))
        .await;
    assert_eq!(answer, Ok(StartOutcome::Ignored));
    h.wait_event(EventKind::ChildIgnored, "root/kept", None)
        .await;
    let tree = h.node.tree().await.unwrap();
    assert_eq!(shown(&tree, "root/kept"), (ChildStatus::Stopped, 0));

    // Static, temporary: forgotten, as a temporary child is once it stops.
    let answer = h
        .node
        .start_child("root", ignoring("once", RestartType::Temporary))
        .await;
    assert_eq!(answer, Ok(StartOutcome::Ignored));
    assert!(matches!(
        h.call("once", "ping").await,
        Err(CallError::NoSuchName(_))
    ));

    // Dynamic: forgotten, and it holds no max_children slot nor its name.
    let answer = h
        .node
        .start_child("pool", ignoring("d", RestartType::Permanent))
        .await;
    assert_eq!(answer, Ok(StartOutcome::Ignored));
    assert_eq!(
        h.node.count_children("pool").await.unwrap().to_string(),
        "specs=0 active=0 supervisors=0 workers=0"
    );
    assert_eq!(
        h.node
            .start_child("pool", WorkerSpec::new("d", "probe"))
            .await,
        Ok(StartOutcome::Running)
    );
    assert_eq!(h.call("d", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
