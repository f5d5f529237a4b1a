//! `apply`: a changed tree file carried out on a running host (children
//! added and removed, a component swapped with its state, settings changed
//! without restarts), its dry run, and a failing apply that swaps back
//! what it swapped and says what stays applied.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arbor::engine::content_hash;
use arbor::{ApplyError, ApplyOptions, EventKind, SwapOptions, TreeSpec};
use arbor_guest_artifacts::{PROBE, PROBE_V2};

use crate::support::{Harness, PATIENCE, TreeText, root, warm};

/// A tree file text naming each `(id, path)` under `[components]`.
fn file(components: &[(&str, &str)], body: &TreeText) -> String {
    let mut text = String::from("[components]\n");
    for (id, path) in components {
        text.push_str(&format!("{id} = {path:?}\n"));
    }
    format!("{text}\n{}", body.text())
}

fn spec(name: &str, text: &str) -> TreeSpec {
    TreeSpec::parse(Path::new(name), text).expect("test tree is valid")
}

fn hash8(path: &str) -> String {
    content_hash(&std::fs::read(path).unwrap())[..8].to_string()
}

/// Swaps with a short probation: these tests are about the apply.
fn options(dry_run: bool) -> ApplyOptions {
    ApplyOptions {
        dry_run,
        swap: SwapOptions {
            probation: Duration::from_millis(200),
            ..SwapOptions::default()
        },
    }
}

/// A fresh directory for one test, holding a copy of `component` (a
/// second component id needs a file of its own).
fn scratch(name: &str, component: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("arbor-apply-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("other.wasm");
    std::fs::copy(component, &copy).unwrap();
    (dir, copy.display().to_string())
}

#[tokio::test]
async fn apply_adds_removes_swaps_with_state_and_changes_intensity_and_its_dry_run_changes_nothing()
{
    warm(PROBE_V2);
    let before = file(
        &[("probe", PROBE)],
        &root("max_restarts = 3\nmax_seconds = 5")
            .worker("a", "")
            .worker("old", ""),
    );
    let after = file(
        &[("probe", PROBE_V2)],
        &root("max_restarts = 10\nmax_seconds = 5")
            .worker("a", "")
            .worker("added", ""),
    );
    let mut h = Harness::start_tree(spec("tree.toml", &before)).await;
    let new = spec("tree.toml", &after);
    assert_eq!(h.call("a", "count").await.unwrap(), "1");
    assert_eq!(h.call("a", "count").await.unwrap(), "2");

    let dry = h.node.apply(&new, &options(true)).await.unwrap();
    let plan = [
        format!(
            "~ swap component probe {} -> {} (2 children)",
            hash8(PROBE),
            hash8(PROBE_V2)
        ),
        "~ supervisor root: intensity 3 in 5s -> 10 in 5s (no restart)".to_string(),
        "- stop root/old".to_string(),
        "+ start root/added (component probe)".to_string(),
    ];
    let mut expected = vec!["dry run: nothing was changed; the plan:".to_string()];
    expected.extend(plan.iter().cloned());
    assert_eq!(dry.to_string().lines().collect::<Vec<_>>(), expected);
    // Nothing changed: the old version with its state, the old children,
    // the old settings.
    assert_eq!(h.call("a", "version").await.unwrap(), "v1");
    assert_eq!(h.call("a", "count").await.unwrap(), "3");
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    assert!(h.call("added", "ping").await.is_err());
    let running = h.node.running_tree().await;
    assert_eq!(running.root.intensity.max_restarts, 3);
    assert_eq!(running.components["probe"].path, Path::new(PROBE));

    let report = h.node.apply(&new, &options(false)).await.unwrap();
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "applied:");
    assert_eq!(lines[1], format!("{} => 2 swapped", plan[0]));
    assert_eq!(&lines[2..], &plan[1..]);
    // The swap kept a's state and its replies show the new version.
    assert_eq!(h.call("a", "version").await.unwrap(), "v2");
    assert_eq!(h.call("a", "count").await.unwrap(), "v2 4");
    assert_eq!(h.call("added", "ping").await.unwrap(), "pong");
    let gone = h.call("old", "ping").await.unwrap_err();
    assert!(gone.to_string().contains("old"), "{gone}");
    let running = h.node.running_tree().await;
    assert_eq!(running.root.intensity.max_restarts, 10);
    assert_eq!(running.components["probe"].path, Path::new(PROBE_V2));
    // The root took its new intensity without restarting.
    let events = h.drain(Duration::from_millis(100)).await;
    assert!(
        !events.iter().any(|e| e.path == "root"
            && matches!(
                e.event,
                EventKind::SupervisorStarted | EventKind::SupervisorTerminated
            )),
        "{}",
        h.dump()
    );
    // Applying the same file again changes nothing.
    let again = h.node.apply(&new, &options(false)).await.unwrap();
    assert_eq!(again.to_string(), "nothing to change\n");
}

#[tokio::test]
async fn a_failing_second_swap_swaps_the_first_back_and_the_apply_says_what_was_rolled_back() {
    warm(PROBE_V2);
    let (_dir, other) = scratch("second-swap", PROBE);
    let before = file(
        &[("probe", PROBE), ("other", &other)],
        &root("").worker("a", "").worker_of(
            "b",
            "other",
            r#"args = '{"v2_refuse_restore": true}'"#,
        ),
    );
    let after = file(
        &[("probe", PROBE_V2), ("other", PROBE_V2)],
        &root("max_restarts = 10")
            .worker("a", "")
            .worker_of("b", "other", r#"args = '{"v2_refuse_restore": true}'"#)
            .worker("c", ""),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    assert_eq!(h.call("a", "count").await.unwrap(), "1");
    let err = h
        .node
        .apply(&spec("tree.toml", &after), &options(false))
        .await
        .unwrap_err();
    let ApplyError::Step(failure) = &err else {
        panic!("a step fails: {err}")
    };
    assert_eq!(
        failure.step,
        format!(
            "~ swap component other {} -> {} (1 child)",
            hash8(&other),
            hash8(PROBE_V2)
        )
    );
    assert!(
        failure.why.contains("refused by v2_refuse_restore"),
        "{err}"
    );
    assert_eq!(
        failure.rolled_back,
        [format!(
            "component probe back to {}",
            content_hash(&std::fs::read(PROBE).unwrap())
        )]
    );
    assert!(failure.rollback_failed.is_empty(), "{err}");
    assert!(err.to_string().ends_with("; still applied: none"), "{err}");
    // a went to v2 and back, with its state; b never left v1; c never started.
    assert_eq!(h.call("a", "version").await.unwrap(), "v1");
    assert_eq!(h.call("a", "count").await.unwrap(), "2");
    assert_eq!(h.call("b", "version").await.unwrap(), "v1");
    assert!(h.call("c", "ping").await.is_err());
    let running = h.node.running_tree().await;
    assert_eq!(running.components["probe"].path, Path::new(PROBE));
    assert_eq!(running.root.intensity.max_restarts, 3);
    assert_eq!(
        h.node.component("probe").unwrap().hash,
        content_hash(&std::fs::read(PROBE).unwrap())
    );
}

#[tokio::test]
async fn a_start_that_fails_late_keeps_the_settings_and_removals_before_it_and_a_fixed_file_applies_the_rest()
 {
    warm(PROBE_V2);
    let before = file(
        &[("probe", PROBE)],
        &root("").worker("a", "").worker("old", ""),
    );
    let broken = file(
        &[("probe", PROBE_V2)],
        &root("max_restarts = 7")
            .worker("a", "")
            .worker("bad", r#"args = '{"fail_init": true}'"#),
    );
    let fixed = file(
        &[("probe", PROBE_V2)],
        &root("max_restarts = 7").worker("a", "").worker("bad", ""),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    let err = h
        .node
        .apply(&spec("tree.toml", &broken), &options(false))
        .await
        .unwrap_err();
    let ApplyError::Step(failure) = &err else {
        panic!("a step fails: {err}")
    };
    assert_eq!(failure.step, "+ start root/bad (component probe)");
    assert!(failure.why.contains("failed to start"), "{err}");
    assert_eq!(failure.rolled_back.len(), 1, "{err}");
    assert!(
        err.to_string().ends_with(
            "; still applied: ~ supervisor root: intensity 3 in 5s -> 7 in 5s (no restart); - stop root/old"
        ),
        "{err}"
    );
    assert_eq!(h.call("a", "version").await.unwrap(), "v1");
    // The host remembers what stays applied, so the fixed file does the rest.
    let report = h
        .node
        .apply(&spec("tree.toml", &fixed), &options(false))
        .await
        .unwrap();
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("~ swap component probe "), "{text}");
    assert_eq!(lines[1], "+ start root/bad (component probe)");
    assert_eq!(h.call("a", "version").await.unwrap(), "v2");
    assert_eq!(h.call("bad", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn a_broken_component_is_refused_before_anything_is_touched() {
    let (dir, _) = scratch("broken", PROBE);
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let before = file(
        &[("probe", PROBE)],
        &root("").worker("a", "").worker("old", ""),
    );
    let after = file(
        &[("probe", garbage.to_str().unwrap())],
        &root("max_restarts = 9").worker("a", ""),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    let err = h
        .node
        .apply(&spec("tree.toml", &after), &options(false))
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::Prepare { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("component probe: "), "{text}");
    assert!(text.contains("not a WebAssembly file"), "{text}");
    assert!(text.ends_with("; nothing was changed"), "{text}");
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    assert_eq!(h.node.running_tree().await.root.intensity.max_restarts, 3);
}

#[tokio::test]
async fn what_a_running_tree_cannot_take_is_refused_naming_the_file_line_and_field() {
    let before = file(&[("probe", PROBE)], &root("").worker("a", ""));
    let after = file(
        &[("probe", PROBE)],
        &root("").worker("a", "").node("max_instances = 50"),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    let err = h
        .node
        .apply(&spec("new.toml", &after), &options(true))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "new.toml:5: node.max_instances: counted from the tree -> 50: the instance pool is sized when the host starts"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_nested_supervisor_restarted_after_an_apply_comes_back_as_the_file_says() {
    let before = file(
        &[("probe", PROBE)],
        &root("max_restarts = 5").supervisor(
            "sub",
            "strategy = \"one_for_one\"\nmax_restarts = 0",
            |t| t.worker("x", ""),
        ),
    );
    let after_text = file(
        &[("probe", PROBE)],
        &root("max_restarts = 5").supervisor(
            "sub",
            "strategy = \"one_for_all\"\nmax_restarts = 0",
            |t| t.worker("x", "").worker("y", ""),
        ),
    );
    let mut h = Harness::start_tree(spec("tree.toml", &before)).await;
    let report = h
        .node
        .apply(&spec("tree.toml", &after_text), &options(false))
        .await
        .unwrap();
    assert_eq!(
        report.applied,
        [
            "~ supervisor root/sub: strategy one_for_one -> one_for_all (no restart)",
            "+ start root/sub/y (component probe)",
        ]
    );
    // x crashes: sub (max_restarts = 0) gives up and root restarts it. It
    // comes back from the spec its parent holds: the applied one.
    assert!(h.call("x", "crash").await.is_err());
    h.wait_event(EventKind::SupervisorStarted, "root/sub", None)
        .await;
    assert_eq!(h.call("y", "ping").await.unwrap(), "pong");
    // The parent publishes the new generation once the start returns to
    // it, just after the event: wait for it.
    let restarted = async {
        loop {
            let tree = h.node.tree().await.unwrap();
            let sub = tree.children.into_iter().find(|c| c.path == "root/sub");
            if let Some(sub) = sub.filter(|s| s.generation == 2) {
                return sub;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let sub = tokio::time::timeout(PATIENCE, restarted)
        .await
        .expect("root/sub shows its restart");
    assert_eq!(sub.strategy.as_deref(), Some("one_for_all"));
    let names: Vec<&str> = sub.children.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(names, ["root/sub/x", "root/sub/y"]);
}

#[tokio::test]
async fn a_stopped_nested_supervisor_takes_its_new_settings_when_it_starts_again() {
    let before = file(
        &[("probe", PROBE)],
        &root("").supervisor("sub", "strategy = \"one_for_one\"", |t| t.worker("x", "")),
    );
    let after = file(
        &[("probe", PROBE)],
        &root("").supervisor("sub", "strategy = \"rest_for_one\"", |t| t.worker("x", "")),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    h.node.terminate_child("root", "sub").await.unwrap();
    let report = h
        .node
        .apply(&spec("tree.toml", &after), &options(false))
        .await
        .unwrap();
    assert_eq!(
        report.applied,
        [
            "~ supervisor root/sub: strategy one_for_one -> rest_for_one (no restart) \
          => not running: it takes them when it starts"
        ]
    );
    h.node.restart_child("root", "sub").await.unwrap();
    let tree = h.node.tree().await.unwrap();
    let sub = tree.children.iter().find(|c| c.path == "root/sub").unwrap();
    assert_eq!(sub.strategy.as_deref(), Some("rest_for_one"));
}

#[tokio::test]
async fn a_child_moved_to_another_supervisor_is_stopped_first_so_its_name_is_free() {
    let before = file(
        &[("probe", PROBE)],
        &root("")
            .worker("a", "")
            .supervisor("sub", "strategy = \"one_for_one\"", |t| t.worker("x", "")),
    );
    let after = file(
        &[("probe", PROBE)],
        &root("").supervisor("sub", "strategy = \"one_for_one\"", |t| {
            t.worker("x", "").worker("a", "")
        }),
    );
    let h = Harness::start_tree(spec("tree.toml", &before)).await;
    let report = h
        .node
        .apply(&spec("tree.toml", &after), &options(false))
        .await
        .unwrap();
    assert_eq!(
        report.applied,
        ["- stop root/a", "+ start root/sub/a (component probe)"]
    );
    let tree = h.node.tree().await.unwrap();
    let sub = tree.children.iter().find(|c| c.path == "root/sub").unwrap();
    let paths: Vec<&str> = sub.children.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["root/sub/x", "root/sub/a"]);
    assert_eq!(h.call("a", "name").await.unwrap(), "a");
}
