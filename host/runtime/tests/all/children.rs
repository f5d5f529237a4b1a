//! Children added and removed at run time under static supervisors:
//! `start_child` of a worker or a whole subtree, `delete_child`.

use std::collections::BTreeSet;
use std::path::Path;

use arbor::{ChildCommandError, CommandError, EventKind, SupervisorSpec, WorkerSpec};

use crate::support::{Harness, compacts, root};

#[tokio::test]
async fn a_child_added_by_start_child_takes_part_in_the_strategy_and_the_shutdown_order() {
    let tree = root("strategy = \"one_for_all\"")
        .worker("a", "")
        .worker("b", "");
    let mut h = Harness::start(tree.text()).await;
    h.node
        .start_child("root", WorkerSpec::new("c", "probe"))
        .await
        .unwrap();
    h.wait_event(EventKind::ChildStarted, "root/c", None).await;
    assert!(h.call("a", "crash").await.is_err());
    let events = h
        .collect_until("c restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/c"
        })
        .await;
    assert_eq!(
        compacts(&events),
        [
            "child_terminated root/a crash",
            "child_terminated root/c shutdown",
            "child_terminated root/b shutdown",
            "child_restarted root/a g2",
            "child_restarted root/b g2",
            "child_restarted root/c g2",
        ]
    );
    h.node.shutdown().await;
    let stops: Vec<String> = h
        .drain(std::time::Duration::from_millis(100))
        .await
        .iter()
        .filter(|e| e.event == EventKind::ChildTerminated)
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(stops, ["root/c", "root/b", "root/a"], "reverse start order");
}

fn probe_components() -> BTreeSet<String> {
    BTreeSet::from(["probe".to_string()])
}

fn subtree(text: &str) -> SupervisorSpec {
    SupervisorSpec::parse_subtree(Path::new("subtree.toml"), text, &probe_components())
        .expect("a valid subtree")
}

const SUBTREE: &str = r#"
[supervisor]
name = "team"
strategy = "rest_for_one"

[[supervisor.children]]
name = "lead"
component = "probe"

[[supervisor.children]]
name = "member"
component = "probe"
"#;

#[tokio::test]
async fn a_whole_supervisor_can_be_started_under_a_running_one_and_its_names_are_checked() {
    let tree = root("").worker("a", "");
    let mut h = Harness::start(tree.text()).await;
    h.node.start_child("root", subtree(SUBTREE)).await.unwrap();
    h.wait_event(EventKind::SupervisorStarted, "root/team", None)
        .await;
    assert_eq!(h.call("member", "ping").await.unwrap(), "pong");
    let report = h.node.tree().await.unwrap();
    let team = report
        .children
        .iter()
        .find(|c| c.path == "root/team")
        .unwrap();
    assert_eq!(team.strategy.as_deref(), Some("rest_for_one"));
    assert_eq!(team.children.len(), 2);

    // A subtree whose worker takes a name in use fails to start as a whole
    // and leaves nothing behind: its supervisor's name is free again.
    let clash = SUBTREE
        .replace("\"team\"", "\"team2\"")
        .replace("\"lead\"", "\"a\"")
        .replace("\"member\"", "\"member2\"");
    let refused = h.node.start_child("root", subtree(&clash)).await;
    assert!(
        matches!(refused, Err(CommandError::Child(ChildCommandError::StartFailed { ref detail, .. })) if detail.contains("\"a\" is already in use")),
        "{refused:?}"
    );
    let fixed = clash.replace("\"a\"", "\"lead2\"");
    h.node
        .start_child("root", subtree(&fixed))
        .await
        .expect("team2 is free again");
    assert_eq!(h.call("lead2", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[test]
fn a_subtree_naming_an_unknown_component_or_bringing_its_own_is_refused_with_its_line() {
    let err = SupervisorSpec::parse_subtree(
        Path::new("subtree.toml"),
        &SUBTREE.replace("component = \"probe\"\n\n", "component = \"nope\"\n\n"),
        &probe_components(),
    )
    .unwrap_err();
    assert_eq!(err.field, "supervisor.children[0].component");
    assert!(err.message.contains("unknown component \"nope\""), "{err}");
    let err = SupervisorSpec::parse_subtree(
        Path::new("subtree.toml"),
        &format!("[components]\nx = \"x.wasm\"\n{SUBTREE}"),
        &probe_components(),
    )
    .unwrap_err();
    assert!(err.message.contains("running host's components"), "{err}");
}

#[tokio::test]
async fn delete_child_forgets_a_stopped_child_of_a_static_supervisor_only() {
    let tree = root("").worker("a", "").worker("b", "").supervisor(
        "pool",
        "dynamic = { max_children = 2 }",
        |s| s,
    );
    let h = Harness::start(tree.text()).await;
    assert_eq!(
        h.node.delete_child("root", "a").await,
        Err(CommandError::Child(ChildCommandError::Running("a".into())))
    );
    h.node.terminate_child("root", "a").await.unwrap();
    h.node.delete_child("root", "a").await.unwrap();
    assert_eq!(h.node.count_children("root").await.unwrap().specs, 2);
    assert_eq!(
        h.node.restart_child("root", "a").await,
        Err(CommandError::Child(ChildCommandError::NoSuchChild(
            "a".into()
        )))
    );
    h.node
        .start_child("root", WorkerSpec::new("a", "probe"))
        .await
        .expect("the name is free again");
    h.node
        .start_child("pool", WorkerSpec::new("d", "probe"))
        .await
        .unwrap();
    assert_eq!(
        h.node.delete_child("pool", "d").await,
        Err(CommandError::Child(ChildCommandError::Dynamic))
    );
    h.node.shutdown().await;
}
