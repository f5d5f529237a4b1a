//! The order system under load: 10,000 orders through real HTTP, each its
//! own dynamic processor (`examples/order-system`, its tree file as it is
//! but for the web address and a silent traffic child).
//!
//! 32 clients over loopback, each placing an order (`POST /orders`) and
//! waiting until it is done before placing the next, so 32 orders are in
//! flight at any time: the figures are the system's capacity and the
//! latency at that load, not a backlog's. An order is done when its
//! processor exits normally (its `child_terminated` event). Prints orders/s
//! (first POST to last completion), the p50/p99 latency from a POST's start
//! to its order's completion, and the host's peak RSS (`VmHWM`: the host
//! runs in this process).
//!
//! `cargo bench --bench orders` runs 10,000 orders; `-- --quick`, or any run
//! without `cargo bench`'s `--bench` flag (CI's `cargo test --workspace
//! --benches`), runs 300 so the benchmark cannot rot. Never read these as
//! pass/fail thresholds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::spec::ChildSpec;
use arbor::{EventKind, EventSink, ExitReason, Node, NodeOptions, TreeSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Requests in flight at once.
const CLIENTS: usize = 32;

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.3} {unit} # {what}");
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

/// The host's peak resident memory, from `/proc/self/status`.
fn peak_rss_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("VmHWM");
    kb * 1024.0
}

/// Completions seen, and the clients waiting for theirs: an order may
/// complete before its client has read the id from the answer.
#[derive(Default)]
struct Finish {
    done: HashMap<String, Instant>,
    waiting: HashMap<String, oneshot::Sender<Instant>>,
}

impl Finish {
    fn done(&mut self, id: &str, at: Instant) {
        match self.waiting.remove(id) {
            Some(waiter) => {
                let _ = waiter.send(at);
            }
            None => {
                self.done.insert(id.to_string(), at);
            }
        }
    }

    fn wait(&mut self, id: String) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        match self.done.remove(&id) {
            Some(at) => {
                let _ = tx.send(at);
            }
            None => {
                self.waiting.insert(id, tx);
            }
        }
        rx
    }
}

fn order_tree(address: SocketAddr) -> TreeSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order-system/tree.toml");
    let mut tree = TreeSpec::load(&path).expect("the example's tree file");
    // A fresh store for each run, durable as the example's tree file says.
    let data = std::env::temp_dir().join(format!("arbor-orders-bench-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", data.display()));
    }
    tree.data = data;
    for child in &mut tree.root.children {
        if let ChildSpec::Worker(worker) = child {
            match worker.name.as_str() {
                "web" => worker.http = Some(address),
                "traffic" => worker.args = br#"{"rate_per_s": 0}"#.to_vec(),
                _ => {}
            }
        }
    }
    tree
}

/// POSTs one order (HTTP/1.0: the answer ends with the connection) and
/// returns its id.
async fn place(address: SocketAddr) -> String {
    let body = r#"{"item": "widget", "qty": 1}"#;
    let head = format!(
        "POST /orders HTTP/1.0\r\nHost: bench\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    let (status, json) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(
        status.starts_with("HTTP/1.1 202") || status.starts_with("HTTP/1.0 202"),
        "{answer}"
    );
    let json: serde_json::Value = serde_json::from_str(json).expect("JSON");
    json["id"].as_str().expect("an id").to_string()
}

async fn run(orders: usize) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let node = Node::start(
        &order_tree(address),
        NodeOptions {
            events: sink,
            threads: 2,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("the order system starts");

    // When each order's processor exited normally, and who waits for it.
    let finish: Arc<Mutex<Finish>> = Arc::default();
    let watcher = {
        let finish = finish.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if event.event == EventKind::ChildTerminated
                    && event.reason == Some(ExitReason::Normal)
                    && let Some(id) = event.path.strip_prefix("shop/orders/")
                {
                    finish.lock().unwrap().done(id, Instant::now());
                }
            }
        })
    };

    let next = Arc::new(AtomicUsize::new(0));
    let first = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (finish, next) = (finish.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < orders {
                let at = Instant::now();
                let id = place(address).await;
                let done = finish.lock().unwrap().wait(id);
                let done = tokio::time::timeout(Duration::from_secs(60), done)
                    .await
                    .expect("the order completes")
                    .expect("the watcher runs");
                latencies.push((done - at).as_secs_f64() * 1e3);
            }
            (latencies, Instant::now())
        }));
    }
    let mut latencies = Vec::new();
    let mut last = first;
    for client in clients {
        let (mine, ended) = client.await.expect("a client");
        latencies.extend(mine);
        last = last.max(ended);
    }
    let elapsed = (last - first).as_secs_f64();
    metric(
        "orders_per_s",
        orders as f64 / elapsed,
        "orders/s",
        &format!("{orders} orders over HTTP, {CLIENTS} in flight, each its own processor"),
    );
    metric(
        "order_latency_p50_ms",
        percentile(&mut latencies, 0.5),
        "ms",
        "POST start to the processor's normal exit",
    );
    metric(
        "order_latency_p99_ms",
        percentile(&mut latencies, 0.99),
        "ms",
        "POST start to the processor's normal exit",
    );
    metric(
        "orders_peak_rss_mb",
        peak_rss_bytes() / (1 << 20) as f64,
        "MiB",
        "the host's peak RSS (VmHWM) over the run",
    );
    node.shutdown().await;
    watcher.abort();
}

fn main() {
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(if quick { 300 } else { 10_000 }));
}
