//! Guests that drive the tree (contract 0.2.1): what a child started by
//! another child is, who may start one (`may_start`), and how timers
//! relate to the instance that set them. The cases every guest language
//! runs are in `guest_children_timers.rs`; these are the host's side.

use std::path::Path;
use std::time::Duration;

use arbor::{CallError, EventKind, SwapOptions, TreeSpec};
use arbor_guest_artifacts::PROBE_V2;

use crate::support::{Harness, TreeText, root, tree, warm};

/// `boss` may start children under the dynamic `pool` (at most 2) and under
/// the static `team`; `worker` may start none.
fn grants() -> TreeText {
    root("max_restarts = 10\nmax_seconds = 60")
        .worker("boss", "may_start = [\"pool\", \"team\"]")
        .worker("worker", "")
        .supervisor(
            "pool",
            "dynamic = { max_children = 2 }\nmax_restarts = 10\nmax_seconds = 60",
            |s| s,
        )
        .supervisor("team", "strategy = \"one_for_one\"", |s| s)
}

fn rejected(text: &str) -> Result<String, CallError> {
    Err(CallError::Rejected(text.to_string()))
}

#[tokio::test]
async fn a_temporary_child_a_guest_started_is_not_restarted_and_a_permanent_one_is() {
    let mut h = Harness::start(grants().text()).await;
    assert_eq!(
        h.call("boss", "spawn pool once probe temporary")
            .await
            .unwrap(),
        "started once"
    );
    assert_eq!(
        h.call("boss", "spawn team always probe permanent")
            .await
            .unwrap(),
        "started always"
    );
    h.wait_event(EventKind::ChildStarted, "root/team/always", None)
        .await;

    assert!(h.call("once", "crash").await.is_err());
    h.wait_event(EventKind::ChildTerminated, "root/pool/once", Some("crash"))
        .await;
    assert!(h.call("always", "crash").await.is_err());
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/team/always", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("always", "ping").await.unwrap(), "pong");
    assert!(
        matches!(h.call("once", "ping").await, Err(CallError::NoSuchName(_))),
        "the temporary child is forgotten"
    );
    // Its place is free again: the pool counts one child.
    assert_eq!(
        h.call("boss", "spawn pool once probe temporary")
            .await
            .unwrap(),
        "started once"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn only_the_supervisors_in_may_start_are_open_to_a_guest() {
    let h = Harness::start(grants().text()).await;
    assert_eq!(
        h.call("worker", "spawn pool w probe temporary").await,
        rejected("denied: pool"),
        "nothing is granted by default"
    );
    assert_eq!(
        h.call("boss", "spawn root w probe temporary").await,
        rejected("denied: root"),
        "boss may start under pool and team only"
    );
    assert_eq!(
        h.call("boss", "spawn root/pool w probe temporary")
            .await
            .unwrap(),
        "started w",
        "a path names its last supervisor"
    );
    assert_eq!(
        h.call("worker", "stop-child pool w").await,
        rejected("denied: pool"),
        "stopping takes the same grant"
    );
    assert_eq!(
        h.call("boss", "stop-child pool w").await.unwrap(),
        "stopped"
    );
    assert!(matches!(
        h.call("w", "ping").await,
        Err(CallError::NoSuchName(_))
    ));
    h.node.shutdown().await;
}

#[tokio::test]
async fn each_refusal_reaches_the_guest_as_its_own_case() {
    let h = Harness::start(grants().text()).await;
    for name in ["a", "b"] {
        h.call("boss", &format!("spawn pool {name} probe temporary"))
            .await
            .unwrap();
    }
    assert_eq!(
        h.call("boss", "spawn pool c probe temporary").await,
        rejected("max-children: 2")
    );
    assert_eq!(
        h.call("boss", "spawn team worker probe temporary").await,
        rejected("already-started: worker"),
        "the name is taken in the host, under another supervisor"
    );
    assert_eq!(
        h.call("boss", "spawn team x nope temporary").await,
        rejected("unknown-component: nope")
    );
    assert_eq!(
        h.call("boss", "stop-child team ghost").await,
        rejected("no-such-child: ghost")
    );
    let Err(CallError::Rejected(invalid)) = h.call("boss", "spawn team a/b probe temporary").await
    else {
        panic!("a name with a slash must be refused");
    };
    assert!(invalid.starts_with("invalid-name: "), "{invalid}");
    let Err(CallError::Rejected(failed)) = h
        .call(
            "boss",
            "spawn team bad probe temporary {\"fail_init\": true}",
        )
        .await
    else {
        panic!("a failing init must be refused");
    };
    assert!(
        failed.starts_with("start-failed: ") && failed.contains("fail_init was set"),
        "{failed}"
    );
    assert_eq!(
        h.call(
            "boss",
            "spawn team idle probe temporary {\"ignore_init\": true}"
        )
        .await,
        rejected("ignored")
    );
    h.node.shutdown().await;
}

#[test]
fn a_may_start_naming_no_supervisor_is_refused_at_load_naming_the_line() {
    let text = tree(
        root("")
            .worker("boss", "may_start = [\"poool\"]")
            .supervisor("pool", "dynamic = {}", |s| s)
            .text(),
    );
    let err = TreeSpec::parse(Path::new("t.toml"), &text).unwrap_err();
    assert_eq!(err.field, "supervisor.children[0].may_start", "{err}");
    assert!(
        err.message
            .contains("\"poool\" is not a supervisor in this tree (supervisors: pool, root)"),
        "{err}"
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("may_start"))
        .unwrap()
        + 1;
    assert_eq!(err.line, line);
}

#[tokio::test]
async fn a_child_casts_to_itself_from_init_even_when_may_call_lists_nobody() {
    let h = Harness::start(
        root("")
            .worker(
                "seeded",
                "may_call = []\nargs = '{\"init_cast_self\": \"note seeded\"}'",
            )
            .text(),
    )
    .await;
    let mut notes = String::new();
    for _ in 0..100 {
        notes = h.call("seeded", "notes").await.unwrap();
        if !notes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        notes, "seeded",
        "the message init cast to itself was served"
    );
    assert_eq!(
        h.call("seeded", "cast-self note again").await.unwrap(),
        "sent"
    );
    assert_eq!(
        h.call("seeded", "after 1 seeded note later")
            .await
            .map(|r| r.starts_with("timer ")),
        Ok(true)
    );
    assert!(matches!(
        h.call("seeded", "after 1 other note x").await,
        Err(CallError::Rejected(why)) if why.contains("denied")
    ));
    h.node.shutdown().await;
}

/// Waits until `name`'s notes are `want` (or fails after ~5 s).
async fn notes_become(h: &Harness, name: &str, want: &str) {
    let mut notes = String::new();
    for _ in 0..500 {
        notes = h.call(name, "notes").await.unwrap();
        if notes == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name}'s notes stayed {notes:?}, expected {want:?}");
}

#[tokio::test]
async fn a_crashed_instances_timers_never_fire_into_its_successor() {
    let mut h = Harness::start(root("").worker("t", "").worker("other", "").text()).await;
    h.call("t", "after 150 t note mine").await.unwrap();
    h.call("t", "after 150 other note for-other").await.unwrap();
    assert!(h.call("t", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestarted, "root/t", None)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        h.call("t", "notes").await.unwrap(),
        "",
        "the successor got nothing"
    );
    assert_eq!(
        h.call("other", "notes").await.unwrap(),
        "",
        "a timer belongs to the instance that set it, whatever its target"
    );
    // The successor's own timers work.
    h.call("t", "after 10 t note fresh").await.unwrap();
    notes_become(&h, "t", "fresh").await;
    h.node.shutdown().await;
}

#[tokio::test]
async fn pending_timers_survive_a_hot_swap_and_fire_into_the_new_version() {
    warm(PROBE_V2);
    let h = Harness::start(root("").worker("t", "").text()).await;
    let v2 = h
        .node
        .prepare_component("probe", Path::new(PROBE_V2))
        .await
        .unwrap();
    h.call("t", "after 1000 t note late").await.unwrap();
    let cancelled = h.call("t", "after 1000 t note cancelled").await.unwrap();
    let no_probation = SwapOptions {
        probation: Duration::ZERO,
        ..SwapOptions::default()
    };
    h.node
        .swap_child("t", v2, &no_probation)
        .await
        .expect("the swap goes through");
    assert_eq!(h.call("t", "version").await.unwrap(), "v2");
    let id = cancelled.trim_start_matches("timer ");
    assert_eq!(
        h.call("t", &format!("cancel {id}")).await.unwrap(),
        "true",
        "the new version cancels a timer the old one set"
    );
    notes_become(&h, "t", "late").await;
    h.node.shutdown().await;
}
