//! Instances come from a pool sized from the tree: a child past its memory
//! limit or its stack crashes and restarts fresh, a full pool refuses a new
//! child with an error naming the setting, and the host keeps serving.

use arbor::{EventKind, WorkerSpec};

use crate::support::{Harness, TreeText, root};

// A small pool: the default for an unbounded dynamic supervisor (10,000
// slots, ~20,000 memory mappings) would crowd the kernel's mapping limit
// when many tests run at once.
fn tree(max_instances: u32) -> TreeText {
    root("")
        .node(&format!("max_instances = {max_instances}"))
        .worker("small", "max_memory_mb = 4")
        .supervisor("pool", "dynamic = {}", |s| s)
}

#[tokio::test]
async fn a_guest_growing_past_its_memory_limit_crashes_and_restarts_with_fresh_memory() {
    let mut h = Harness::start(tree(64).text()).await;
    assert_eq!(h.call("small", "grow 1").await.unwrap(), "1");
    let err = h.call("small", "grow 8").await.unwrap_err();
    assert!(err.to_string().contains("crashed"), "{err}");
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/small", None)
        .await;
    assert_eq!(restarted.generation, Some(2));
    // The fresh instance starts from its initial memory: 2 MiB fit again.
    assert_eq!(h.call("small", "grow 2").await.unwrap(), "2");
    h.node.shutdown().await;
}

#[tokio::test]
async fn unbounded_recursion_is_a_crash_and_the_child_restarts() {
    let mut h = Harness::start(tree(64).text()).await;
    let err = h.call("small", "overflow").await.unwrap_err();
    // A Rust guest keeps its frames' buffers on a stack in linear memory, so
    // running off its end is an out-of-bounds trap before the wasm stack fills.
    assert!(err.to_string().contains("crashed"), "{err}");
    assert!(err.to_string().contains("wasm trap"), "{err}");
    h.wait_event(EventKind::ChildRestarted, "root/small", None)
        .await;
    assert_eq!(h.call("small", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_full_instance_pool_refuses_a_child_by_naming_max_instances_and_the_host_keeps_serving() {
    let h = Harness::start(tree(3).text()).await;
    let mut started = 0;
    let refusal = loop {
        match h
            .node
            .start_child("pool", WorkerSpec::new(format!("d{started}"), "probe"))
            .await
        {
            Ok(_) => started += 1,
            Err(e) => break e,
        }
        assert!(
            started <= 3,
            "the pool holds 3 instances, {started} started"
        );
    };
    assert_eq!(started, 2, "the static child holds the third slot");
    assert!(
        refusal.to_string().contains("[node] max_instances"),
        "{refusal}"
    );
    assert_eq!(h.call("d0", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("small", "ping").await.unwrap(), "pong");
    let usage = h.node.instances().expect("a pool");
    assert_eq!((usage.live, usage.capacity), (3, 3));
    // A slot freed by a stopped child is used again.
    h.node.terminate_child("pool", "d1").await.unwrap();
    // The stopped instance is dropped right after its exit is reported.
    let freed = tokio::time::timeout(crate::support::PATIENCE, async {
        while h.node.instances().unwrap().live != 2 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "{:?}", h.node.instances());
    h.node
        .start_child("pool", WorkerSpec::new("again", "probe"))
        .await
        .unwrap();
    assert_eq!(h.call("again", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_dynamic_child_asking_more_memory_than_the_slots_hold_is_refused() {
    let h = Harness::start(tree(64).text()).await;
    let mut spec = WorkerSpec::new("big", "probe");
    spec.max_memory_bytes = 1 << 30;
    let err = h.node.start_child("pool", spec).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("max_memory_mb 1024 is above the 64 MiB memory slots"),
        "{err}"
    );
    assert_eq!(h.call("small", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}
