//! The chaos soak (`just soak`; README "Chaos soak"): a tree of hundreds of
//! children in nested supervisors of every strategy, under steady call
//! traffic, while crashes, endless loops, memory bombs and kills are
//! injected at random. It reports calls sent, replies, error replies,
//! hangs (a call not answered, even with an error, 5 s past its own
//! timeout: must be 0), restarts, and the host's RSS: after the first
//! tenth of the run (every pool slot touched by then) and at the end,
//! which must stay within [`RSS_GROWTH_BOUND`] of it however many
//! restarts came between.
//!
//! `cargo bench --bench soak` runs until 100,000 restarts (or
//! `--seconds N`, default 600, whichever comes first); run any other way
//! (`cargo test --benches`, as CI does) it runs 3 seconds, so it cannot
//! rot. It is not a unit test: it prints figures, and fails only on a
//! hang or on RSS past the bound.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::{EventKind, EventSink, Node, NodeOptions, TreeSpec};

/// Supervisors under the root, and workers under each.
const SUPERVISORS: usize = 8;
const WORKERS: usize = 40;
/// Concurrent callers.
const CALLERS: usize = 16;
/// How long a worker may run one message, and a call wait for its reply.
const CALLBACK_MS: u64 = 100;
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// A call with no answer this long after its timeout is a hang.
const HANG: Duration = Duration::from_secs(5);
/// How far RSS may grow from the first tenth of the run to its end.
const RSS_GROWTH_BOUND: u64 = 64 << 20;

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.0} {unit} # {what}");
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A small xorshift: the soak's choices, not security.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn worker_name(s: usize, w: usize) -> String {
    format!("w{s}_{w}")
}

/// The tree: a root that never gives up over supervisors of each
/// strategy (which may give up, and are restarted by the root).
fn tree() -> TreeSpec {
    let strategies = ["one_for_one", "one_for_all", "rest_for_one", "one_for_one"];
    let mut text = format!(
        "[components]\nprobe = {:?}\n\n[supervisor]\nname = \"root\"\nmax_restarts = 1000000\nmax_seconds = 1\n",
        arbor_guest_artifacts::PROBE
    );
    for s in 0..SUPERVISORS {
        text.push_str(&format!(
            "\n[[supervisor.children]]\nname = \"s{s}\"\nstrategy = \"{}\"\nmax_restarts = 500\nmax_seconds = 1\n",
            strategies[s % strategies.len()]
        ));
        for w in 0..WORKERS {
            text.push_str(&format!(
                "\n[[supervisor.children.children]]\nname = \"{}\"\ncomponent = \"probe\"\ntimeout_ms = {CALLBACK_MS}\nmax_memory_mb = 8\n",
                worker_name(s, w)
            ));
        }
    }
    TreeSpec::parse(Path::new("soak.toml"), &text).expect("the soak tree")
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    replies: AtomicU64,
    errors: AtomicU64,
    hangs: AtomicU64,
    injected: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 3 } else { 600 });
    let target_restarts: u64 = if quick { u64::MAX } else { 100_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(Duration::from_secs(seconds), target_restarts));
}

async fn soak(limit: Duration, target_restarts: u64) {
    let events = EventSink::new();
    let mut stream = events.subscribe();
    let node = Node::start(
        &tree(),
        NodeOptions {
            events,
            threads: 2,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("the soak tree starts");
    let restarts = Arc::new(AtomicU64::new(0));
    let counter = {
        let restarts = restarts.clone();
        tokio::spawn(async move {
            while let Some(event) = stream.recv().await {
                if event.event == EventKind::ChildRestarted {
                    restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let names: Arc<Vec<String>> = Arc::new(
        (0..SUPERVISORS)
            .flat_map(|s| (0..WORKERS).map(move |w| worker_name(s, w)))
            .collect(),
    );
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let rss_start = rss();

    let mut tasks = Vec::new();
    for c in 0..CALLERS {
        let (node, names, tally, done) =
            (node.handle(), names.clone(), tally.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1));
            while !done.load(Ordering::Relaxed) {
                let name = &names[dice.roll(names.len())];
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let call = node.call_with_timeout(name, b"count".to_vec(), CALL_TIMEOUT);
                match tokio::time::timeout(CALL_TIMEOUT + HANG, call).await {
                    Ok(Ok(_)) => tally.replies.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(_)) => tally.errors.fetch_add(1, Ordering::Relaxed),
                    Err(_) => tally.hangs.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let injector = {
        let (node, names, tally, done) =
            (node.handle(), names.clone(), tally.clone(), done.clone());
        tokio::spawn(async move {
            let mut dice = Dice(0x2545_f491_4f6c_dd1d);
            while !done.load(Ordering::Relaxed) {
                let name = &names[dice.roll(names.len())];
                let fault: &[u8] = match dice.roll(10) {
                    0 => b"loop",
                    1 => b"grow 16",
                    2 => {
                        // A kill: stop it and start it again by command.
                        let supervisor = format!("s{}", &name[1..name.find('_').unwrap()]);
                        let _ = node.terminate_child(&supervisor, name).await;
                        let _ = node.restart_child(&supervisor, name).await;
                        tally.injected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    _ => b"crash",
                };
                if node.cast(name, fault.to_vec()).is_ok() {
                    tally.injected.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };

    let mut rss_warm = None;
    while started.elapsed() < limit && restarts.load(Ordering::Relaxed) < target_restarts {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if rss_warm.is_none() && started.elapsed() >= limit.min(Duration::from_secs(60)) / 10 {
            rss_warm = Some(rss());
        }
    }
    done.store(true, Ordering::Relaxed);
    injector.await.expect("the injector");
    for task in tasks {
        task.await.expect("a caller");
    }
    // Let the last restarts finish and the dead instances go.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = rss();
    let rss_warm = rss_warm.unwrap_or(rss_start);
    node.shutdown().await;
    counter.abort();

    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let restarts = load(&restarts);
    metric("soak_seconds", elapsed, "s", "how long the chaos ran");
    metric(
        "soak_children",
        (SUPERVISORS * WORKERS) as f64,
        "",
        "workers in 8 supervisors of every strategy",
    );
    metric(
        "soak_calls_sent",
        load(&tally.sent) as f64,
        "",
        "calls from 16 concurrent callers",
    );
    metric(
        "soak_replies",
        load(&tally.replies) as f64,
        "",
        "calls answered by the guest",
    );
    metric(
        "soak_error_replies",
        load(&tally.errors) as f64,
        "",
        "calls answered with an error (crashed, timeout, stopped, mailbox full)",
    );
    metric(
        "soak_hangs",
        load(&tally.hangs) as f64,
        "",
        "calls not answered 5 s past their timeout (must be 0)",
    );
    metric(
        "soak_faults_injected",
        load(&tally.injected) as f64,
        "",
        "crashes, loops, memory bombs and kills",
    );
    metric(
        "soak_restarts",
        restarts as f64,
        "",
        "child_restarted events",
    );
    metric(
        "soak_rss_start_mib",
        (rss_start >> 20) as f64,
        "MiB",
        "RSS once the tree ran",
    );
    metric(
        "soak_rss_warm_mib",
        (rss_warm >> 20) as f64,
        "MiB",
        "RSS after the first tenth of the run",
    );
    metric(
        "soak_rss_end_mib",
        (rss_end >> 20) as f64,
        "MiB",
        "RSS at the end",
    );
    assert_eq!(load(&tally.hangs), 0, "every call was answered");
    assert!(load(&tally.replies) > 0, "calls got through the chaos");
    assert!(
        rss_end <= rss_warm + RSS_GROWTH_BOUND,
        "RSS grew from {} to {} MiB over {restarts} restarts",
        rss_warm >> 20,
        rss_end >> 20
    );
}
