//! One conformance suite, run against the probe in every guest language.
//!
//! Each language's probe implements the same messages (see
//! `guests/probe/src/lib.rs`); every case below runs once per language, and
//! one case has guests of all languages call each other. A language whose
//! toolchain is missing fails the build of `arbor-guest-artifacts`, so the
//! suite fails rather than skips.
//!
//! The probes span both contract versions: the Rust, Python, JavaScript and
//! Go probes target 0.2.3 (world `supervised-with-handover`), the C probe
//! 0.1.0 (`guest-artifacts/build.rs`), so every case also proves that guests
//! built against the older contract keep running beside the newer ones.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arbor::engine::LoadedComponent;
use arbor::{
    CallError, ContractVersion, EventKind, StartOutcome, StateHandover, SwapOptions, WorkerSpec,
};

use crate::support::{Harness, TreeText, compacts, root};

fn one(extra: &str) -> TreeText {
    root("max_restarts = 10\nmax_seconds = 60")
        .worker_of("recorder", "rust", "")
        .worker(
            "p",
            &format!("timeout_ms = 2000\nargs = '{{\"report_to\": \"recorder\"}}'\n{extra}"),
        )
}

async fn start(probe: &str, extra: &str) -> Harness {
    Harness::start_with(
        &[("rust", arbor_guest_artifacts::PROBE), ("probe", probe)],
        one(extra).text(),
    )
    .await
}

async fn init_handle_and_terminate(probe: &str) {
    let mut h = start(probe, "").await;
    assert_eq!(h.call("p", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("p", "name").await.unwrap(), "p");
    h.node.terminate_child("root", "p").await.unwrap();
    h.wait_event(EventKind::ChildTerminated, "root/p", Some("shutdown"))
        .await;
    assert_eq!(
        h.call("recorder", "notes").await.unwrap(),
        "terminated:p:shutdown",
        "terminate ran"
    );
    h.node.shutdown().await;
}

async fn fresh_state_after_a_crash(probe: &str) {
    let mut h = start(probe, "").await;
    assert_eq!(h.call("p", "count").await.unwrap(), "1");
    assert_eq!(h.call("p", "count").await.unwrap(), "2");
    // What the crash says differs by contract version: a 0.2.3 probe
    // reports it (`crashes_are_reported_in_the_guests_words`), the 0.1.0 C
    // probe traps.
    match h.call("p", "crash").await {
        Err(CallError::Crashed(_)) => {}
        other => panic!("a crash must be a crash, got {other:?}"),
    }
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/p", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("p", "count").await.unwrap(), "1", "a fresh instance");
    h.node.shutdown().await;
}

async fn err_is_a_reply_and_a_trap_is_a_crash(probe: &str) {
    let mut h = start(probe, "").await;
    assert_eq!(h.call("p", "count").await.unwrap(), "1");
    assert_eq!(
        h.call("p", "fail nope").await,
        Err(CallError::Rejected("nope".into()))
    );
    assert_eq!(
        h.call("p", "count").await.unwrap(),
        "2",
        "err kept the instance"
    );
    assert!(
        h.drain(Duration::from_millis(100)).await.is_empty(),
        "no event for a business error"
    );
    h.node.shutdown().await;
}

async fn exit_reasons_reach_the_supervisor(probe: &str) {
    let mut h = start(probe, "").await;
    assert_eq!(h.call("p", "exit error boom").await.unwrap(), "bye");
    let stopped = h
        .wait_event(EventKind::ChildTerminated, "root/p", None)
        .await;
    assert_eq!(
        (
            stopped.reason.map(|r| r.as_str()),
            stopped.detail.as_deref()
        ),
        (Some("error"), Some("boom"))
    );
    h.wait_event(EventKind::ChildRestarted, "root/p", None)
        .await;
    assert_eq!(h.call("p", "exit normal").await.unwrap(), "bye");
    h.wait_event(EventKind::ChildTerminated, "root/p", Some("normal"))
        .await;
    assert!(
        h.call("recorder", "notes")
            .await
            .unwrap()
            .contains("terminated:p:error boom")
    );
    h.node.shutdown().await;
}

async fn deadlines_stop_loops_and_long_sleeps(probe: &str) {
    let mut h = start(probe, "").await;
    assert_eq!(h.call("p", "sleep 100").await.unwrap(), "slept");
    assert_eq!(
        h.call("p", "loop").await,
        Err(CallError::Crashed("timeout".into()))
    );
    let crashed = h
        .wait_event(EventKind::ChildTerminated, "root/p", Some("crash"))
        .await;
    assert_eq!(crashed.detail.as_deref(), Some("timeout"));
    h.wait_event(EventKind::ChildRestarted, "root/p", None)
        .await;
    assert_eq!(
        h.call("p", "sleep 5000").await,
        Err(CallError::Crashed("timeout".into()))
    );
    h.node.shutdown().await;
}

async fn init_errors_fail_the_start(probe: &str) {
    let h = start(probe, "").await;
    let mut spec = WorkerSpec::new("bad", "probe");
    spec.args = br#"{"fail_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    assert!(err.to_string().contains("fail_init was set"), "{err}");
    let mut spec = WorkerSpec::new("trapper", "probe");
    spec.args = br#"{"trap_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    assert!(err.to_string().contains("(crash)"), "{err}");
    assert_eq!(h.call("p", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

async fn calls_to_and_from_the_guest(probe: &str) {
    let h = start(probe, "").await;
    assert_eq!(h.call("p", "call recorder ping").await.unwrap(), "pong");
    assert_eq!(h.call("recorder", "call p ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("p", "call p ping").await,
        Err(CallError::Rejected("self-call".into()))
    );
    assert_eq!(
        h.call("p", "call ghost ping").await,
        Err(CallError::Rejected("no such name: ghost".into()))
    );
    assert_eq!(h.call("p", "cast recorder note hi").await.unwrap(), "sent");
    assert_eq!(h.call("recorder", "notes").await.unwrap(), "hi");
    h.node.shutdown().await;
}

/// 0.2.0: `init` answers `ignore` (start nothing, not a failure) when the
/// args ask, and `running` otherwise.
async fn init_may_answer_ignore(probe: &str) {
    let h = start(probe, "").await;
    let mut spec = WorkerSpec::new("idle", "probe");
    spec.args = br#"{"ignore_init": true}"#.to_vec();
    assert_eq!(
        h.node.start_child("root", spec).await,
        Ok(StartOutcome::Ignored)
    );
    assert!(matches!(
        h.call("idle", "ping").await,
        Err(CallError::Stopped(_))
    ));
    assert_eq!(
        h.node
            .start_child("root", WorkerSpec::new("busy", "probe"))
            .await,
        Ok(StartOutcome::Running)
    );
    assert_eq!(h.call("busy", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// A swap that ends at once after its commit: these cases are about the
/// state, not the probation.
fn no_probation() -> SwapOptions {
    SwapOptions {
        probation: Duration::ZERO,
        ..SwapOptions::default()
    }
}

/// Loads the component at `path` as a new version of the tree's `probe`.
async fn prepare(h: &Harness, path: &str) -> Arc<LoadedComponent> {
    crate::support::warm(path);
    h.node
        .prepare_component("probe", Path::new(path))
        .await
        .expect("the component loads")
}

/// Hot swap with state, in each language: the language's `snapshot` is
/// what the Rust v2 build `restore`s (the count, the notes, the version it
/// came from), and on the way back v2's snapshot is what the language's
/// `restore` reads. The two directions together prove each language's
/// `snapshot` and `restore` and that their JSON is the Rust probe's.
async fn state_moves_to_v2_and_back(probe: &str) {
    let h = start(probe, "").await;
    for n in 1..=3 {
        assert_eq!(h.call("p", "count").await.unwrap(), n.to_string());
    }
    assert_eq!(h.call("p", "note a").await.unwrap(), "noted");
    let v1 = prepare(&h, probe).await;
    let v2 = prepare(&h, arbor_guest_artifacts::PROBE_V2).await;

    let there = h.node.swap_child("p", v2.clone(), &no_probation()).await;
    assert_eq!(there.expect("swapped to v2").to, v2.hash);
    assert_eq!(h.call("p", "count").await.unwrap(), "v2 4");
    assert_eq!(h.call("p", "notes").await.unwrap(), "a");
    assert_eq!(h.call("p", "from-version").await.unwrap(), v1.hash);

    let back = h.node.undo_swap("p", &no_probation()).await;
    assert_eq!(back.expect("swapped back").to, v1.hash);
    assert_eq!(h.call("p", "version").await.unwrap(), "v1");
    assert_eq!(h.call("p", "count").await.unwrap(), "5");
    assert_eq!(h.call("p", "notes").await.unwrap(), "a");
    assert_eq!(h.call("p", "from-version").await.unwrap(), v2.hash);
    h.node.shutdown().await;
}

/// A 1 MiB state (a `pad`) goes through each language's `snapshot` and
/// `restore`, there and back, within the default 5 s callback deadline.
/// Prints how long the child was unavailable each way.
async fn a_one_mib_state_moves_within_the_default_deadline(probe: &str) {
    const MIB: u64 = 1 << 20;
    let h = Harness::start_with(&[("probe", probe)], root("").worker("p", "").text()).await;
    assert_eq!(h.call("p", "count").await.unwrap(), "1");
    assert_eq!(
        h.call("p", &format!("pad {MIB}")).await.unwrap(),
        format!("padded {MIB}")
    );
    let v2 = prepare(&h, arbor_guest_artifacts::PROBE_V2).await;
    let there = h.node.swap_child("p", v2, &no_probation()).await;
    let there = there.expect("a 1 MiB state moves to v2");
    assert!(
        matches!(there.state, StateHandover::Moved { bytes } if bytes > MIB),
        "{there}"
    );
    assert_eq!(h.call("p", "count").await.unwrap(), "v2 2");
    let back = h.node.undo_swap("p", &no_probation()).await;
    let back = back.expect("a 1 MiB state moves back");
    assert!(
        matches!(back.state, StateHandover::Moved { bytes } if bytes > MIB),
        "{back}"
    );
    assert_eq!(h.call("p", "count").await.unwrap(), "3");
    eprintln!("{probe}: 1 MiB state: {there}; back: {back}");
    h.node.shutdown().await;
}

/// 0.2.3: a panic or an uncaught exception in `handle`, `init` or
/// `terminate` ends the instance through `host.crash` (the SDK's panic
/// hook, the Python and JavaScript probes' export handlers, the Go SDK's
/// recover), as a trap in that callback would, but with the guest's own
/// text as the crash's detail: `says` (its language's wording of
/// "crash requested", "trap_init was set", ...) and never wasmtime's
/// "wasm trap: ...". A hardware trap's error is a `wasmtime::Trap`, whose
/// detail always starts "wasm trap"; only an error returned by the host's
/// `crash` import carries the guest's text, and once that import has
/// returned its error no more guest code runs: so a detail in the guest's
/// words is a crash in which no trap instruction executed.
async fn crashes_are_reported_in_the_guests_words(probe: &str, says: fn(&str) -> String) {
    // `context` (the callback) then the guest's words for `text`.
    let check = |detail: &str, context: &str, text: &str| {
        assert!(
            detail.starts_with(&format!("{context}{}", says(text))),
            "{detail}"
        );
        assert!(detail.contains(text), "{detail}");
        assert!(!detail.contains("wasm trap"), "{detail}");
    };
    let mut h = start(probe, "").await;
    // handle: the caller, the event and the log see the same text.
    let detail = match h.call("p", "crash").await {
        Err(CallError::Crashed(detail)) => detail,
        other => panic!("a crash, got {other:?}"),
    };
    check(&detail, "", "crash requested");
    let crashed = h
        .wait_event(EventKind::ChildTerminated, "root/p", Some("crash"))
        .await;
    assert_eq!(crashed.detail.as_deref(), Some(detail.as_str()));
    h.wait_event(EventKind::ChildRestarted, "root/p", None)
        .await;
    assert_eq!(h.call("p", "count").await.unwrap(), "1", "a fresh instance");

    // init: the start fails as a crash, with the guest's text.
    let mut spec = WorkerSpec::new("bad_init", "probe");
    spec.args = br#"{"trap_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    let err = err.to_string();
    assert!(err.contains("(crash)"), "{err}");
    let at = err.find("init: ").expect("the failure names init");
    check(&err[at..], "init: ", "trap_init was set");

    // terminate: an orderly stop whose terminate crashes is a crash.
    let mut spec = WorkerSpec::new("bad_stop", "probe");
    spec.args = br#"{"trap_terminate": true}"#.to_vec();
    h.node.start_child("root", spec).await.unwrap();
    h.node.terminate_child("root", "bad_stop").await.unwrap();
    let stopped = h
        .wait_event(EventKind::ChildTerminated, "root/bad_stop", Some("crash"))
        .await;
    check(
        stopped.detail.as_deref().unwrap_or_default(),
        "terminate: ",
        "trap_terminate was set",
    );
    h.node.shutdown().await;
}

macro_rules! conformance {
    ($($lang:ident => $path:expr),* $(,)?) => {
        $(
            mod $lang {
                fn probe() -> &'static str {
                    $path
                }

                #[tokio::test]
                async fn init_handle_and_terminate() {
                    super::init_handle_and_terminate(probe()).await
                }

                #[tokio::test]
                async fn fresh_state_after_a_crash() {
                    super::fresh_state_after_a_crash(probe()).await
                }

                #[tokio::test]
                async fn err_is_a_reply_and_a_trap_is_a_crash() {
                    super::err_is_a_reply_and_a_trap_is_a_crash(probe()).await
                }

                #[tokio::test]
                async fn exit_reasons_reach_the_supervisor() {
                    super::exit_reasons_reach_the_supervisor(probe()).await
                }

                #[tokio::test]
                async fn deadlines_stop_loops_and_long_sleeps() {
                    super::deadlines_stop_loops_and_long_sleeps(probe()).await
                }

                #[tokio::test]
                async fn init_errors_fail_the_start() {
                    super::init_errors_fail_the_start(probe()).await
                }

                #[tokio::test]
                async fn calls_to_and_from_the_guest() {
                    super::calls_to_and_from_the_guest(probe()).await
                }
            }
        )*
    };
}

conformance! {
    rust => arbor_guest_artifacts::PROBE,
    python => arbor_guest_artifacts::PYTHON_PROBE,
    js => arbor_guest_artifacts::JS_PROBE,
    c => arbor_guest_artifacts::C_PROBE,
    go => arbor_guest_artifacts::GO_PROBE,
}

/// The cases of what 0.2.0 added (`ignore`, `handover`), run against the
/// probes built against it (the C probe is the suite's 0.1.0 guest).
macro_rules! since_0_2 {
    ($($lang:ident => $path:expr),* $(,)?) => {
        mod since_0_2 {
            $(
                mod $lang {
                    fn probe() -> &'static str {
                        $path
                    }

                    #[tokio::test]
                    async fn init_may_answer_ignore() {
                        super::super::init_may_answer_ignore(probe()).await
                    }

                    #[tokio::test]
                    async fn state_moves_to_v2_and_back() {
                        super::super::state_moves_to_v2_and_back(probe()).await
                    }

                    #[tokio::test]
                    async fn a_one_mib_state_moves_within_the_default_deadline() {
                        super::super::a_one_mib_state_moves_within_the_default_deadline(probe())
                            .await
                    }
                }
            )*
        }
    };
}

since_0_2! {
    rust => arbor_guest_artifacts::PROBE,
    python => arbor_guest_artifacts::PYTHON_PROBE,
    js => arbor_guest_artifacts::JS_PROBE,
    go => arbor_guest_artifacts::GO_PROBE,
}

/// How each language's probe words a crash of `text` (the start of the
/// detail; what follows is where it happened).
macro_rules! since_0_2_3 {
    ($($lang:ident => $path:expr, $says:expr),* $(,)?) => {
        mod since_0_2_3 {
            $(
                mod $lang {
                    #[tokio::test]
                    async fn crashes_are_reported_in_the_guests_words() {
                        super::super::crashes_are_reported_in_the_guests_words($path, $says).await
                    }
                }
            )*
        }
    };
}

since_0_2_3! {
    rust => arbor_guest_artifacts::PROBE, |text| format!("panic: {text} (at probe/src/lib.rs:"),
    python => arbor_guest_artifacts::PYTHON_PROBE, |text| format!("Trap: {text} (at app.py:"),
    js => arbor_guest_artifacts::JS_PROBE, |text| format!("Error: {text} (at "),
    go => arbor_guest_artifacts::GO_PROBE, |text| format!("panic: {text} (at probe.go:"),
}

#[tokio::test]
async fn guests_of_every_language_call_each_other() {
    let languages = [
        ("rust", arbor_guest_artifacts::PROBE),
        ("python", arbor_guest_artifacts::PYTHON_PROBE),
        ("js", arbor_guest_artifacts::JS_PROBE),
        ("c", arbor_guest_artifacts::C_PROBE),
        ("go", arbor_guest_artifacts::GO_PROBE),
    ];
    let body = languages.iter().fold(root(""), |tree, (lang, _)| {
        tree.worker_of(&format!("{lang}-guest"), lang, "")
    });
    let h = Harness::start_with(&languages, body.text()).await;
    for (from, _) in languages {
        for (to, _) in languages {
            if from != to {
                let reply = h
                    .call(&format!("{from}-guest"), &format!("call {to}-guest name"))
                    .await;
                assert_eq!(reply.unwrap(), format!("{to}-guest"), "{from} -> {to}");
            }
        }
    }
    // A crash in one language does not disturb the others.
    assert!(h.call("python-guest", "call js-guest crash").await.is_err());
    assert_eq!(
        h.call("rust-guest", "call python-guest ping")
            .await
            .unwrap(),
        "pong"
    );
    let _ = compacts(&h.seen);
    h.node.shutdown().await;
}

#[test]
fn each_probe_loads_as_the_contract_version_it_was_built_against() {
    let cases = [
        (arbor_guest_artifacts::PROBE, ContractVersion::V0_2),
        (arbor_guest_artifacts::PROBE_V2, ContractVersion::V0_2),
        (arbor_guest_artifacts::PYTHON_PROBE, ContractVersion::V0_2),
        (arbor_guest_artifacts::JS_PROBE, ContractVersion::V0_2),
        (arbor_guest_artifacts::GO_PROBE, ContractVersion::V0_2),
        (arbor_guest_artifacts::C_PROBE, ContractVersion::V0_1),
    ];
    for (path, version) in cases {
        assert_eq!(
            crate::support::load(path).contract(),
            Some(version),
            "{path}"
        );
    }
}

/// Asks `from` to call `to` with `message`; the reply, or `from`'s error.
async fn relay(h: &Harness, from: &str, to: &str, message: &str) -> Result<String, CallError> {
    h.call(from, &format!("call {to} {message}")).await
}

/// 0.1.0 and 0.2.0 guests in one tree call each other, and each is told of
/// a full mailbox in its own version's words: `mailbox-full` for 0.2.0,
/// `rejected` (as before 0.2.0) for 0.1.0, with the same text.
#[tokio::test]
async fn guests_of_both_contract_versions_call_each_other_and_each_hears_of_a_full_mailbox_its_way()
{
    let languages = [
        ("rust", arbor_guest_artifacts::PROBE),
        ("python", arbor_guest_artifacts::PYTHON_PROBE),
        ("js", arbor_guest_artifacts::JS_PROBE),
        ("c", arbor_guest_artifacts::C_PROBE),
        ("go", arbor_guest_artifacts::GO_PROBE),
    ];
    // All on root's thread: once a neighbour answers, the sleeper is asleep.
    let mut tree = root("").worker_of("sleeper", "rust", "mailbox_capacity = 1");
    for (lang, _) in languages {
        tree = tree.worker_of(&format!("{lang}-guest"), lang, "");
    }
    let h = Harness::start_with(&languages, tree.text()).await;
    for new in ["rust-guest", "python-guest", "js-guest", "go-guest"] {
        let old = "c-guest";
        assert_eq!(relay(&h, new, old, "name").await.unwrap(), old);
        assert_eq!(relay(&h, old, new, "name").await.unwrap(), new);
        // A business error crosses the versions as `rejected` both ways.
        let nope = Err(CallError::Rejected("rejected: nope".into()));
        assert_eq!(relay(&h, new, old, "fail nope").await, nope);
        assert_eq!(relay(&h, old, new, "fail nope").await, nope);
    }

    h.node.cast("sleeper", b"sleep 3000".to_vec()).unwrap();
    assert_eq!(h.call("rust-guest", "ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("rust-guest", "cast sleeper note a").await.unwrap(),
        "sent"
    );
    let full = "the mailbox of \"sleeper\" is full: limit of 1 messages (mailbox_capacity)";
    for new in ["rust", "python", "js", "go"] {
        assert_eq!(
            h.call(&format!("{new}-guest"), "cast sleeper note b").await,
            Err(CallError::Rejected(format!("mailbox full: {full}"))),
            "0.2.0 ({new}): mailbox-full"
        );
    }
    assert_eq!(
        h.call("c-guest", "cast sleeper note b").await,
        Err(CallError::Rejected(format!("rejected: {full}"))),
        "0.1.0 (c): rejected"
    );
    h.node.shutdown().await;
}

/// The probe's two builds, which the hot swap cases swap between, differ
/// where the probe's doc says and nowhere else: `version`, the form of
/// `count`, and the two v2 init args, which v1 reads and ignores.
#[tokio::test]
async fn the_v2_build_of_the_probe_differs_from_v1_where_its_doc_says() {
    let v2_args = r#"args = '{"v2_trap_init": true, "v2_refuse_restore": true}'"#;
    let tree = root("")
        .worker_of("one", "v1", v2_args)
        .worker_of("two", "v2", "");
    let h = Harness::start_with(
        &[
            ("v1", arbor_guest_artifacts::PROBE),
            ("v2", arbor_guest_artifacts::PROBE_V2),
        ],
        tree.text(),
    )
    .await;
    for (name, version, count) in [("one", "v1", "1"), ("two", "v2", "v2 1")] {
        assert_eq!(h.call(name, "version").await.unwrap(), version);
        assert_eq!(h.call(name, "count").await.unwrap(), count, "{version}");
        assert_eq!(h.call(name, "from-version").await.unwrap(), "none");
        assert_eq!(h.call(name, "pad 1048576").await.unwrap(), "padded 1048576");
        assert_eq!(h.call(name, "ping").await.unwrap(), "pong");
    }
    let mut spec = WorkerSpec::new("trapper", "v2");
    spec.args = br#"{"v2_trap_init": true}"#.to_vec();
    let err = h.node.start_child("root", spec).await.unwrap_err();
    assert!(err.to_string().contains("(crash)"), "{err}");
    h.node.shutdown().await;
}
