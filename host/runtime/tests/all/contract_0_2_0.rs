//! A guest built against the frozen contract 0.2.0 (`guests/contract_0_2_0`:
//! plain wit-bindgen over `wit/arbor-0.2.0/`, no SDK) runs unchanged on the
//! 0.2.2 host: the host links its `@0.2.0` imports and exports to their
//! `@0.2.2` definitions by semver. It starts, answers, calls a 0.2.2 guest
//! (the probe, built on the SDK) and is called by it, and a crash restarts
//! it with fresh state, as for any guest.

use arbor::{CallError, ContractVersion, EventKind};

use crate::support::{Harness, root};

async fn start() -> Harness {
    let tree = root("max_restarts = 5\nmax_seconds = 60")
        .worker_of("old", "old", "")
        .worker_of("new", "new", "");
    Harness::start_with(
        &[
            ("old", arbor_guest_artifacts::CONTRACT_0_2_0),
            ("new", arbor_guest_artifacts::PROBE),
        ],
        tree.text(),
    )
    .await
}

#[test]
fn a_0_2_0_guest_loads_as_the_0_2_contract_family() {
    let loaded = crate::support::load(arbor_guest_artifacts::CONTRACT_0_2_0);
    assert_eq!(loaded.contract(), Some(ContractVersion::V0_2));
}

#[tokio::test]
async fn a_0_2_0_guest_starts_and_answers_on_the_0_2_2_host() {
    let h = start().await;
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("old", "nonsense").await,
        Err(CallError::Rejected("unknown message: nonsense".into())),
        "its err is a reply"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_0_2_0_guest_and_a_0_2_2_guest_call_each_other() {
    let h = start().await;
    assert_eq!(h.call("old", "call new name").await.unwrap(), "new");
    assert_eq!(h.call("new", "call old ping").await.unwrap(), "pong");
    // Errors cross the versions in the 0.2.0 guest's own words: its
    // contract's `call-error`, here `no-such-name`.
    let missing = h.call("old", "call ghost ping").await.unwrap_err();
    assert!(
        matches!(&missing, CallError::Rejected(text) if text.contains("NoSuchName")),
        "{missing:?}"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_crashed_0_2_0_guest_restarts_with_fresh_state() {
    let mut h = start().await;
    assert_eq!(h.call("old", "count").await.unwrap(), "1");
    assert_eq!(h.call("old", "count").await.unwrap(), "2");
    match h.call("old", "crash").await {
        Err(CallError::Crashed(detail)) => assert!(detail.contains("wasm trap"), "{detail}"),
        other => panic!("a crash must trap, got {other:?}"),
    }
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/old", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    assert_eq!(
        h.call("old", "count").await.unwrap(),
        "1",
        "a fresh instance"
    );
    assert_eq!(h.call("new", "call old ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
