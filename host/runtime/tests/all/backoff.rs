//! README "Restart backoff": a `backoff` delays the restarts of a child
//! that keeps failing, doubling each time in a row, with jitter (each
//! delay between half its base and all of it); a quiet run resets it; the
//! intensity window still counts every restart; the siblings a strategy
//! restarts wait with the failed child; messages sent meanwhile wait in
//! the mailbox; a shutdown during a wait does not wait for it.
//!
//! Delays are checked from below (a restart never comes before half its
//! base) and, where a test needs it, against the next base's lower bound,
//! never against a tight upper bound: the machine may be slow, not fast.

use std::time::Duration;

use arbor::{ChildStatus, EventKind, ExitReason};

use crate::support::{Harness, root};

/// Crashes `name` and answers how long its restart took, from its
/// `child_terminated` to its `child_restarted` event (host clock).
async fn crash_and_time(h: &mut Harness, name: &str) -> Duration {
    let path = format!("root/{name}");
    assert!(h.call(name, "crash").await.is_err());
    let died = h
        .wait_event(EventKind::ChildTerminated, &path, Some("crash"))
        .await;
    let back = h.wait_event(EventKind::ChildRestarted, &path, None).await;
    Duration::from_micros(back.t_us - died.t_us)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn restarts_in_a_row_wait_longer_each_time_and_the_intensity_still_counts_them() {
    let tree = root("max_restarts = 4\nmax_seconds = 60")
        .worker("w", "backoff = { initial_ms = 40, max_ms = 10000 }");
    let mut h = Harness::start(tree.text()).await;
    let mut delays = Vec::new();
    for _ in 0..4 {
        delays.push(crash_and_time(&mut h, "w").await);
    }
    // Bases 40, 80, 160, 320 ms: each restart waits at least half of its own.
    for (delay, base) in delays.iter().zip([40, 80, 160, 320]) {
        assert!(*delay >= ms(base / 2), "{delays:?}");
    }
    let delayed = h
        .seen
        .iter()
        .filter(|e| e.event == EventKind::ChildRestartDelayed && e.path == "root/w")
        .count();
    assert_eq!(delayed, 4, "each delayed restart is an event");
    // The fifth restart in 60 s is one too many, delay or not.
    assert!(h.call("w", "crash").await.is_err());
    let gave_up = h
        .wait_event(EventKind::SupervisorTerminated, "root", None)
        .await;
    assert_eq!(gave_up.detail.as_deref(), Some("max_restarts"));
}

#[tokio::test]
async fn a_child_that_ran_quietly_past_reset_waits_the_first_delay_again() {
    let tree = root("max_restarts = 100\nmax_seconds = 60").worker(
        "w",
        "backoff = { initial_ms = 100, max_ms = 10000, reset_ms = 300 }",
    );
    let mut h = Harness::start(tree.text()).await;
    for _ in 0..3 {
        crash_and_time(&mut h, "w").await; // bases 100, 200, 400 ms
    }
    tokio::time::sleep(ms(600)).await;
    let after_quiet = crash_and_time(&mut h, "w").await;
    // Without the reset this would be the fourth in a row: base 800 ms,
    // at least 400 ms. Reset, it is the first: base 100 ms.
    assert!(after_quiet >= ms(50), "{after_quiet:?}");
    assert!(after_quiet < ms(400), "{after_quiet:?}");
}

#[tokio::test]
async fn a_supervisor_backoff_holds_the_siblings_its_strategy_restarts() {
    let tree = root("strategy = \"one_for_all\"\nbackoff = { initial_ms = 200 }")
        .worker("a", "")
        .worker("b", "");
    let mut h = Harness::start(tree.text()).await;
    assert!(h.call("a", "crash").await.is_err());
    let died = h
        .wait_event(EventKind::ChildTerminated, "root/a", Some("crash"))
        .await;
    let delayed = h
        .wait_event(EventKind::ChildRestartDelayed, "root/a", None)
        .await;
    assert!(delayed.detail.unwrap().contains("restarts in"));
    // In start order, a then b, both after the delay.
    let events = h
        .collect_until("b restarted", |e| {
            e.event == EventKind::ChildRestarted && e.path == "root/b"
        })
        .await;
    let restarted: Vec<_> = events
        .iter()
        .filter(|e| e.event == EventKind::ChildRestarted)
        .collect();
    assert_eq!(restarted.len(), 2, "{}", h.dump());
    assert_eq!(restarted[0].path, "root/a");
    for back in restarted {
        assert!(Duration::from_micros(back.t_us - died.t_us) >= ms(100));
    }
}

#[tokio::test]
async fn messages_sent_during_the_wait_are_served_once_it_restarts() {
    let tree = root("").worker("w", "backoff = { initial_ms = 400 }");
    let mut h = Harness::start(tree.text()).await;
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestartDelayed, "root/w", None)
        .await;
    let report = h.node.tree().await.unwrap();
    let w = report.children.iter().find(|c| c.path == "root/w").unwrap();
    assert_eq!(w.state, ChildStatus::Restarting);
    // Sent while nothing runs: it waits in the mailbox, not an error.
    assert_eq!(h.call("w", "ping").await.unwrap(), "pong");
    let back = h
        .wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(back.generation, Some(2));
}

#[tokio::test]
async fn a_shutdown_during_a_backoff_wait_does_not_wait_for_it() {
    let tree = root("").worker("w", "backoff = { initial_ms = 60000, max_ms = 60000 }");
    let mut h = Harness::start(tree.text()).await;
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestartDelayed, "root/w", None)
        .await;
    let exit = tokio::time::timeout(Duration::from_secs(10), h.node.shutdown())
        .await
        .expect("the shutdown does not wait out the 30-60 s delay");
    assert_eq!(exit.reason, ExitReason::Shutdown);
}
