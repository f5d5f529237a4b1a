//! Runtime figures to compare with Erlang/OTP (`bench/otp`):
//! restarts, calls, casts, dynamic starts, memory per idle child, cold start.
//!
//! `cargo bench --bench runtime` prints a table and one `metric NAME VALUE`
//! line per figure (read by `bench/compare.py`, which adds the OTP figures
//! and the ratios); `-- --quick` runs few iterations, as does any run without
//! `cargo bench`'s `--bench` flag (CI's `cargo test --workspace --benches`),
//! so that the benchmark cannot rot. Never read these as pass/fail thresholds.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::{
    Allocation, EventKind, EventSink, Node, NodeHandle, NodeOptions, SpinPolicy, TreeSpec,
    WorkerSpec,
};
use tokio::sync::mpsc::UnboundedReceiver;

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.3} {unit} # {what}");
}

fn tree(body: &str) -> TreeSpec {
    let text = format!(
        "[components]\nprobe = {:?}\n\n{body}",
        arbor_guest_artifacts::PROBE
    );
    TreeSpec::parse(Path::new("bench.toml"), &text).expect("bench tree")
}

async fn start(body: &str) -> (Node, UnboundedReceiver<arbor::Event>) {
    start_with(body, None).await
}

async fn start_with(
    body: &str,
    allocation: Option<Allocation>,
) -> (Node, UnboundedReceiver<arbor::Event>) {
    start_with_sink(body, allocation, EventSink::new()).await
}

async fn start_with_sink(
    body: &str,
    allocation: Option<Allocation>,
    sink: EventSink,
) -> (Node, UnboundedReceiver<arbor::Event>) {
    let events = sink.subscribe();
    let node = Node::start(
        &tree(body),
        NodeOptions {
            events: sink,
            threads: 2,
            allocation,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("starts");
    (node, events)
}

fn workers(n: usize) -> String {
    (0..n)
        .map(|i| format!("\n[[supervisor.children]]\nname = \"w{i}\"\ncomponent = \"probe\"\n"))
        .collect()
}

const ROOT: &str = "[supervisor]\nname = \"root\"\nmax_restarts = 100000000\nmax_seconds = 1\n";

/// Waits for `count` events of `kind`; returns the last one's timestamp.
async fn wait_events(
    events: &mut UnboundedReceiver<arbor::Event>,
    kind: EventKind,
    count: usize,
) -> (u64, u64) {
    let mut first_terminated = None;
    let mut seen = 0;
    loop {
        let event = events.recv().await.expect("events");
        if event.event == EventKind::ChildTerminated && first_terminated.is_none() {
            first_terminated = Some(event.t_us);
        }
        if event.event == kind {
            seen += 1;
            if seen == count {
                return (first_terminated.unwrap_or(event.t_us), event.t_us);
            }
        }
    }
}

/// How a restart run is set up.
#[derive(Clone, Copy, PartialEq)]
enum RestartSetup {
    Default,
    OnDemand,
    /// Events also written as JSON lines, as `arbor run --events FILE` does.
    EventWriter,
    /// `[node] fast_traps = true`.
    FastTraps,
    /// Events written as JSON lines, one crash every 50 ms: the thread and
    /// the writers idle between two restarts.
    Spaced,
}

async fn restarts(n: usize, setup: RestartSetup) {
    let sink = EventSink::new();
    let (suffix, allocator, allocation) = match setup {
        RestartSetup::Default => ("", "", None),
        RestartSetup::OnDemand => (
            "_on_demand",
            " [on-demand allocator]",
            Some(Allocation::OnDemand),
        ),
        RestartSetup::EventWriter => {
            sink.add_writer(Box::new(std::io::sink()));
            (
                "_event_writer",
                " [events also written as JSON lines]",
                None,
            )
        }
        RestartSetup::FastTraps => ("_fast_traps", " [[node] fast_traps = true]", None),
        RestartSetup::Spaced => {
            sink.add_writer(Box::new(std::io::sink()));
            (
                "_spaced",
                " [events written as JSON lines, one crash every 50 ms]",
                None,
            )
        }
    };
    let pause = if setup == RestartSetup::Spaced {
        Duration::from_millis(50)
    } else {
        Duration::ZERO
    };
    let node_table = if setup == RestartSetup::FastTraps {
        "[node]\nfast_traps = true\n\n"
    } else {
        ""
    };
    let origin = sink.origin();
    let (node, mut events) = start_with_sink(
        &format!("{node_table}{ROOT}{}", workers(1)),
        allocation,
        sink,
    )
    .await;
    // The loop runs on the supervisor's thread, as an Erlang process on the
    // same scheduler would: the figure is the restart, not thread wake-ups.
    let (mut host_side, mut end_to_end, mut from_panic, mut from_crash) = node
        .spawn_near("root", move |node| async move {
            let mut host_side = Vec::with_capacity(n);
            let mut end_to_end = Vec::with_capacity(n);
            // The probe's `crash` is a Rust panic, which the SDK's panic
            // hook reports through `host.crash` (contract 0.2.3): the
            // instance ends in that import, with no trap instruction. Timed
            // as the trap below: cast -> the restart event's stamp.
            let mut from_panic = Vec::with_capacity(n);
            for _ in 0..n {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                let started = Instant::now();
                node.cast("w0", b"crash".to_vec()).expect("cast");
                let (terminated, restarted) =
                    wait_events(&mut events, EventKind::ChildRestarted, 1).await;
                end_to_end.push(started.elapsed().as_secs_f64() * 1e6);
                host_side.push((restarted - terminated) as f64);
                let done = origin + Duration::from_micros(restarted);
                from_panic.push(done.saturating_duration_since(started).as_secs_f64() * 1e6);
            }
            // As the OTP baseline times it: from the moment the child
            // crashes (here a bare `unreachable`, after a cast that costs
            // ~1 us) to the fresh instance's `init` done, trap included.
            // The end is the restart event's stamp, not when this task
            // sees it: freeing the dead instance is queued before this task.
            let mut from_crash = Vec::with_capacity(n);
            for _ in 0..n {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                let started = Instant::now();
                node.cast("w0", b"trap".to_vec()).expect("cast");
                let (_, restarted) = wait_events(&mut events, EventKind::ChildRestarted, 1).await;
                let done = origin + Duration::from_micros(restarted);
                from_crash.push(done.saturating_duration_since(started).as_secs_f64() * 1e6);
            }
            (host_side, end_to_end, from_panic, from_crash)
        })
        .expect("root runs")
        .await
        .expect("bench task");
    metric(
        &format!("restart{suffix}_us"),
        median(&mut host_side),
        "us",
        &format!("one_for_one: exit seen -> fresh instance's init done (median){allocator}"),
    );
    metric(
        &format!("restart{suffix}_p99_us"),
        percentile(&mut host_side, 0.99),
        "us",
        &format!("the same, p99{allocator}"),
    );
    metric(
        &format!("restart{suffix}_from_panic_us"),
        median(&mut from_panic),
        "us",
        &format!(
            "cast a Rust panic (reported through `host.crash`) from Rust -> fresh instance's init done (median){allocator}"
        ),
    );
    metric(
        &format!("restart{suffix}_from_trap_us"),
        median(&mut from_crash),
        "us",
        &format!(
            "cast `unreachable` from Rust -> fresh instance's init done, incl. the trap (median){allocator}"
        ),
    );
    metric(
        &format!("restart{suffix}_e2e_us"),
        median(&mut end_to_end),
        "us",
        &format!("cast a panic from Rust -> restart event seen by the caller (median){allocator}"),
    );
    node.shutdown().await;
}

/// Restarts of one child among `siblings` in a dynamic supervisor: the
/// supervisor's bookkeeping must not grow with its number of children.
async fn restart_among_many(n: usize, siblings: usize) {
    let body = format!(
        "[node]\nmax_instances = {}\n\n[supervisor]\nname = \"root\"\n\n\
         [[supervisor.children]]\nname = \"pool\"\ndynamic = {{}}\n\
         max_restarts = 100000000\nmax_seconds = 1\n",
        siblings + 64
    );
    let (node, mut events) = start(&body).await;
    let mut samples = node
        .spawn_near("pool", move |node| async move {
            for i in 0..siblings {
                node.start_child("pool", WorkerSpec::new(format!("s{i}"), "probe"))
                    .await
                    .expect("start_child");
            }
            while events.try_recv().is_ok() {}
            let target = format!("s{}", siblings / 2);
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                node.cast(&target, b"crash".to_vec()).expect("cast");
                let (terminated, restarted) =
                    wait_events(&mut events, EventKind::ChildRestarted, 1).await;
                samples.push((restarted - terminated) as f64);
            }
            samples
        })
        .expect("pool runs")
        .await
        .expect("bench task");
    metric(
        &format!("restart_among_{siblings}_us"),
        median(&mut samples),
        "us",
        &format!(
            "one child of a dynamic supervisor with {siblings} children: exit seen -> restarted (median)"
        ),
    );
    node.shutdown().await;
}

async fn one_for_all(n: usize) {
    let body = format!(
        "{}{}",
        ROOT.replace(
            "name = \"root\"",
            "name = \"root\"\nstrategy = \"one_for_all\""
        ),
        workers(10)
    );
    let (node, mut events) = start(&body).await;
    let mut samples = node
        .spawn_near("root", move |node| async move {
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                node.cast("w4", b"crash".to_vec()).expect("cast");
                let (terminated, restarted) =
                    wait_events(&mut events, EventKind::ChildRestarted, 10).await;
                samples.push((restarted - terminated) as f64);
            }
            samples
        })
        .expect("root runs")
        .await
        .expect("bench task");
    metric(
        "one_for_all_10_us",
        median(&mut samples),
        "us",
        "one_for_all, 10 children: exit seen -> all 10 restarted (median)",
    );
    node.shutdown().await;
}

/// `n` pings to `w0`, timed; returns round trips per second.
async fn ping_rate(node: &NodeHandle, n: usize) -> f64 {
    for _ in 0..100 {
        node.call("w0", b"ping".to_vec()).await.expect("warm-up");
    }
    let started = Instant::now();
    for _ in 0..n {
        node.call("w0", b"ping".to_vec()).await.expect("pong");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn calls(n: usize) {
    // The casts below all queue before w1 handles one: its mailbox (the
    // last table) makes room for them and the call behind them.
    let (node, _events) = start(&format!(
        "{ROOT}{}mailbox_capacity = {}\n",
        workers(2),
        n + 1
    ))
    .await;
    let near = node
        .spawn_near("root", move |node| async move { ping_rate(&node, n).await })
        .expect("root runs")
        .await
        .expect("bench task");
    metric(
        "call_rust_per_s",
        near,
        "/s",
        "call round trips, Rust task on the worker's thread (Node::spawn_near)",
    );
    metric(
        "call_rust_remote_per_s",
        ping_rate(&node, n).await,
        "/s",
        "call round trips, Rust caller on another thread (caller and scheduler spin before sleeping)",
    );
    // The same with no spinning: each round trip wakes two sleeping threads.
    let unspun = Node::start(
        &tree(&format!("{ROOT}{}", workers(1))),
        NodeOptions {
            threads: 2,
            spin: SpinPolicy::OFF,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("starts");
    metric(
        "call_rust_remote_nospin_per_s",
        ping_rate(&unspun, n / 10).await,
        "/s",
        "the same with spinning off (SpinPolicy::OFF): two thread wake-ups per call",
    );
    unspun.shutdown().await;
    // Guest to guest: both children of one supervisor, on one thread.
    let reply = node
        .call("w0", format!("repeat-call {n} w1 ping").into_bytes())
        .await
        .expect("repeat-call");
    let nanos: f64 = String::from_utf8(reply)
        .expect("utf-8")
        .parse()
        .expect("nanoseconds");
    metric(
        "call_guest_per_s",
        n as f64 / (nanos / 1e9),
        "/s",
        "call round trips guest -> guest on one thread",
    );
    let rate = node
        .spawn_near("root", move |node| async move {
            let started = Instant::now();
            for _ in 0..n {
                node.cast("w1", b"count".to_vec()).expect("cast");
            }
            let reply = node.call("w1", b"count".to_vec()).await.expect("count");
            let elapsed = started.elapsed().as_secs_f64();
            assert!(String::from_utf8(reply).unwrap().parse::<usize>().unwrap() > n);
            n as f64 / elapsed
        })
        .expect("root runs")
        .await
        .expect("bench task");
    metric(
        "cast_per_s",
        rate,
        "/s",
        "casts queued by a Rust task on the worker's thread and handled",
    );
    node.shutdown().await;
}

/// Guest -> guest round trips only, `rounds` times `n` of them, on one
/// thread; each round is one call to `w0`, well within its deadline.
async fn guest_calls(n: usize, rounds: usize) {
    let (node, _events) = start(&format!("{ROOT}{}", workers(2))).await;
    let mut nanos = 0.0;
    for _ in 0..rounds {
        let reply = node
            .call("w0", format!("repeat-call {n} w1 ping").into_bytes())
            .await
            .expect("repeat-call");
        nanos += String::from_utf8(reply)
            .expect("utf-8")
            .parse::<f64>()
            .expect("nanoseconds");
    }
    metric(
        "call_guest_long_per_s",
        (n * rounds) as f64 / (nanos / 1e9),
        "/s",
        "call round trips guest -> guest on one thread, long run",
    );
    node.shutdown().await;
}

/// Call throughput of a host with the observer on (counting every message,
/// its HTTP server listening, no page open) against one without, in
/// alternating rounds so both see the same machine noise.
async fn observed_calls(n: usize, rounds: usize) {
    let start = |observe: bool| async move {
        Node::start(
            &tree(&format!("{ROOT}{}", workers(1))),
            NodeOptions {
                threads: 2,
                observe,
                cache: CompileCache::user_default(|name| std::env::var_os(name)),
                ..NodeOptions::default()
            },
        )
        .await
        .expect("starts")
    };
    let plain = start(false).await;
    let observed = start(true).await;
    let server = arbor::observe::server::ObserveServer::bind("127.0.0.1:0".parse().unwrap(), false)
        .await
        .expect("the observer binds");
    let serving = tokio::spawn(server.serve(observed.handle()));
    let rate = |node: &Node| {
        node.spawn_near("root", move |node| async move { ping_rate(&node, n).await })
            .expect("root runs")
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        off.push(rate(&plain).await.expect("bench task"));
        on.push(rate(&observed).await.expect("bench task"));
    }
    let (off, on) = (median(&mut off), median(&mut on));
    metric(
        "call_observer_off_per_s",
        off,
        "/s",
        "call round trips (spawn_near), observer off (median of rounds)",
    );
    metric(
        "call_observer_on_per_s",
        on,
        "/s",
        "the same with --observe: every message counted, server listening, no page open",
    );
    metric("call_observer_ratio", on / off, "x", "observer on / off");
    serving.abort();
    plain.shutdown().await;
    observed.shutdown().await;
}

/// With `traced`, also prints where a reused slot's start goes
/// ([`PhaseTimes`], whose subscriber must be installed).
async fn start_children(n: usize, allocation: Option<Allocation>, traced: bool) {
    let body =
        "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"pool\"\ndynamic = {}\n";
    let (node, _events) = start_with(body, allocation).await;
    let suffix = if allocation.is_some() {
        "_on_demand"
    } else if traced {
        "_traced"
    } else {
        ""
    };
    let allocator = if allocation.is_some() {
        " [on-demand allocator]"
    } else {
        ""
    };
    let (fresh, recycled) = node
        .spawn_near("pool", move |node| async move {
            let start_all = |round: usize| {
                let node = node.clone();
                async move {
                    let started = Instant::now();
                    for i in 0..n {
                        let mut spec = WorkerSpec::new(format!("c{round}-{i}"), "probe");
                        spec.restart = arbor::RestartType::Temporary;
                        node.start_child("pool", spec).await.expect("start_child");
                    }
                    n as f64 / started.elapsed().as_secs_f64()
                }
            };
            let fresh = start_all(0).await;
            for i in 0..n {
                node.terminate_child("pool", &format!("c0-{i}"))
                    .await
                    .expect("terminate_child");
            }
            // The same number again: now into slots (memory, stack) freed by
            // the first round, as a server with churning children runs.
            let before = PHASES.read();
            let reused = start_all(1).await;
            if traced {
                PHASES.report(before, n, 1e6 / reused);
            }
            (fresh, reused)
        })
        .expect("pool runs")
        .await
        .expect("bench task");
    metric(
        &format!("start_child{suffix}_per_s"),
        fresh,
        "/s",
        &format!(
            "dynamic start_child, sequential, Rust task on the supervisor's thread, fresh slots{allocator}"
        ),
    );
    metric(
        &format!("start_child_reused{suffix}_per_s"),
        recycled,
        "/s",
        &format!("the same into slots freed by stopped children{allocator}"),
    );
    node.shutdown().await;
}

/// Where a start's time goes: the library wraps wasmtime's instantiation
/// (`InstancePre::instantiate_async`) and the guest's `init` in trace spans
/// (`instantiate`, `init`), which this layer times. The rest of a start is
/// Arbor's own work (the store and its host state, the supervisor's
/// bookkeeping, the registry, the worker's task).
struct PhaseTimes {
    instantiate_ns: AtomicU64,
    init_ns: AtomicU64,
}

static PHASES: PhaseTimes = PhaseTimes {
    instantiate_ns: AtomicU64::new(0),
    init_ns: AtomicU64::new(0),
};

/// When a phase's span was created; kept in the span's extensions.
struct PhaseStarted(Instant);

impl PhaseTimes {
    fn install() {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::{Layer, filter};
        let only_phases = filter::filter_fn(|meta| {
            meta.is_span() && matches!(meta.name(), "instantiate" | "init")
        });
        let subscriber = tracing_subscriber::registry().with(PhaseLayer.with_filter(only_phases));
        tracing::subscriber::set_global_default(subscriber).expect("no subscriber yet");
    }

    fn read(&self) -> (u64, u64) {
        (
            self.instantiate_ns.load(Ordering::Relaxed),
            self.init_ns.load(Ordering::Relaxed),
        )
    }

    /// Prints the mean time per start of each phase since `before`, and
    /// what is left of `start_us`, a start's whole time.
    fn report(&self, before: (u64, u64), starts: usize, start_us: f64) {
        let (instantiate, init) = self.read();
        let per_start = |ns: u64| ns as f64 / starts as f64 / 1000.0;
        let (instantiate, init) = (
            per_start(instantiate - before.0),
            per_start(init - before.1),
        );
        metric(
            "start_child_reused_traced_us",
            start_us,
            "us",
            "dynamic start_child into reused slots, per start, with its phases traced (mean)",
        );
        metric(
            "start_child_reused_instantiate_us",
            instantiate,
            "us",
            "of which wasmtime's instantiation (InstancePre::instantiate_async), per start (mean, reused slots)",
        );
        metric(
            "start_child_reused_init_us",
            init,
            "us",
            "of which the guest's init, per start (mean, reused slots)",
        );
        metric(
            "start_child_reused_arbor_us",
            start_us - instantiate - init,
            "us",
            "of which the rest: Arbor's store and host state, supervisor, registry, worker task, and the tracing (mean)",
        );
    }
}

struct PhaseLayer;

impl<S> tracing_subscriber::Layer<S> for PhaseLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(PhaseStarted(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<PhaseStarted>().map(|s| s.0) else {
            return;
        };
        let total = match span.name() {
            "instantiate" => &PHASES.instantiate_ns,
            _ => &PHASES.init_ns,
        };
        total.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

fn rss_bytes() -> f64 {
    status_bytes("VmRSS:")
}

/// A `/proc/self/status` field in bytes (`VmRSS:`, `RssAnon:`, `VmPTE:` ...).
fn status_bytes(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb * 1024.0
}

/// What RSS is made of: anonymous pages (host heap, fiber stacks, the
/// guests' written pages), pages of files and of shared memory (a guest's
/// memory image is a shared mapping of its initial data: a page only read
/// is the image's page, counted once per child mapping it though held once),
/// and the page tables mapping them (not in RSS).
const RSS_PARTS: [(&str, &str); 4] = [
    ("RssAnon:", "anon"),
    ("RssFile:", "file"),
    ("RssShmem:", "shmem"),
    ("VmPTE:", "page_tables"),
];

/// The mappings holding the most resident memory, per child
/// (`ARBOR_BENCH_SMAPS=1`): which of the host heap, the fiber stacks, the
/// linear memories and the memory images the children's pages are in.
fn print_largest_mappings(children: usize) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("procfs");
    let mut maps: Vec<(f64, f64, String)> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let mut range = first.split('-');
            let start = u64::from_str_radix(range.next().unwrap_or("0"), 16).unwrap_or(0);
            let end = u64::from_str_radix(range.next().unwrap_or("0"), 16).unwrap_or(0);
            let name = line
                .split_whitespace()
                .nth(5)
                .unwrap_or("[anon]")
                .to_string();
            maps.push((0.0, (end - start) as f64, name));
        } else if first == "Rss:"
            && let Some(last) = maps.last_mut()
        {
            last.0 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0) * 1024.0;
        }
    }
    // Mappings of one name and size together: each linear memory slot is a
    // mapping of its own (or two, where its image is mapped).
    let mut groups: std::collections::BTreeMap<(String, u64), (f64, usize)> = Default::default();
    for (rss, size, name) in maps {
        let group = groups.entry((name, (size / 4096.0) as u64)).or_default();
        group.0 += rss;
        group.1 += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    for ((name, pages), (rss, count)) in groups.iter().take(12) {
        eprintln!(
            "bench: {count} mappings {name} of {pages} pages: {:.0} B resident per child",
            rss / children as f64
        );
    }
}

fn rss_parts() -> [f64; 4] {
    RSS_PARTS.map(|(field, _)| status_bytes(field))
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Raises `vm.max_map_count` to at least `wanted` for this run when
/// allowed (root); returns the value to put back.
fn raise_max_map_count(wanted: usize) -> Option<String> {
    const SYSCTL: &str = "/proc/sys/vm/max_map_count";
    let current = std::fs::read_to_string(SYSCTL).ok()?;
    if current.trim().parse::<usize>().ok()? >= wanted {
        return None;
    }
    match std::fs::write(SYSCTL, wanted.to_string()) {
        Ok(()) => {
            eprintln!(
                "bench: vm.max_map_count {} -> {wanted} for this run",
                current.trim()
            );
            Some(current)
        }
        Err(e) => {
            eprintln!(
                "bench: cannot raise vm.max_map_count ({e}); the run stops at the kernel's limit"
            );
            None
        }
    }
}

/// Returns the `vm.max_map_count` to put back once the process is done
/// with the pool ([`raise_max_map_count`]).
async fn memory(n: usize) -> Option<String> {
    // Room for n children (the default pool holds 10,000 per unbounded
    // dynamic supervisor), and ~8 memory mappings per live child.
    let body = format!(
        "[node]\nmax_instances = {}\n\n[supervisor]\nname = \"root\"\n\n\
         [[supervisor.children]]\nname = \"pool\"\ndynamic = {{}}\n",
        n + 64
    );
    // Only the large run needs more mappings than the default allows.
    let restore = if n > 5_000 {
        raise_max_map_count(n * 8 + 65_530)
    } else {
        None
    };
    let (node, _events) = start(&body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let parts_before = rss_parts();
    let maps_before = map_count();
    let started = node
        .spawn_near("pool", move |node| async move {
            let mut started = 0;
            for i in 0..n {
                if let Err(e) = node
                    .start_child("pool", WorkerSpec::new(format!("m{i}"), "probe"))
                    .await
                {
                    // The machine's limit (memory mappings, usually): report it.
                    eprintln!("bench: start_child stopped at {started} live children: {e}");
                    break;
                }
                started += 1;
            }
            started
        })
        .expect("pool runs")
        .await
        .expect("bench task");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes();
    let parts_after = rss_parts();
    if std::env::var_os("ARBOR_BENCH_SMAPS").is_some() {
        print_largest_mappings(started.max(1));
    }
    let label = if n >= 1000 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    };
    metric(
        &format!("live_children_{label}"),
        started as f64,
        "children",
        &format!("idle children started (of {n} asked)"),
    );
    metric(
        &format!("memory_per_child_{label}_bytes"),
        (after - before) / started.max(1) as f64,
        "B",
        &format!("RSS delta / children, {started} idle children"),
    );
    for (i, (_, part)) in RSS_PARTS.iter().enumerate() {
        metric(
            &format!("memory_per_child_{label}_{part}_bytes"),
            (parts_after[i] - parts_before[i]) / started.max(1) as f64,
            "B",
            &format!("of which {part} (delta / children)"),
        );
    }
    metric(
        &format!("maps_per_child_{label}"),
        (map_count() - maps_before) as f64 / started.max(1) as f64,
        "maps",
        &format!("memory mappings per idle child ({started} children)"),
    );
    node.shutdown().await;
    // Not put back here: the pool's slots are unmapped when the last
    // reference to the engine goes, on a scheduler thread maybe after this
    // returns, and unmapping 100,000 slots' regions under the default
    // limit fails (munmap: ENOMEM).
    restore
}

async fn cold_start(runs: usize) {
    let spec = tree(&format!("{ROOT}{}", workers(10)));
    // The library reads no environment: the cache is named here, as the
    // `arbor` command names it.
    let options = || NodeOptions {
        cache: CompileCache::user_default(|name| std::env::var_os(name)),
        ..NodeOptions::default()
    };
    // Warm the compile cache first: the figure is a start with a warm cache.
    Node::start(&spec, options())
        .await
        .expect("starts")
        .shutdown()
        .await;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let node = Node::start(&spec, options()).await.expect("starts");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        node.shutdown().await;
    }
    metric(
        "cold_start_10_ms",
        median(&mut samples),
        "ms",
        "engine + cached component load + 10 children started",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    // Names that are not flags pick groups (`cargo bench --bench runtime -- restart`);
    // cargo's own `--bench` flag is passed through and ignored.
    let picked: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let wanted = |group: &str| picked.is_empty() || picked.contains(&group);
    let scale = |full: usize, short: usize| if quick { short } else { full };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let restore_map_count = runtime.block_on(async {
        let mut restore_map_count = None;
        if wanted("restart") {
            restarts(scale(10_000, 50), RestartSetup::Default).await;
            restarts(scale(10_000, 50), RestartSetup::OnDemand).await;
            restarts(scale(10_000, 50), RestartSetup::EventWriter).await;
            restarts(scale(10_000, 50), RestartSetup::FastTraps).await;
        }
        // Also alone when named: to profile what a restart costs with cold
        // caches (`perf record ... -- restart_spaced`).
        if wanted("restart") || picked.contains(&"restart_spaced") {
            restarts(scale(100, 3), RestartSetup::Spaced).await;
        }
        if wanted("one_for_all") {
            one_for_all(scale(1_000, 10)).await;
        }
        if wanted("restart_among_many") {
            restart_among_many(scale(2_000, 10), scale(5_000, 50)).await;
        }
        if wanted("call") {
            calls(scale(100_000, 500)).await;
        }
        // Only when named: a long guest -> guest run to profile the round
        // trip alone (`perf record ... -- guest_calls`), with nothing else
        // of the bench in the samples.
        if picked.contains(&"guest_calls") {
            guest_calls(scale(200_000, 500), scale(20, 1)).await;
        }
        if wanted("observe") {
            observed_calls(scale(100_000, 200), scale(7, 1)).await;
        }
        if wanted("start_child") {
            start_children(scale(5_000, 100), None, false).await;
            start_children(scale(5_000, 100), Some(Allocation::OnDemand), false).await;
        }
        if wanted("memory") {
            // The first raise knows the value to put back.
            restore_map_count = memory(scale(10_000, 200)).await;
            if !quick {
                restore_map_count = restore_map_count.or(memory(100_000).await);
            }
        }
        if wanted("cold_start") {
            cold_start(scale(11, 2)).await;
        }
        // Last: it installs a global tracing subscriber, which no figure
        // before it may pay for.
        if wanted("start_child_phases") {
            PhaseTimes::install();
            start_children(scale(5_000, 100), None, true).await;
        }
        restore_map_count
    });
    drop(runtime);
    if let Some(value) = restore_map_count {
        let _ = std::fs::write("/proc/sys/vm/max_map_count", value.trim());
    }
}
