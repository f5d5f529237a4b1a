//! A guest built against the frozen contract 0.2.1 (`guests/contract_0_2_1`:
//! plain wit-bindgen over `wit/arbor-0.2.1/`, no SDK) runs unchanged on the
//! 0.2.2 host: the host links its `@0.2.1` imports and exports to their
//! `@0.2.2` definitions by semver. It answers, calls a 0.2.2 guest (the
//! probe, built on the SDK) and is called by it, starts a child through
//! 0.2.1's `children.start-child` and sets a timer through its `timers`.

use std::time::Duration;

use arbor::{CallError, ContractVersion, EventKind};

use crate::support::{Harness, root};

async fn start() -> Harness {
    let tree = root("max_restarts = 5\nmax_seconds = 60")
        .worker_of("old", "old", "may_start = [\"pool\"]")
        .worker_of("new", "new", "")
        .supervisor("pool", "dynamic = {}", |s| s);
    Harness::start_with(
        &[
            ("old", arbor_guest_artifacts::CONTRACT_0_2_1),
            ("new", arbor_guest_artifacts::PROBE),
        ],
        tree.text(),
    )
    .await
}

#[test]
fn a_0_2_1_guest_loads_as_the_0_2_contract_family() {
    let loaded = crate::support::load(arbor_guest_artifacts::CONTRACT_0_2_1);
    assert_eq!(loaded.contract(), Some(ContractVersion::V0_2));
}

#[tokio::test]
async fn a_0_2_1_guest_answers_and_calls_a_0_2_2_guest_on_the_0_2_2_host() {
    let h = start().await;
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("old", "call new name").await.unwrap(), "new");
    assert_eq!(h.call("new", "call old ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("old", "nonsense").await,
        Err(CallError::Rejected("unknown message: nonsense".into()))
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_0_2_1_guest_starts_children_and_sets_timers_as_before() {
    let mut h = start().await;
    assert_eq!(
        h.call("old", "spawn pool kid new").await.unwrap(),
        "started kid"
    );
    h.wait_event(EventKind::ChildStarted, "root/pool/kid", None)
        .await;
    assert_eq!(h.call("kid", "ping").await.unwrap(), "pong");
    let timer = h.call("old", "after 10 new note fired").await.unwrap();
    assert!(timer.starts_with("timer "), "{timer}");
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    while h.call("new", "notes").await.unwrap() != "fired" {
        assert!(tokio::time::Instant::now() < deadline, "the timer fired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.node.shutdown().await;
}
