//! Settings changed on a running tree (what `arbor ctl apply` uses): a
//! supervisor takes its strategy, intensity and max_children without
//! restarting; a child takes its restart type and mailbox bounds at once and
//! its args at its next start.

use std::time::Duration;

use arbor::{CallError, ChildSpec, EventKind, RestartIntensity, RestartType, Strategy, WorkerSpec};

use crate::support::{Harness, compacts, root};

fn find<'a>(report: &'a arbor::NodeReport, path: &str) -> &'a arbor::NodeReport {
    if report.path == path {
        return report;
    }
    report
        .children
        .iter()
        .find(|c| path.starts_with(&c.path))
        .map(|c| find(c, path))
        .unwrap_or_else(|| panic!("{path} is not in the tree"))
}

#[tokio::test]
async fn a_raised_intensity_lets_the_running_supervisor_survive_crashes_it_would_have_given_up_on()
{
    let tree = root("max_restarts = 1\nmax_seconds = 60").worker("w", "");
    let mut h = Harness::start(tree.text()).await;
    let mut settings = h.node.running_tree().await.root.settings();
    settings.intensity = RestartIntensity {
        max_restarts: 10,
        max_seconds: Duration::from_secs(60),
    };
    h.node.update_supervisor("root", settings).await.unwrap();
    for generation in 2..=4 {
        assert!(h.call("w", "crash").await.is_err());
        let restarted = h
            .wait_event(EventKind::ChildRestarted, "root/w", None)
            .await;
        assert_eq!(restarted.generation, Some(generation));
    }
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    assert!(
        !h.seen
            .iter()
            .any(|e| e.event == EventKind::SupervisorTerminated),
        "the root neither gave up nor restarted: {}",
        h.dump()
    );
}

#[tokio::test]
async fn a_new_strategy_decides_the_next_crash_and_shows_in_the_tree() {
    let tree = root("").worker("a", "").worker("b", "");
    let mut h = Harness::start(tree.text()).await;
    let mut settings = h.node.running_tree().await.root.settings();
    settings.strategy = Strategy::OneForAll;
    h.node.update_supervisor("root", settings).await.unwrap();
    assert_eq!(
        h.node.tree().await.unwrap().strategy.as_deref(),
        Some("one_for_all")
    );
    assert!(h.call("b", "crash").await.is_err());
    let events = h
        .collect_until("a restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/a"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/b crash",
            "child_terminated root/a shutdown",
            "child_restarted root/a g2",
        ]
    );
}

#[tokio::test]
async fn a_lowered_max_children_refuses_new_dynamic_children_and_keeps_the_running_ones() {
    let tree = root("").supervisor("pool", "dynamic = { max_children = 5 }", |s| s);
    let h = Harness::start(tree.text()).await;
    for name in ["s1", "s2"] {
        h.node
            .start_child("pool", WorkerSpec::new(name, "probe"))
            .await
            .unwrap();
    }
    let running = h.node.running_tree().await;
    let ChildSpec::Supervisor(pool) = &running.root.children[0] else {
        panic!("pool is a supervisor")
    };
    let mut settings = pool.settings();
    settings.max_children = Some(2);
    h.node.update_supervisor("pool", settings).await.unwrap();
    let full = h
        .node
        .start_child("pool", WorkerSpec::new("s3", "probe"))
        .await
        .unwrap_err();
    assert!(full.to_string().contains("maximum of 2"), "{full}");
    assert_eq!(h.call("s1", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn a_child_made_temporary_is_not_restarted_after_its_next_crash() {
    let tree = root("").worker("w", "").worker("other", "");
    let mut h = Harness::start(tree.text()).await;
    let mut spec = WorkerSpec::new("w", "probe");
    spec.restart = RestartType::Temporary;
    h.node.update_child("root", spec).await.unwrap();
    let report = h.node.tree().await.unwrap();
    assert_eq!(find(&report, "root/w").restart, RestartType::Temporary);
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildTerminated, "root/w", Some("crash"))
        .await;
    let later = h.drain(Duration::from_millis(200)).await;
    assert!(
        !later.iter().any(|e| e.event == EventKind::ChildRestarted),
        "{}",
        h.dump()
    );
    assert_eq!(
        h.node.count_children("root").await.unwrap().to_string(),
        "specs=1 active=1 supervisors=0 workers=1",
        "a temporary child is forgotten once it stops"
    );
}

#[tokio::test]
async fn new_args_apply_at_the_next_start_not_to_the_running_instance() {
    let tree = root("").worker("w", "");
    let mut h = Harness::start(tree.text()).await;
    assert_eq!(h.call("w", "count").await.unwrap(), "1");
    let mut spec = WorkerSpec::new("w", "probe");
    spec.args = br#"{"ignore_init": true}"#.to_vec();
    h.node.update_child("root", spec).await.unwrap();
    // The running instance was started with the old args.
    assert_eq!(h.call("w", "count").await.unwrap(), "2");
    assert!(h.call("w", "crash").await.is_err());
    // Its restart runs init with the new ones, which answer ignore.
    h.wait_event(EventKind::ChildIgnored, "root/w", None).await;
}

#[tokio::test]
async fn a_lowered_mailbox_capacity_refuses_casts_at_once() {
    let tree = root("").worker("w", "");
    let h = Harness::start(tree.text()).await;
    let mut spec = WorkerSpec::new("w", "probe");
    spec.mailbox.capacity = 1;
    h.node.update_child("root", spec).await.unwrap();
    // w takes the sleep out of its mailbox and handles it; one more fits.
    h.node.cast("w", b"sleep 300".to_vec()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.node.cast("w", b"ping".to_vec()).unwrap();
    let full = h.node.cast("w", b"ping".to_vec()).unwrap_err();
    assert!(matches!(full, CallError::MailboxFull { .. }), "{full}");
}

#[tokio::test]
async fn a_child_cannot_turn_into_another_kind_or_component_by_a_settings_change() {
    let tree = root("").worker("w", "");
    let h = Harness::start(tree.text()).await;
    let err = h
        .node
        .update_child("root", arbor::SupervisorSpec::new("w"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the child \"w\" is a worker and cannot become a supervisor in place: \
         stop it, delete it and start the new one"
    );
    let err = h
        .node
        .update_child("root", WorkerSpec::new("ghost", "probe"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no child named \"ghost\""),
        "{err}"
    );
}
