//! Hot swap figures: how long a worker takes no message while it is
//! swapped (from the end of its drain to the commit: snapshot, a fresh
//! instance of the new version, `init`, `restore`), with a small and a
//! 1 MiB state, and how long a whole component takes to swap across 1,000
//! dynamic children.
//!
//! `cargo bench --bench swap` prints one `metric NAME VALUE` line per
//! figure; `-- --quick` runs few iterations, as does any run without `cargo
//! bench`'s `--bench` flag (CI's `cargo test --workspace --benches`), so
//! that the benchmark cannot rot. Never read these as pass/fail thresholds.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::engine::LoadedComponent;
use arbor::{Node, NodeOptions, SwapOptions, TreeSpec, WorkerSpec};
use arbor_guest_artifacts::{PROBE, PROBE_V2};

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.3} {unit} # {what}");
}

async fn start(body: &str) -> Node {
    let text = format!("[components]\nprobe = {PROBE:?}\n\n{body}");
    let tree = TreeSpec::parse(Path::new("bench.toml"), &text).expect("bench tree");
    Node::start(
        &tree,
        NodeOptions {
            threads: 2,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("starts")
}

async fn versions(node: &Node) -> [Arc<LoadedComponent>; 2] {
    let load = |path: &'static str| node.prepare_component("probe", Path::new(path));
    [
        load(PROBE).await.expect("v1"),
        load(PROBE_V2).await.expect("v2"),
    ]
}

const NO_PROBATION: SwapOptions = SwapOptions {
    fresh: false,
    probation: Duration::ZERO,
    drain_timeout: Duration::from_secs(5),
    canary: 0,
    batch: 64,
    dry_run: false,
};

/// One worker swapped back and forth `swaps` times with `pad` bytes of
/// state besides its count.
async fn unavailable(swaps: usize, pad: usize, label: &str) {
    let node = start("[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"w\"\ncomponent = \"probe\"\n").await;
    if pad > 0 {
        node.call("w", format!("pad {pad}").into_bytes())
            .await
            .expect("pad");
    }
    let versions = versions(&node).await;
    let mut unavailable = Vec::with_capacity(swaps);
    let mut wall = Vec::with_capacity(swaps);
    for i in 0..swaps {
        let to = versions[(i + 1) % 2].clone();
        let started = Instant::now();
        let report = node
            .swap_child("w", to, &NO_PROBATION)
            .await
            .expect("the swap goes through");
        wall.push(started.elapsed().as_secs_f64() * 1e6);
        unavailable.push(report.unavailable_us as f64);
    }
    println!("swap, {label} state ({swaps} swaps):");
    println!(
        "  unavailable (drain end -> commit): median {:.0} us, p99 {:.0} us; whole request median {:.0} us",
        percentile(&mut unavailable, 0.5),
        percentile(&mut unavailable, 0.99),
        percentile(&mut wall, 0.5)
    );
    metric(
        &format!("swap_unavailable_{label}_median_us"),
        percentile(&mut unavailable, 0.5),
        "us",
        "a worker takes no message: snapshot + instantiate + init + restore",
    );
    metric(
        &format!("swap_unavailable_{label}_p99_us"),
        percentile(&mut unavailable, 0.99),
        "us",
        "p99 of the above",
    );
    node.shutdown().await;
}

/// A component swapped across `children` dynamic children, `rounds` times.
async fn many(children: usize, rounds: usize) {
    let node = start(&format!(
        "[node]\nmax_instances = {}\n\n[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"pool\"\ndynamic = {{ max_children = {children} }}\n",
        children * 2 + 100
    ))
    .await;
    for i in 0..children {
        node.start_child(
            "pool",
            WorkerSpec::new(format!("w{i}"), "probe".to_string()),
        )
        .await
        .expect("start");
    }
    let versions = versions(&node).await;
    let mut samples = Vec::new();
    for round in 0..rounds {
        let to = versions[(round + 1) % 2].clone();
        let started = Instant::now();
        let report = node
            .swap_component("probe", to, &NO_PROBATION)
            .await
            .expect("the rollout goes through");
        assert_eq!(report.swapped.len(), children);
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let median = percentile(&mut samples, 0.5);
    println!(
        "swap a component across {children} children (batch {}, no probation): median {median:.1} ms ({:.1} us per child)",
        NO_PROBATION.batch,
        median * 1000.0 / children as f64
    );
    metric(
        &format!("swap_component_{children}_ms"),
        median,
        "ms",
        "every child of a component swapped, state handed over",
    );
    node.shutdown().await;
}

fn main() {
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let scale = |full: usize, short: usize| if quick { short } else { full };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        unavailable(scale(2_000, 20), 0, "small").await;
        unavailable(scale(300, 10), 1 << 20, "1mib").await;
        many(1_000, scale(5, 1)).await;
    });
}
