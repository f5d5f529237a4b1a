//! Crashes a guest reports (contract 0.2.3's `host.crash`) and crashes it
//! does not: a Rust panic through the SDK's hook is a crash whose detail is
//! the panic's message and location, raised by the import (no trap
//! instruction runs), while `unreachable`, an out-of-bounds access and a
//! stack overflow stay hardware traps, reported by wasmtime as before. The
//! same crash in every language is a conformance case
//! (`conformance::crashes_are_reported_in_the_guests_words`).

use arbor::{CallError, EventKind};

use crate::support::{Harness, root};

/// The probe's `crash` is `panic!("crash requested")` at this place of
/// `guests/probe/src/lib.rs` (its path as rustc names it in the guests'
/// workspace): the line where the probe says so.
fn panic_site() -> String {
    let source = include_str!("../../../../guests/probe/src/lib.rs");
    let (line, text) = source
        .lines()
        .enumerate()
        .find(|(_, text)| text.contains(r#""crash" => panic!("crash requested")"#))
        .expect("the probe panics on `crash`");
    let column = text.find("panic!").unwrap() + 1;
    format!("probe/src/lib.rs:{}:{column}", line + 1)
}

#[tokio::test]
async fn a_rust_panic_is_a_crash_with_its_message_and_place_and_no_trap() {
    let tree = root("max_restarts = 10\nmax_seconds = 60").worker("w", "");
    let mut h = Harness::start(tree.text()).await;
    let expected = format!("panic: crash requested (at {})", panic_site());
    // The detail is the guest's text, not wasmtime's: the call ended with
    // the error of the `crash` import, which a hardware trap (a
    // `wasmtime::Trap`, "wasm trap: ...") cannot produce, and after which
    // no guest code runs (the abort that would follow the hook does not).
    assert_eq!(
        h.call("w", "crash").await,
        Err(CallError::Crashed(expected.clone()))
    );
    let crashed = h
        .wait_event(EventKind::ChildTerminated, "root/w", Some("crash"))
        .await;
    assert_eq!(crashed.detail.as_deref(), Some(expected.as_str()));
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(h.call("w", "count").await.unwrap(), "1", "a fresh instance");
    h.node.shutdown().await;
}

#[tokio::test]
async fn hardware_traps_stay_crashes_reported_by_wasmtime() {
    let tree = root("max_restarts = 10\nmax_seconds = 60")
        .worker("w", "max_memory_mb = 4\ntimeout_ms = 2000");
    let mut h = Harness::start(tree.text()).await;
    let cases = [
        ("trap", "wasm trap: wasm `unreachable` instruction executed"),
        ("overflow", "wasm trap: out of bounds memory access"),
        ("overflow-native", "wasm trap: call stack exhausted"),
        // An allocation that fails aborts without a panic (Rust's
        // allocation error hook is not the panic hook).
        (
            "grow 8",
            "wasm trap: wasm `unreachable` instruction executed",
        ),
    ];
    for (generation, (message, detail)) in (2..).zip(cases) {
        assert_eq!(
            h.call("w", message).await,
            Err(CallError::Crashed(detail.to_string())),
            "{message}"
        );
        let restarted = h
            .wait_event(EventKind::ChildRestarted, "root/w", None)
            .await;
        assert_eq!(restarted.generation, Some(generation), "{message}");
    }
    h.node.shutdown().await;
}
