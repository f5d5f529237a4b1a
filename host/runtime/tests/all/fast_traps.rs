//! `[node] fast_traps = true`: traps raised by a call instead of a hardware
//! exception still end the instance with the same details, and the child
//! restarts fresh.

use arbor::EventKind;

use crate::support::{Harness, TreeText, root};

fn tree() -> TreeText {
    root("max_restarts = 100\nmax_seconds = 10")
        .node("max_instances = 16\nfast_traps = true")
        .worker("w", "max_memory_mb = 4\ntimeout_ms = 300")
}

#[tokio::test]
async fn with_fast_traps_every_kind_of_trap_is_a_crash_with_its_detail_and_a_fresh_restart() {
    let mut h = Harness::start(tree().text()).await;
    let cases = [
        ("trap", "unreachable"),
        ("crash", "crash requested"), // through `host.crash`: no trap at all
        ("grow 8", "unreachable"),    // Rust aborts when allocation fails
        ("overflow", "wasm trap"),
        ("loop", "timeout"),
    ];
    for (generation, (message, detail)) in (2..).zip(cases) {
        assert_eq!(
            h.call("w", "count").await.unwrap(),
            "1",
            "fresh before {message}"
        );
        let err = h.call("w", message).await.unwrap_err().to_string();
        assert!(err.contains("crashed"), "{message}: {err}");
        assert!(err.contains(detail), "{message}: {err}");
        let restarted = h
            .wait_event(EventKind::ChildRestarted, "root/w", None)
            .await;
        assert_eq!(restarted.generation, Some(generation), "{message}");
    }
    assert_eq!(h.call("w", "count").await.unwrap(), "1");
    h.node.shutdown().await;
}
