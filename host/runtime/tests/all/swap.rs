//! Hot swap (docs/hot-swap.md): a running worker moves to a new component
//! version without losing a message, keeps its state when both versions
//! export `handover`, and goes back to the old version when the new one
//! fails. The probe is "v1"; `arbor_guest_artifacts::PROBE_V2` is the same
//! source built as "v2", whose `count` replies `v2 N` instead of `N`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arbor::engine::LoadedComponent;
use arbor::{EventKind, NodeReport, StateHandover, SwapError, SwapOptions};
use arbor_guest_artifacts::{C_PROBE, PROBE, PROBE_V2};

use crate::support::{Harness, compacts, root, warm};

fn probation(ms: u64) -> SwapOptions {
    SwapOptions {
        probation: Duration::from_millis(ms),
        ..SwapOptions::default()
    }
}

async fn prepare(h: &Harness, path: &str) -> Arc<LoadedComponent> {
    warm(path);
    h.node
        .prepare_component("probe", Path::new(path))
        .await
        .expect("the component loads")
}

/// The version the tree shows for the worker at `path`.
fn version_of(tree: &NodeReport, path: &str) -> String {
    fn find<'a>(node: &'a NodeReport, path: &str) -> Option<&'a NodeReport> {
        if node.path == path {
            return Some(node);
        }
        node.children.iter().find_map(|c| find(c, path))
    }
    find(tree, path)
        .and_then(|n| n.version.clone())
        .unwrap_or_else(|| panic!("{path} has no version in the tree"))
}

async fn count_to(h: &Harness, name: &str, n: usize) {
    for _ in 0..n {
        h.call(name, "count").await.expect("count");
    }
}

#[tokio::test]
async fn a_swap_keeps_the_state_and_the_new_version_answers() {
    let mut h = Harness::start(root("").worker("counter", "").text()).await;
    count_to(&h, "counter", 3).await;
    h.call("counter", "note kept").await.unwrap();
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    assert_eq!(
        version_of(&h.node.tree().await.unwrap(), "root/counter"),
        v1.hash
    );

    let report = h
        .node
        .swap_child("counter", v2.clone(), &probation(50))
        .await
        .expect("the swap goes through");
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        (v1.hash.as_str(), v2.hash.as_str())
    );
    assert!(
        matches!(report.state, StateHandover::Moved { bytes } if bytes > 0),
        "{report:?}"
    );
    // v2 answers, with v1's count and notes.
    assert_eq!(h.call("counter", "count").await.unwrap(), "v2 4");
    assert_eq!(h.call("counter", "notes").await.unwrap(), "kept");
    assert_eq!(h.call("counter", "from-version").await.unwrap(), v1.hash);
    assert_eq!(
        version_of(&h.node.tree().await.unwrap(), "root/counter"),
        v2.hash
    );

    // The events say what happened, with the versions; a swap is not a restart.
    let events = h
        .collect_until("swap_committed", |e| e.event == EventKind::SwapCommitted)
        .await;
    assert_eq!(
        compacts(&events),
        ["swap_started root/counter", "swap_committed root/counter"]
    );
    let detail = events[1].swap.clone().expect("swap detail");
    assert_eq!((&detail.from, &detail.to), (&v1.hash, &v2.hash));
    assert!(detail.state_bytes.unwrap() > 0);
    assert!(detail.to_file.ends_with("probe_v2.wasm"), "{detail:?}");
    assert!(detail.from_file.ends_with("/probe.wasm"), "{detail:?}");
    assert_eq!(h.node.tree().await.unwrap().children[0].generation, 1);

    // Undo takes the same path back, state included.
    let back = h
        .node
        .undo_swap("counter", &probation(0))
        .await
        .expect("undo");
    assert_eq!(back.to, v1.hash);
    assert_eq!(h.call("counter", "count").await.unwrap(), "5");
    assert_eq!(h.call("counter", "from-version").await.unwrap(), v2.hash);
    h.node.shutdown().await;
}

#[tokio::test]
async fn every_call_during_a_swap_gets_exactly_one_reply_in_order_per_caller() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let h = Harness::start(root("").worker("counter", "").text()).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let node = h.node.handle();
    let answered = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let node = node.clone();
        let answered = answered.clone();
        // Each caller goes on until v2 has answered it 50 times.
        callers.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            let mut from_v2 = 0;
            while from_v2 < 50 && replies.len() < 100_000 {
                let reply = node.call("counter", b"count".to_vec()).await;
                let reply = String::from_utf8(reply.expect("every call is answered")).unwrap();
                from_v2 += usize::from(reply.starts_with("v2 "));
                replies.push(reply);
                answered.fetch_add(1, Ordering::Relaxed);
            }
            replies
        }));
    }
    // Swap once the traffic is flowing, so v1 answered some of it.
    while answered.load(Ordering::Relaxed) < 100 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let report = h
        .node
        .swap_child("counter", v2, &probation(0))
        .await
        .expect("the swap goes through");
    assert!(matches!(report.state, StateHandover::Moved { .. }));
    let mut seen = Vec::new();
    for caller in callers {
        let replies = caller.await.unwrap();
        // Per caller: counts rise, and once v2 answered, v1 never does again.
        let mut last = 0;
        let mut on_v2 = false;
        for reply in &replies {
            let (v2, n) = match reply.strip_prefix("v2 ") {
                Some(n) => (true, n.parse::<u64>().unwrap()),
                None => (false, reply.parse::<u64>().unwrap()),
            };
            assert!(n > last, "out of order: {n} after {last} in {replies:?}");
            assert!(v2 || !on_v2, "v1 answered after v2: {replies:?}");
            last = n;
            on_v2 |= v2;
            seen.push((n, v2));
        }
    }
    // Exactly one reply per call, none lost, none twice: the counts the
    // callers saw are 1..=calls, each once (the state moved with the swap).
    seen.sort_unstable();
    let counts: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(counts, (1..=seen.len() as u64).collect::<Vec<u64>>());
    // The versions split the counts in two: v1 below, v2 above.
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "v1 answered a later count than v2"
    );
    assert!(
        !seen[0].1 && seen[seen.len() - 1].1,
        "both versions answered"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn the_in_flight_message_finishes_on_the_old_version_and_queued_ones_go_to_the_new() {
    let h = Harness::start(root("").worker("counter", "").text()).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let node = h.node.handle();
    let slow = tokio::spawn(async move { node.call("counter", b"sleep 300".to_vec()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let node = h.node.handle();
    let queued = tokio::spawn(async move { node.call("counter", b"version".to_vec()).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = h
        .node
        .swap_child("counter", v2, &probation(0))
        .await
        .unwrap();
    assert!(
        report.drain_us >= 150_000,
        "the swap waited for the in-flight message: {report:?}"
    );
    assert_eq!(slow.await.unwrap().unwrap(), b"slept");
    assert_eq!(queued.await.unwrap().unwrap(), b"v2");
    h.node.shutdown().await;
}

#[tokio::test]
async fn files_that_are_not_a_usable_component_are_refused_before_any_child_is_touched() {
    let h = Harness::start(root("").worker("counter", "").text()).await;
    count_to(&h, "counter", 2).await;
    let dir = std::env::temp_dir().join(format!("arbor-swap-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "garbage.wasm",
            b"this is not wasm",
            "not a WebAssembly file",
        ),
        (
            "core.wasm",
            b"\0asm\x01\x00\x00\x00",
            "is a core wasm module",
        ),
        (
            "empty.wasm",
            b"\0asm\x0d\x00\x01\x00",
            "does not export `arbor:supervised/lifecycle",
        ),
    ];
    for (file, bytes, says) in cases {
        let path = dir.join(file);
        std::fs::write(&path, bytes).unwrap();
        let error = h.node.prepare_component("probe", &path).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(file) && text.contains(says), "{text}");
    }
    // A component that imports an interface the host does not give.
    let importer = dir.join("importer.wasm");
    std::fs::write(&importer, component_importing("example:secret/vault")).unwrap();
    let error = h
        .node
        .prepare_component("probe", &importer)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("importer.wasm: imports something Arbor does not provide")
            && text.contains("example:secret/vault"),
        "{text}"
    );
    let missing = h
        .node
        .prepare_component("probe", &dir.join("missing.wasm"))
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("missing.wasm: cannot read"),
        "{missing}"
    );
    // The child never noticed.
    assert_eq!(h.call("counter", "count").await.unwrap(), "3");
    h.node.shutdown().await;
}

/// The bytes of a component whose only content is an import of the
/// interface `name`, with one function `open: func()`.
fn component_importing(name: &str) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection,
        ComponentValType, InstanceType,
    };
    let mut interface = InstanceType::new();
    interface
        .ty()
        .function()
        .params(std::iter::empty::<(&str, ComponentValType)>())
        .result(None);
    interface.export("open", ComponentTypeRef::Func(0));
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&interface);
    component.section(&types);
    let mut imports = ComponentImportSection::new();
    imports.import(name, ComponentTypeRef::Instance(0));
    component.section(&imports);
    component.finish()
}

#[tokio::test]
async fn a_new_version_that_fails_in_init_or_restore_is_rolled_back_and_the_old_keeps_its_state() {
    for (args, phase) in [("v2_trap_init", "init"), ("v2_refuse_restore", "restore")] {
        let settings = format!("args = '{{\"{args}\": true}}'");
        let mut h = Harness::start(root("").worker("counter", &settings).text()).await;
        count_to(&h, "counter", 2).await;
        let v1 = prepare(&h, PROBE).await;
        let v2 = prepare(&h, PROBE_V2).await;
        let error = h
            .node
            .swap_child("counter", v2.clone(), &probation(0))
            .await
            .unwrap_err();
        match &error {
            SwapError::NewVersionFailed {
                phase: failed,
                from,
                to,
                ..
            } => {
                assert_eq!(
                    (failed.as_str(), from, to),
                    (phase, &v1.hash, &v2.hash),
                    "{error}"
                );
            }
            other => panic!("{args}: expected a rollback in {phase}, got {other}"),
        }
        assert!(error.to_string().contains("rolled back"), "{error}");
        // v1 serves on, with its state, and was never restarted.
        assert_eq!(h.call("counter", "count").await.unwrap(), "3");
        let events = h
            .collect_until("swap_rolled_back", |e| e.event == EventKind::SwapRolledBack)
            .await;
        assert_eq!(
            compacts(&events),
            ["swap_started root/counter", "swap_rolled_back root/counter"]
        );
        assert_eq!(
            events[1].swap.as_ref().unwrap().phase.as_deref(),
            Some(phase)
        );
        assert_eq!(
            version_of(&h.node.tree().await.unwrap(), "root/counter"),
            v1.hash
        );
        assert_eq!(h.node.tree().await.unwrap().children[0].generation, 1);
        h.node.shutdown().await;
    }
}

#[tokio::test]
async fn a_crash_during_probation_rolls_back_to_the_old_version_with_the_pre_swap_state() {
    let mut h = Harness::start(root("").worker("counter", "").text()).await;
    count_to(&h, "counter", 3).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let node = h.node.handle();
    let swap = tokio::spawn(async move { node.swap_child("counter", v2, &probation(5_000)).await });
    h.wait_event(EventKind::SwapCommitted, "root/counter", None)
        .await;
    // On v2: one more count, then a crash within the probation.
    assert_eq!(h.call("counter", "count").await.unwrap(), "v2 4");
    assert!(h.call("counter", "crash").await.is_err());
    let error = swap.await.unwrap().unwrap_err();
    assert!(matches!(error, SwapError::RolledBack { .. }), "{error}");
    assert!(error.to_string().contains("crash"), "{error}");
    // The rollback comes first, then the supervisor handles the crash as
    // any other: a restart, which runs v1 with the state from before the swap.
    let events = h
        .collect_until("the restart", |e| e.event == EventKind::ChildRestarted)
        .await;
    assert_eq!(
        compacts(&events),
        [
            "swap_rolled_back root/counter",
            "child_terminated root/counter crash",
            "child_restarted root/counter g2",
        ]
    );
    assert_eq!(
        events[0].swap.as_ref().unwrap().phase.as_deref(),
        Some("probation")
    );
    assert_eq!(h.call("counter", "count").await.unwrap(), "4");
    assert_eq!(h.call("counter", "version").await.unwrap(), "v1");
    assert_eq!(
        version_of(&h.node.tree().await.unwrap(), "root/counter"),
        v1.hash
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_swap_does_not_restart_siblings_or_count_against_the_intensity() {
    // one_for_all with an intensity of 1: a restart would restart the
    // sibling, and a second one would end the tree.
    let tree = root("strategy = \"one_for_all\"\nmax_restarts = 1")
        .worker("a", "")
        .worker("counter", "");
    let mut h = Harness::start(tree.text()).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    for to in [v2.clone(), v1.clone(), v2.clone(), v1] {
        h.node
            .swap_child("counter", to, &probation(0))
            .await
            .unwrap();
    }
    let events = h.drain(Duration::from_millis(200)).await;
    assert!(
        events
            .iter()
            .all(|e| matches!(e.event, EventKind::SwapStarted | EventKind::SwapCommitted)),
        "only swap events: {:?}",
        compacts(&events)
    );
    let tree = h.node.tree().await.unwrap();
    assert!(
        tree.children.iter().all(|c| c.generation == 1),
        "{}",
        tree.render()
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_swap_that_would_drop_state_is_refused_unless_fresh_is_asked_for() {
    let tree = root("")
        .worker("witness", "")
        .worker("counter", r#"args = '{"report_to": "witness"}'"#);
    let h = Harness::start(tree.text()).await;
    count_to(&h, "counter", 3).await;
    // The C probe targets contract 0.1.0: no handover.
    let c = prepare(&h, C_PROBE).await;
    let error = h
        .node
        .swap_child("counter", c.clone(), &probation(0))
        .await
        .unwrap_err();
    assert!(matches!(error, SwapError::NoHandover { .. }), "{error}");
    assert!(error.to_string().contains("--fresh"), "{error}");
    assert_eq!(h.call("counter", "count").await.unwrap(), "4");

    let fresh = SwapOptions {
        fresh: true,
        ..probation(0)
    };
    let report = h.node.swap_child("counter", c, &fresh).await.unwrap();
    assert_eq!(report.state, StateHandover::Fresh);
    // The old version was told it stops; the new one starts from scratch.
    assert_eq!(
        h.call("witness", "notes").await.unwrap(),
        "terminated:counter:shutdown"
    );
    assert_eq!(h.call("counter", "count").await.unwrap(), "1");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_tries_the_new_version_on_a_copy_of_the_state_and_changes_nothing() {
    let mut h = Harness::start(root("").worker("counter", "").text()).await;
    count_to(&h, "counter", 3).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let dry = SwapOptions {
        dry_run: true,
        ..probation(0)
    };
    let report = h
        .node
        .swap_child("counter", v2.clone(), &dry)
        .await
        .unwrap();
    assert!(report.dry_run && matches!(report.state, StateHandover::Moved { .. }));
    assert_eq!(h.call("counter", "count").await.unwrap(), "4");
    assert_eq!(
        version_of(&h.node.tree().await.unwrap(), "root/counter"),
        v1.hash
    );
    assert!(h.drain(Duration::from_millis(100)).await.is_empty());
    // A dry run finds what the real swap would hit.
    h.node.shutdown().await;
    let settings = r#"args = '{"v2_refuse_restore": true}'"#;
    let h = Harness::start(root("").worker("counter", settings).text()).await;
    let error = h.node.swap_child("counter", v2, &dry).await.unwrap_err();
    assert!(
        matches!(error, SwapError::NewVersionFailed { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("a dry run: nothing was changed"),
        "{error}"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn requests_that_cannot_be_carried_out_say_why() {
    let tree =
        root("")
            .worker("counter", "")
            .supervisor("pool", "strategy = \"one_for_one\"", |s| s);
    let h = Harness::start(tree.text()).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let options = probation(0);
    let same = h
        .node
        .swap_child("counter", v1, &options)
        .await
        .unwrap_err();
    assert!(matches!(same, SwapError::SameVersion { .. }), "{same}");
    let nobody = h
        .node
        .swap_child("nobody", v2.clone(), &options)
        .await
        .unwrap_err();
    assert_eq!(nobody.to_string(), "no child named \"nobody\" in the tree");
    let sup = h
        .node
        .swap_child("pool", v2.clone(), &options)
        .await
        .unwrap_err();
    assert!(matches!(sup, SwapError::NotAWorker(_)), "{sup}");
    let undo = h.node.undo_swap("counter", &options).await.unwrap_err();
    assert!(matches!(undo, SwapError::NothingToUndo(_)), "{undo}");
    let unknown = h
        .node
        .swap_component("nope", v2, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, SwapError::NoSuchComponent(_)),
        "{unknown}"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_stopped_worker_takes_the_new_version_at_its_next_start() {
    let h = Harness::start(root("").worker("counter", "").text()).await;
    let v2 = prepare(&h, PROBE_V2).await;
    h.node.terminate_child("root", "counter").await.unwrap();
    let report = h
        .node
        .swap_child("counter", v2.clone(), &probation(0))
        .await
        .unwrap();
    assert_eq!(report.state, StateHandover::NotRunning);
    assert_eq!(
        version_of(&h.node.tree().await.unwrap(), "root/counter"),
        v2.hash
    );
    h.node.restart_child("root", "counter").await.unwrap();
    assert_eq!(h.call("counter", "version").await.unwrap(), "v2");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_component_swap_of_a_thousand_dynamic_children_goes_canary_first_then_in_batches() {
    let tree = root("").supervisor("pool", "dynamic = { max_children = 2000 }", |s| s);
    let mut h = Harness::start(tree.node("max_instances = 2100").text()).await;
    for i in 0..1000 {
        let spec = arbor::WorkerSpec::new(format!("w{i}"), "probe".to_string());
        h.node.start_child("pool", spec).await.unwrap();
    }
    h.call("w7", "count").await.unwrap();
    let v2 = prepare(&h, PROBE_V2).await;
    let options = SwapOptions {
        canary: 10,
        batch: 100,
        probation: Duration::from_millis(200),
        ..SwapOptions::default()
    };
    let report = h
        .node
        .swap_component("probe", v2.clone(), &options)
        .await
        .unwrap();
    assert_eq!(report.swapped.len(), 1000);
    assert_eq!(
        report.by_version().keys().collect::<Vec<_>>(),
        [&v2.hash.as_str()]
    );
    assert_eq!(h.call("w7", "count").await.unwrap(), "v2 2");
    // The canaries' probation ended before any other child began.
    let events: Vec<_> = h
        .drain(Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|e| e.event == EventKind::SwapStarted)
        .collect();
    assert_eq!(events.len(), 1000);
    let canaries_done = report.swapped[..10]
        .iter()
        .map(|r| r.probation_ms)
        .max()
        .unwrap();
    assert_eq!(canaries_done, 200);
    let eleventh = events[10].t_us;
    let tenth = events[9].t_us;
    assert!(
        eleventh - tenth >= 200_000,
        "the 11th began {} us after the 10th",
        eleventh - tenth
    );
    // Children added from now on run the new version.
    let spec = arbor::WorkerSpec::new("late".to_string(), "probe".to_string());
    h.node.start_child("pool", spec).await.unwrap();
    assert_eq!(h.call("late", "version").await.unwrap(), "v2");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_failure_pauses_a_component_rollout_and_says_which_child_runs_which_version() {
    let tree = root("")
        .worker("a", "")
        .worker("b", r#"args = '{"v2_refuse_restore": true}'"#)
        .worker("c", "");
    let h = Harness::start(tree.text()).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let options = SwapOptions {
        batch: 1,
        ..probation(0)
    };
    let error = h
        .node
        .swap_component("probe", v2.clone(), &options)
        .await
        .unwrap_err();
    let SwapError::Rollout(report) = &error else {
        panic!("expected a paused rollout, got {error}");
    };
    assert_eq!(report.failed.as_ref().unwrap().0, "root/b");
    let versions = report.by_version();
    assert_eq!(versions[v2.hash.as_str()], ["root/a"]);
    assert_eq!(versions[v1.hash.as_str()], ["root/b", "root/c"]);
    let text = error.to_string();
    assert!(
        text.contains("root/b") && text.contains(&v1.hash) && text.contains(&v2.hash),
        "{text}"
    );
    assert_eq!(h.call("c", "version").await.unwrap(), "v1");
    // The table still says v1: a child added now runs it.
    assert_eq!(h.node.component("probe").unwrap().hash, v1.hash);
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_swap_that_waits_past_its_drain_timeout_changes_nothing() {
    let h = Harness::start(root("").worker("counter", "").text()).await;
    let v1 = prepare(&h, PROBE).await;
    let v2 = prepare(&h, PROBE_V2).await;
    let node = h.node.handle();
    let slow = tokio::spawn(async move { node.call("counter", b"sleep 400".to_vec()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let options = SwapOptions {
        drain_timeout: Duration::from_millis(100),
        ..probation(0)
    };
    let error = h
        .node
        .swap_child("counter", v2, &options)
        .await
        .unwrap_err();
    assert!(matches!(error, SwapError::DrainTimeout { .. }), "{error}");
    assert!(error.to_string().contains(&v1.hash), "{error}");
    assert_eq!(slow.await.unwrap().unwrap(), b"slept");
    assert_eq!(h.call("counter", "version").await.unwrap(), "v1");
    h.node.shutdown().await;
}
