//! The order system of `examples/order-system`, as its tree file has it
//! (only the web address moved to a free port, and the traffic child placed
//! no orders of its own unless a test asks): orders in through real HTTP,
//! services crashed under traffic, every order accounted for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbor::spec::ChildSpec;
use arbor::{EventKind, TreeSpec};
use serde_json::Value;

use crate::support::{Harness, PATIENCE, free_address, request};

/// A fresh database file for one test (removed first if a past run left it).
fn database(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("arbor-orders-{}-{test}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The example's tree, with `web` on `address`, the traffic child at
/// `rate` orders per second, and the store in `data`.
fn order_tree(address: SocketAddr, rate: u32, data: &Path) -> TreeSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order-system/tree.toml");
    let mut tree = TreeSpec::load(&path).expect("the example's tree file is valid");
    tree.data = data.to_path_buf();
    // Room for the orders a test places, not the example's 10,000: tests
    // run side by side, and each pool reserves address space.
    tree.max_instances = Some(1_000);
    for source in tree.components.values() {
        crate::support::warm(source.path.to_str().unwrap());
    }
    for child in &mut tree.root.children {
        if let ChildSpec::Worker(worker) = child {
            match worker.name.as_str() {
                "web" => worker.http = Some(address),
                "traffic" => worker.args = format!(
                    r#"{{"target": "web", "rate_per_s": {rate}, "items": ["widget", "gadget"]}}"#
                )
                .into_bytes(),
                _ => {}
            }
        }
    }
    tree
}

async fn json(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = request(address, method, path, body).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    (status, value)
}

/// Places an order over HTTP; answers its id.
async fn place(address: SocketAddr, item: &str, qty: u32) -> String {
    let body = format!(r#"{{"item": "{item}", "qty": {qty}}}"#);
    let (status, reply) = json(address, "POST", "/orders", &body).await;
    assert_eq!(status, 202, "{reply}");
    reply["id"].as_str().expect("an id").to_string()
}

/// The repository's summary once no order is pending (or fails after
/// `PATIENCE`).
async fn settled(address: SocketAddr) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let (status, summary) = json(address, "GET", "/orders", "").await;
        assert_eq!(status, 200, "{summary}");
        if summary["pending"] == 0 {
            return summary;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "orders still pending: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_of(address: SocketAddr, id: &str) -> String {
    let (code, order) = json(address, "GET", &format!("/orders/{id}"), "").await;
    assert_eq!(code, 200, "{order}");
    order["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_order_placed_over_http_ends_completed_or_failed_and_none_is_charged_twice() {
    let address = free_address();
    let h = Harness::start_tree(order_tree(address, 0, &database("accounted"))).await;
    // 8 clients at once: good orders, out-of-stock ones, declined ones.
    let mut clients = Vec::new();
    for client in 0..8 {
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..25 {
                let (item, qty) = match (client * 25 + i) % 10 {
                    0 => ("rare", 1),      // out of stock
                    1 => ("widget", 1000), // 250,000 cents: declined
                    _ => ("widget", 2),
                };
                ids.push((place(address, item, qty).await, item, qty));
            }
            ids
        }));
    }
    let mut orders = Vec::new();
    for client in clients {
        orders.extend(client.await.unwrap());
    }
    let summary = settled(address).await;
    assert_eq!(summary["total"], 200, "{summary}");
    assert_eq!(summary["completed"], 160, "{summary}");
    assert_eq!(summary["failed"], 40, "{summary}");
    assert_eq!(summary["charged_twice"], 0, "{summary}");
    assert_eq!(summary["charged"], 160, "only completed orders are charged");
    for (id, item, qty) in orders.iter().take(20) {
        let status = status_of(address, id).await;
        match (*item, *qty) {
            ("rare", _) => assert_eq!(status, "failed: out of stock: rare"),
            (_, 1000) => assert!(status.starts_with("failed: declined: "), "{status}"),
            _ => assert_eq!(status, "completed"),
        }
    }
    assert_eq!(
        json(address, "GET", "/orders/o-99999", "").await.0,
        404,
        "an unknown order"
    );
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_failing_processor_is_not_restarted_and_its_order_reports_the_reason() {
    let address = free_address();
    let mut h = Harness::start_tree(order_tree(address, 0, &database("failing"))).await;
    let id = place(address, "rare", 1).await;
    let path = format!("shop/orders/{id}");
    let exit = h
        .wait_event(EventKind::ChildTerminated, &path, Some("error"))
        .await;
    assert_eq!(exit.detail.as_deref(), Some("out of stock: rare"));
    assert_eq!(status_of(address, &id).await, "failed: out of stock: rare");
    let later = h.drain(Duration::from_millis(300)).await;
    assert!(
        !later.iter().any(|e| e.path == path),
        "a temporary processor is not restarted: {later:?}"
    );
    let (_, summary) = json(address, "GET", "/orders", "").await;
    assert_eq!(summary["charged"], 0, "a failed order is not charged");
    h.node.shutdown().await;
}

#[tokio::test]
async fn inventory_crashing_under_traffic_restarts_payment_and_notification_not_the_repository() {
    let address = free_address();
    // The traffic child places 100 orders a second on its timers.
    let mut h = Harness::start_tree(order_tree(address, 100, &database("inventory"))).await;
    let before = settled_count(address).await;
    assert!(h.node.call("inventory", b"crash".to_vec()).await.is_err());
    for path in [
        "shop/services/inventory",
        "shop/services/payment",
        "shop/services/notification",
    ] {
        h.wait_event(EventKind::ChildRestarted, path, None).await;
    }
    // Orders keep completing after the restart.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while settled_count(address).await < before + 50 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "orders stopped completing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Payment crashes too, mid-traffic: retried orders are not charged twice.
    assert!(h.node.call("payment", b"crash".to_vec()).await.is_err());
    h.wait_event(EventKind::ChildRestarted, "shop/services/payment", None)
        .await;
    h.node.call("traffic", b"rate 0".to_vec()).await.unwrap();
    let summary = settled(address).await;
    assert_eq!(summary["charged_twice"], 0, "{summary}");
    assert_eq!(
        summary["completed"].as_u64().unwrap() + summary["failed"].as_u64().unwrap(),
        summary["total"].as_u64().unwrap(),
        "every order ended: {summary}"
    );
    assert!(
        !h.seen
            .iter()
            .any(|e| e.path == "shop/repository" && e.event != EventKind::ChildStarted),
        "the repository is not in the services' rest_for_one: {:?}",
        h.seen
            .iter()
            .filter(|e| e.path == "shop/repository")
            .collect::<Vec<_>>()
    );
    h.node.shutdown().await;
}

/// How many orders have ended so far.
async fn settled_count(address: SocketAddr) -> u64 {
    let (_, summary) = json(address, "GET", "/orders", "").await;
    summary["completed"].as_u64().unwrap() + summary["failed"].as_u64().unwrap()
}

#[tokio::test]
async fn orders_survive_a_repository_crash_and_a_new_host_and_a_charged_order_is_not_charged_again()
{
    let address = free_address();
    let data = database("durable");
    let mut h = Harness::start_tree(order_tree(address, 0, &data)).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(place(address, "widget", 1).await);
    }
    let before = settled(address).await;
    assert_eq!(before["completed"], 20, "{before}");

    // The repository crashes: its restart reads every order back.
    assert!(
        h.node
            .call("repository", br#"{"op": "crash"}"#.to_vec())
            .await
            .is_err()
    );
    h.wait_event(EventKind::ChildRestarted, "shop/repository", None)
        .await;
    let (_, after) = json(address, "GET", "/orders", "").await;
    assert_eq!(after, before, "the orders are the same after the crash");
    assert_eq!(status_of(address, &ids[3]).await, "completed");
    h.node.shutdown().await;

    // As if the host was killed after charging an order and before its
    // processor marked it completed: pending, charged once.
    let store = arbor::keyvalue::KvStore::new(&data);
    let order = r#"{"id": "o-900", "item": "widget", "qty": 1, "status": "pending", "charges": 1, "charged_cents": 250}"#;
    store
        .set("orders", "order/o-900", order.as_bytes().to_vec())
        .await
        .unwrap();
    drop(store);

    // A new host on the same store: the 20 orders are there, and the
    // pending one is processed again without a second charge.
    let address = free_address();
    let h = Harness::start_tree(order_tree(address, 0, &data)).await;
    assert_eq!(status_of(address, &ids[0]).await, "completed");
    let summary = settled(address).await;
    assert_eq!(summary["total"], 21, "{summary}");
    assert_eq!(
        summary["completed"], 21,
        "the pending order was recovered: {summary}"
    );
    assert_eq!(summary["charged_twice"], 0, "{summary}");
    let (_, recovered) = json(address, "GET", "/orders/o-900", "").await;
    assert_eq!(recovered["charges"], 1, "{recovered}");
    // Inventory's reservations are in the store too: the 20 orders of the
    // first host and the recovered one.
    let stock = h
        .node
        .call("inventory", br#"{"op": "stock"}"#.to_vec())
        .await
        .unwrap();
    let stock: Value = serde_json::from_slice(&stock).unwrap();
    assert_eq!(stock["widget"], 1_000_000 - 21, "{stock}");
    // New ids go on from the store's counter, not from 1.
    assert_eq!(place(address, "widget", 1).await, "o-21");
    h.node.shutdown().await;
}
