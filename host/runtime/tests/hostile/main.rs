//! Hostile guests (README "Hostile guests"): each test turns one child
//! against the host while a sibling under the same supervisor (so on the
//! same scheduler thread) is pinged every few milliseconds. For each
//! attack the test asserts the event that ends it, that every ping was
//! answered within the sibling's deadline (the slowest is measured, not
//! assumed), and that the host's RSS is bounded afterwards.
//!
//! A binary of its own, its tests one at a time: RSS is the process's, so
//! another test's tree would blur what an attack costs.

#[allow(dead_code)]
#[path = "../all/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arbor::{CallError, ChildCommandError, CommandError, EventKind, ExitReason, WorkerSpec};

use support::{Harness, root};

/// The sibling's deadline: every ping must be answered within it.
const SIBLING_DEADLINE: Duration = Duration::from_secs(1);
/// How much the host's RSS may grow across one attack. The largest
/// legitimate growth is a memory bomb's pages, which the instance pool
/// keeps resident for the next instance (at most 16 MiB per slot), plus
/// allocator slack.
const RSS_BOUND: u64 = 96 << 20;

/// One attack at a time in this process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A root (with room for many restarts) holding the sibling `s` and the
/// workers `hostile` adds.
async fn arena(hostile: impl FnOnce(support::TreeText) -> support::TreeText) -> Harness {
    let tree =
        hostile(root("max_restarts = 1000\nmax_seconds = 1").worker("s", "timeout_ms = 1000"));
    let h = Harness::start(tree.text()).await;
    // Warm: the first calls pay for lazily made state, not the attack.
    for _ in 0..3 {
        assert_eq!(h.call("s", "ping").await.unwrap(), "pong");
    }
    h
}

/// Runs `attack` while pinging `s` every 2 ms; every ping must answer
/// `pong` within [`SIBLING_DEADLINE`]. Checks the RSS bound after it and
/// answers what the attack did.
async fn under_siege<T>(h: &Harness, attack: impl std::future::Future<Output = T>) -> T {
    let before = rss();
    let node = h.node.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut slowest, mut pings) = (Duration::ZERO, 0u32);
            while !stop.load(Ordering::Relaxed) || pings < 3 {
                let sent = Instant::now();
                let reply = node
                    .call_with_timeout("s", b"ping".to_vec(), SIBLING_DEADLINE)
                    .await;
                assert_eq!(
                    reply.as_deref(),
                    Ok(&b"pong"[..]),
                    "the sibling answers during the attack"
                );
                slowest = slowest.max(sent.elapsed());
                pings += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            slowest
        })
    };
    let outcome = attack.await;
    stop.store(true, Ordering::Relaxed);
    let slowest_ping = pinger.await.expect("the pinger saw every ping answered");
    assert!(slowest_ping < SIBLING_DEADLINE);
    let after = rss();
    assert!(
        after.saturating_sub(before) < RSS_BOUND,
        "RSS grew from {} to {} MiB",
        before >> 20,
        after >> 20
    );
    println!(
        "slowest sibling ping {slowest_ping:?}; RSS {} -> {} MiB",
        before >> 20,
        after >> 20
    );
    outcome
}

/// Waits for `path`'s `child_terminated` and answers its reason and detail.
async fn ended(h: &mut Harness, path: &str) -> (ExitReason, String) {
    let e = h
        .wait_for(&format!("{path} terminated"), |e| {
            e.event == EventKind::ChildTerminated && e.path == path
        })
        .await;
    (e.reason.expect("a reason"), e.detail.unwrap_or_default())
}

#[tokio::test]
async fn a_loop_in_handle_is_ended_by_its_deadline() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| t.worker("h", "timeout_ms = 300")).await;
    let outcome = under_siege(&h, h.call("h", "loop")).await;
    assert_eq!(outcome, Err(CallError::Crashed("timeout".into())));
    assert_eq!(
        ended(&mut h, "root/h").await,
        (ExitReason::Crash, "timeout".into())
    );
    h.wait_event(EventKind::ChildRestarted, "root/h", None)
        .await;
    assert_eq!(h.call("h", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn a_loop_in_init_fails_the_start_at_its_init_deadline() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| t).await;
    let mut spec = WorkerSpec::new("h", "probe");
    spec.args = br#"{"init_loop": true}"#.to_vec();
    spec.init_timeout = Duration::from_millis(300);
    let outcome = under_siege(&h, h.node.start_child("root", spec)).await;
    let Err(CommandError::Child(ChildCommandError::StartFailed { reason, detail })) = outcome
    else {
        panic!("the start fails: {:?}", outcome)
    };
    assert_eq!(
        (reason, detail.as_str()),
        (ExitReason::Crash, "init: timeout")
    );
    assert_eq!(
        ended(&mut h, "root/h").await,
        (ExitReason::Crash, "init: timeout".into())
    );
}

#[tokio::test]
async fn a_loop_in_terminate_is_killed_at_its_shutdown_budget() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| {
        t.worker(
            "h",
            "args = '{\"terminate_loop\": true}'\nshutdown_ms = 300",
        )
    })
    .await;
    let outcome = under_siege(&h, h.node.terminate_child("root", "h")).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(ended(&mut h, "root/h").await.0, ExitReason::Killed);
}

#[tokio::test]
async fn a_trap_in_terminate_is_a_crash_of_the_stopped_child_only() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| t.worker("h", "args = '{\"trap_terminate\": true}'")).await;
    let outcome = under_siege(&h, h.node.terminate_child("root", "h")).await;
    assert_eq!(outcome, Ok(()));
    let (reason, detail) = ended(&mut h, "root/h").await;
    assert_eq!(reason, ExitReason::Crash);
    assert!(detail.starts_with("terminate: "), "{detail}");
}

#[tokio::test]
async fn a_memory_bomb_traps_at_its_limit() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| t.worker("h", "max_memory_mb = 32")).await;
    let bomb = async {
        for _ in 0..16 {
            if let Err(e) = h.call("h", "grow 4").await {
                return Some(e);
            }
        }
        None
    };
    let outcome = under_siege(&h, bomb).await;
    assert!(
        matches!(outcome, Some(CallError::Crashed(_))),
        "{:?}",
        outcome
    );
    assert_eq!(ended(&mut h, "root/h").await.0, ExitReason::Crash);
    h.wait_event(EventKind::ChildRestarted, "root/h", None)
        .await;
}

/// A Rust guest keeps its frames on a shadow stack in its linear memory:
/// running out of it is an out-of-bounds access. Frames in wasm locals
/// only run out of wasm's own call stack. Both are crashes.
#[tokio::test]
async fn a_stack_overflow_traps_whichever_stack_runs_out() {
    let _one = SERIAL.lock().await;
    let mut h = arena(|t| t.worker("h", "")).await;
    for (message, says) in [
        ("overflow", "out of bounds memory access"),
        ("overflow-native", "call stack exhausted"),
    ] {
        let outcome = under_siege(&h, h.call("h", message)).await;
        assert!(matches!(outcome, Err(CallError::Crashed(_))));
        let (reason, detail) = ended(&mut h, "root/h").await;
        assert_eq!(reason, ExitReason::Crash);
        assert!(detail.contains(says), "{message}: {detail}");
        h.wait_event(EventKind::ChildRestarted, "root/h", None)
            .await;
    }
}

#[tokio::test]
async fn a_reply_above_the_limit_is_refused_and_the_child_keeps_serving() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| t.worker("h", "")).await;
    let too_big = arbor::MAX_MESSAGE_BYTES + 1;
    let outcome = under_siege(&h, h.call("h", &format!("reply-bytes {too_big}"))).await;
    let Err(CallError::Rejected(why)) = outcome else {
        panic!("{:?}", outcome)
    };
    assert!(why.contains("exceeds the limit"), "{why}");
    assert_eq!(
        h.call("h", "count").await.unwrap(),
        "1",
        "the same instance"
    );
}

#[tokio::test]
async fn a_call_to_itself_is_an_error_not_a_deadlock() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| t.worker("h", "")).await;
    let outcome = under_siege(&h, h.call("h", "call h ping")).await;
    assert_eq!(outcome, Err(CallError::Rejected("self-call".into())));
    assert_eq!(h.call("h", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn two_children_calling_each_other_time_out_and_keep_serving() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| {
        t.worker("a", "call_timeout_ms = 300\ntimeout_ms = 2000")
            .worker("b", "call_timeout_ms = 300\ntimeout_ms = 2000")
    })
    .await;
    // a waits on b, which calls a: a's mailbox holds b's call until b's
    // call times out; b answers a with that error.
    let outcome = under_siege(&h, h.call("a", "call b call a ping")).await;
    assert_eq!(
        outcome,
        Err(CallError::Rejected("timeout".into())),
        "b's call timed out and a got b's error"
    );
    assert_eq!(h.call("a", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("b", "ping").await.unwrap(), "pong");
}

#[tokio::test]
async fn a_call_cycle_through_three_children_times_out_and_all_keep_serving() {
    let _one = SERIAL.lock().await;
    let callers = "call_timeout_ms = 300\ntimeout_ms = 2000";
    let h = arena(|t| {
        t.worker("a", callers)
            .worker("b", callers)
            .worker("c", callers)
    })
    .await;
    let outcome = under_siege(&h, h.call("a", "call b call c call a ping")).await;
    assert_eq!(outcome, Err(CallError::Rejected("timeout".into())));
    for name in ["a", "b", "c"] {
        assert_eq!(h.call(name, "ping").await.unwrap(), "pong");
    }
}

#[tokio::test]
async fn a_spawn_storm_stops_at_max_children() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| {
        t.worker("h", "may_start = [\"pool\"]").supervisor(
            "pool",
            "dynamic = { max_children = 20 }",
            |s| s,
        )
    })
    .await;
    let storm = async {
        let mut refused = 0;
        for i in 0..60 {
            match h
                .call("h", &format!("spawn pool w{i} probe temporary"))
                .await
            {
                Ok(_) => {}
                Err(CallError::Rejected(why)) if why.starts_with("max-children") => refused += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        refused
    };
    let outcome = under_siege(&h, storm).await;
    assert_eq!(outcome, 40, "20 started, the rest refused");
    let pool = h.node.count_children("pool").await.unwrap();
    assert_eq!(pool.workers, 20);
}

#[tokio::test]
async fn log_spam_does_not_slow_the_sibling() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| t.worker("h", "timeout_ms = 30000")).await;
    let outcome = under_siege(&h, h.call("h", "log-many 20000 200")).await;
    assert_eq!(outcome.unwrap(), "logged 20000");
}

#[tokio::test]
async fn casting_to_a_slow_sibling_fills_its_mailbox_and_every_refusal_is_counted() {
    let _one = SERIAL.lock().await;
    let h = arena(|t| t.worker("h", "").worker("z", "mailbox_capacity = 100")).await;
    let outcome = under_siege(&h, h.call("h", "cast-many 1000 z sleep 2")).await;
    let reply = outcome.unwrap();
    let (sent, rest) = reply.split_once(" sent, ").expect("some casts refused");
    let (failed, error) = rest.split_once(" failed: ").unwrap();
    let (sent, failed): (u32, u32) = (sent.parse().unwrap(), failed.parse().unwrap());
    assert_eq!(
        sent + failed,
        1000,
        "each cast was queued or refused: {reply}"
    );
    assert!((100..1000).contains(&sent), "{reply}");
    assert!(error.starts_with("mailbox full"), "{reply}");
}

#[tokio::test]
async fn reading_a_file_or_opening_a_socket_not_granted_is_refused() {
    let _one = SERIAL.lock().await;
    let tree = root("max_restarts = 1000\nmax_seconds = 1")
        .worker("s", "timeout_ms = 1000")
        .worker_of("h", "g", "");
    let components = [
        ("probe", support::probe()),
        ("g", arbor_guest_artifacts::GRANTS_PROBE),
    ];
    let h = Harness::start_with(&components, tree.text()).await;
    let attack = async {
        let file = h.call("h", "read /etc/passwd").await;
        let socket = h.call("h", "connect 127.0.0.1:9").await;
        (file, socket)
    };
    let (file, socket) = under_siege(&h, attack).await;
    assert!(matches!(file, Err(CallError::Rejected(_))), "{file:?}");
    let Err(CallError::Rejected(why)) = socket else {
        panic!("{socket:?}")
    };
    assert!(why.contains("access-denied"), "{why}");
}
