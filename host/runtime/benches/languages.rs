//! Per-language figures for the probe guest: component size, first compile,
//! cached load, restart latency and `handle` rate.
//!
//! `cargo bench --bench languages` prints a markdown table;
//! `-- --quick` runs few iterations, as does any run without `cargo bench`'s
//! `--bench` flag (CI's `cargo test --workspace --benches`, so it cannot rot).
//! Figures are medians unless marked; compare them within one run, never
//! against a fixed threshold: this machine is shared and noisy.
//! `ARBOR_BENCH_LANGUAGES=Python,JavaScript` runs only those rows (to
//! profile one language's restarts under `perf record`).

use std::path::Path;
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::{Allocation, ArborEngine, EventKind, EventSink, Node, NodeOptions, TreeSpec};

struct Figures {
    language: &'static str,
    size_mb: f64,
    first_compile: Duration,
    cached_load: Duration,
    restart_median: Duration,
    restart_p99: Duration,
    handles_per_sec: f64,
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn compile_figures(path: &str, loads: usize) -> (Duration, Duration) {
    let uncached = ArborEngine::with_options(None, Allocation::OnDemand).expect("engine");
    let started = Instant::now();
    uncached.load("bench", Path::new(path)).expect("compiles");
    let first_compile = started.elapsed();

    let dir = std::env::temp_dir().join(format!("arbor-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cached = ArborEngine::with_options(Some(CompileCache::new(&dir)), Allocation::OnDemand)
        .expect("engine");
    cached
        .load("bench", Path::new(path))
        .expect("fills the cache");
    let mut samples: Vec<Duration> = (0..loads)
        .map(|_| {
            let started = Instant::now();
            cached.load("bench", Path::new(path)).expect("loads");
            started.elapsed()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (first_compile, median(&mut samples))
}

async fn runtime_figures(path: &str, restarts: usize, calls: usize) -> (Duration, Duration, f64) {
    let text = format!(
        "[components]\nprobe = {path:?}\n\n[supervisor]\nname = \"root\"\nmax_restarts = 1000000\nmax_seconds = 1\n\n\
         [[supervisor.children]]\nname = \"p\"\ncomponent = \"probe\"\n"
    );
    let tree = TreeSpec::parse(Path::new("bench.toml"), &text).expect("bench tree");
    let sink = EventSink::new();
    let mut events = sink.subscribe();
    let node = Node::start(
        &tree,
        NodeOptions {
            events: sink,
            threads: 1,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("starts");
    while events.try_recv().is_ok() {}

    // Timed from a task on the child's thread, as the runtime bench does.
    let (restart_median, restart_p99, handles_per_sec) = node
        .spawn_near("root", move |node| async move {
            // Restart latency: the crash is sent, the fresh instance's init is done.
            let mut samples = Vec::with_capacity(restarts);
            for _ in 0..restarts {
                let started = Instant::now();
                let _ = node.call("p", b"crash".to_vec()).await;
                loop {
                    let event = events.recv().await.expect("events");
                    if event.event == EventKind::ChildRestarted {
                        break;
                    }
                }
                samples.push(started.elapsed());
            }
            let restart_median = median(&mut samples);
            let restart_p99 = percentile(&mut samples, 0.99);

            let started = Instant::now();
            for _ in 0..calls {
                node.call("p", b"ping".to_vec()).await.expect("pong");
            }
            let handles_per_sec = calls as f64 / started.elapsed().as_secs_f64();
            (restart_median, restart_p99, handles_per_sec)
        })
        .expect("root runs")
        .await
        .expect("bench task");
    node.shutdown().await;
    (restart_median, restart_p99, handles_per_sec)
}

fn main() {
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let (loads, restarts, calls) = if quick {
        (3, 20, 200)
    } else {
        (11, 1000, 20_000)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let languages = [
        ("Rust", arbor_guest_artifacts::PROBE),
        ("Python", arbor_guest_artifacts::PYTHON_PROBE),
        ("JavaScript", arbor_guest_artifacts::JS_PROBE),
        ("C", arbor_guest_artifacts::C_PROBE),
        ("Go", arbor_guest_artifacts::GO_PROBE),
    ];
    let only = std::env::var("ARBOR_BENCH_LANGUAGES").ok();
    let wanted = |language: &str| {
        only.as_deref().is_none_or(|list| {
            list.split(',')
                .any(|l| l.trim().eq_ignore_ascii_case(language))
        })
    };
    let mut rows = Vec::new();
    for (language, path) in languages.into_iter().filter(|(l, _)| wanted(l)) {
        eprintln!("bench: {language} ...");
        let size_mb = std::fs::metadata(path).expect("built").len() as f64 / (1 << 20) as f64;
        let (first_compile, cached_load) = compile_figures(path, loads);
        let (restart_median, restart_p99, handles_per_sec) =
            runtime.block_on(runtime_figures(path, restarts, calls));
        rows.push(Figures {
            language,
            size_mb,
            first_compile,
            cached_load,
            restart_median,
            restart_p99,
            handles_per_sec,
        });
    }
    let mode = if quick { "quick" } else { "full" };
    println!("\nProbe guest per language ({mode} run):\n");
    println!(
        "| language | component | first compile | cached load | restart (median / p99) | handle rate (Rust caller on the child's thread) |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} MB | {:.2} s | {:.2} ms | {:.0} us / {:.0} us | {:.0} calls/s |",
            r.language,
            r.size_mb,
            r.first_compile.as_secs_f64(),
            r.cached_load.as_secs_f64() * 1000.0,
            r.restart_median.as_secs_f64() * 1e6,
            r.restart_p99.as_secs_f64() * 1e6,
            r.handles_per_sec,
        );
    }
    // The restarts again as metric lines, for bench/compare.py to set
    // beside OTP's restart.
    for r in &rows {
        println!(
            "metric restart_{}_us {:.1} us # restart of the {} probe, crash sent -> restart seen (median)",
            r.language.to_lowercase(),
            r.restart_median.as_secs_f64() * 1e6,
            r.language,
        );
    }
}
