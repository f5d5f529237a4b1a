//! A guest built against the frozen contract 0.2.2 (`guests/contract_0_2_2`:
//! plain wit-bindgen over `wit/arbor-0.2.2/`, no SDK) runs unchanged on the
//! 0.2.3 host: the host links its `@0.2.2` imports and exports to their
//! `@0.2.3` definitions by semver. It answers, calls a 0.2.3 guest (the
//! probe, built on the SDK) and is called by it, and starts a child with
//! grants through 0.2.2's `children.start-child-with-grants`. Its panics
//! are the traps they always were: without `host.crash` (new in 0.2.3) a
//! panic aborts, and the crash is wasmtime's "wasm trap: ...".

use arbor::{CallError, ContractVersion, EventKind};

use crate::support::{Harness, root};

async fn start() -> Harness {
    let tree = root("max_restarts = 5\nmax_seconds = 60")
        .worker_of("old", "old", "may_start = [\"pool\"]")
        .worker_of("new", "new", "")
        .supervisor(
            "pool",
            "dynamic = {}\nchild_grants = { env = [\"ORDER\"] }",
            |s| s,
        );
    Harness::start_with(
        &[
            ("old", arbor_guest_artifacts::CONTRACT_0_2_2),
            ("new", arbor_guest_artifacts::PROBE),
            ("g", arbor_guest_artifacts::GRANTS_PROBE),
        ],
        tree.text(),
    )
    .await
}

#[test]
fn a_0_2_2_guest_loads_as_the_0_2_contract_family() {
    let loaded = crate::support::load(arbor_guest_artifacts::CONTRACT_0_2_2);
    assert_eq!(loaded.contract(), Some(ContractVersion::V0_2));
}

#[tokio::test]
async fn a_0_2_2_guest_answers_calls_and_starts_a_granted_child_on_the_0_2_3_host() {
    let mut h = start().await;
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("old", "call new name").await.unwrap(), "new");
    assert_eq!(h.call("new", "call old ping").await.unwrap(), "pong");
    assert_eq!(
        h.call("old", "spawn pool kid g ORDER=17").await.unwrap(),
        "started kid"
    );
    h.wait_event(EventKind::ChildStarted, "root/pool/kid", None)
        .await;
    assert_eq!(h.call("kid", "env ORDER").await.unwrap(), "17");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_panic_in_a_0_2_2_guest_is_still_a_trap() {
    let mut h = start().await;
    assert_eq!(
        h.call("old", "crash").await,
        Err(CallError::Crashed(
            "wasm trap: wasm `unreachable` instruction executed".into()
        ))
    );
    h.wait_event(EventKind::ChildRestarted, "root/old", None)
        .await;
    assert_eq!(h.call("old", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
