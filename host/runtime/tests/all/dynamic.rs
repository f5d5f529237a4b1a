//! README "Semantics" row "dynamic": children added at run time, one_for_one, max_children.

use arbor::{CallError, EventKind, RestartType, WorkerSpec};

use crate::support::{Harness, TreeText, compacts, root};

fn tree() -> TreeText {
    root("").supervisor(
        "pool",
        "dynamic = { max_children = 3 }\nmax_restarts = 2\nmax_seconds = 60",
        |s| s,
    )
}

#[tokio::test]
async fn dynamic_supervisor_starts_children_at_run_time_up_to_max_children() {
    let mut h = Harness::start(tree().text()).await;
    for name in ["s1", "s2", "s3"] {
        h.node
            .start_child("pool", WorkerSpec::new(name, "probe"))
            .await
            .unwrap();
        h.wait_event(EventKind::ChildStarted, &format!("root/pool/{name}"), None)
            .await;
        assert_eq!(h.call(name, "ping").await.unwrap(), "pong");
    }
    let full = h
        .node
        .start_child("pool", WorkerSpec::new("s4", "probe"))
        .await
        .unwrap_err();
    assert!(full.to_string().contains("maximum of 3"), "{full}");
    let counts = h.node.count_children("pool").await.unwrap();
    assert_eq!(
        counts.to_string(),
        "specs=3 active=3 supervisors=0 workers=3"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn dynamic_children_restart_one_for_one_under_the_supervisors_intensity() {
    let mut h = Harness::start(tree().text()).await;
    for name in ["s1", "s2"] {
        h.node
            .start_child("pool", WorkerSpec::new(name, "probe"))
            .await
            .unwrap();
    }
    assert_eq!(h.call("s1", "count").await.unwrap(), "1");
    assert!(h.call("s2", "crash").await.is_err());
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/pool/s2", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("s1", "count").await.unwrap(), "2", "s1 untouched");
    assert!(h.call("s2", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestarted, "root/pool/s2", None)
        .await;
    assert!(h.call("s2", "crash").await.is_err());
    let events = h
        .collect_until("pool gave up", |e| {
            e.event == EventKind::SupervisorTerminated
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/pool/s2 crash",
            "child_terminated root/pool/s1 shutdown",
            "supervisor_terminated root/pool shutdown",
        ]
    );
    // root (permanent pool) restarts the pool, empty again.
    h.wait_event(EventKind::SupervisorStarted, "root/pool", None)
        .await;
    assert_eq!(h.node.count_children("pool").await.unwrap().specs, 0);
    h.node.shutdown().await;
}

#[tokio::test]
async fn bad_start_child_requests_are_refused_and_the_supervisor_keeps_serving() {
    let h = Harness::start(tree().text()).await;
    h.node
        .start_child("pool", WorkerSpec::new("s1", "probe"))
        .await
        .unwrap();
    let taken = h
        .node
        .start_child("pool", WorkerSpec::new("s1", "probe"))
        .await
        .unwrap_err();
    assert!(taken.to_string().contains("already in use"), "{taken}");
    let unknown = h
        .node
        .start_child("pool", WorkerSpec::new("s2", "nope"))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown component \"nope\""),
        "{unknown}"
    );
    let nowhere = h
        .node
        .start_child("ghost", WorkerSpec::new("s3", "probe"))
        .await
        .unwrap_err();
    assert!(
        nowhere
            .to_string()
            .contains("no supervisor named \"ghost\""),
        "{nowhere}"
    );
    let bad_name = h
        .node
        .start_child("pool", WorkerSpec::new("a/b", "probe"))
        .await
        .unwrap_err();
    assert!(
        bad_name.to_string().contains("invalid child name"),
        "{bad_name}"
    );
    assert_eq!(h.call("s1", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_temporary_dynamic_child_is_removed_when_it_exits() {
    let mut h = Harness::start(tree().text()).await;
    let mut spec = WorkerSpec::new("once", "probe");
    spec.restart = RestartType::Temporary;
    h.node.start_child("pool", spec).await.unwrap();
    assert_eq!(h.call("once", "exit normal").await.unwrap(), "bye");
    h.wait_event(EventKind::ChildTerminated, "root/pool/once", Some("normal"))
        .await;
    assert_eq!(h.node.count_children("pool").await.unwrap().specs, 0);
    assert!(matches!(
        h.call("once", "ping").await,
        Err(CallError::NoSuchName(_))
    ));
    // The name is free again.
    h.node
        .start_child("pool", WorkerSpec::new("once", "probe"))
        .await
        .unwrap();
    h.node.shutdown().await;
}

/// OTP and Elixir delete a dynamic child that is not restarted: it must not
/// keep its name, count in `count-children` or hold a `max_children` slot.
#[tokio::test]
async fn transient_dynamic_children_that_exit_normally_are_forgotten_and_free_their_slots() {
    let mut h = Harness::start(tree().text()).await;
    for round in 1..=2 {
        for i in 0..3 {
            let mut spec = WorkerSpec::new(format!("t{i}"), "probe");
            spec.restart = RestartType::Transient;
            h.node
                .start_child("pool", spec)
                .await
                .unwrap_or_else(|e| panic!("round {round}: start t{i}: {e}"));
        }
        for i in 0..3 {
            assert_eq!(
                h.call(&format!("t{i}"), "exit normal").await.unwrap(),
                "bye"
            );
            h.wait_event(
                EventKind::ChildTerminated,
                &format!("root/pool/t{i}"),
                Some("normal"),
            )
            .await;
        }
        eventually_no_children(&h, "pool").await;
    }
    h.node.shutdown().await;
}

/// The supervisor forgets a child just after reporting its exit.
async fn eventually_no_children(h: &Harness, supervisor: &str) {
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let counts = h.node.count_children(supervisor).await.unwrap();
        if counts.specs == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still counted: {counts}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// OTP stops a dynamic supervisor's children all at once under one timer:
/// 100 children whose `terminate` takes 1 s stop in about 1 s, not 100 s.
#[tokio::test]
async fn dynamic_children_stop_all_at_once_on_shutdown() {
    let tree = root("").supervisor("pool", "dynamic = { max_children = 100 }", |s| s);
    let mut h = Harness::start(tree.text()).await;
    for i in 0..100 {
        let mut spec = WorkerSpec::new(format!("d{i}"), "probe");
        spec.args = br#"{"terminate_sleep_ms": 1000}"#.to_vec();
        h.node.start_child("pool", spec).await.unwrap();
    }
    let started = std::time::Instant::now();
    h.node.shutdown().await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "100 children stopped one at a time would take 100 s; took {took:?}"
    );
    h.drain(std::time::Duration::from_millis(200)).await;
    let stopped = h
        .seen
        .iter()
        .filter(|e| e.event == EventKind::ChildTerminated && e.path.starts_with("root/pool/d"))
        .count();
    assert_eq!(stopped, 100, "every child reports its stop once");
}
