//! Restarts as a user of `arbor run` sees them: the real command, with its
//! log on stderr and its events written to a file (`--events`), a worker
//! crashed through `arbor ctl cast`, each restart timed from its
//! `child_terminated` to its `child_restarted` event (the host's own stamps).
//!
//! Two spacings: crashes back to back (one guest casts a burst of crash
//! messages to its sibling, so the log and event writers never go idle) and
//! spaced out (one `arbor ctl cast` every few milliseconds, then every
//! 50 ms: long enough for any writer thread that sleeps when idle to fall
//! asleep between two crashes). The two must cost the same: a restart
//! wakes no other thread and waits on no lock another thread holds.
//!
//! `cargo bench -p arbor-cli --bench restart` prints one `metric NAME VALUE`
//! line per figure (read by `bench/compare.py`); `-- --quick` runs few
//! crashes, as does any run without `cargo bench`'s `--bench` flag (CI's
//! `cargo test --workspace --benches`). Never read these as pass/fail
//! thresholds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the host gets to start, stop, or write an event.
const PATIENCE: Duration = Duration::from_secs(60);

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.3} {unit} # {what}");
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn arbor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_arbor"));
    // The default log level, as a user runs it: each restart logs a line.
    command.env_remove("ARBOR_LOG").env_remove("ARBOR_CONTROL");
    command
}

/// `arbor run` on a tree of two probes, its stderr and events in `dir`.
struct Host {
    child: Child,
    socket: PathBuf,
    events: PathBuf,
}

impl Host {
    fn start(dir: &Path) -> Host {
        let tree = dir.join("tree.toml");
        std::fs::write(
            &tree,
            format!(
                "[components]\nprobe = {:?}\n\n[supervisor]\nname = \"root\"\n\
                 max_restarts = 100000000\nmax_seconds = 1\n\n\
                 [[supervisor.children]]\nname = \"w0\"\ncomponent = \"probe\"\n\
                 mailbox_capacity = 100000\n\n\
                 [[supervisor.children]]\nname = \"w1\"\ncomponent = \"probe\"\n\
                 may_call = [\"w0\"]\n",
                arbor_guest_artifacts::PROBE
            ),
        )
        .expect("write the tree");
        let socket = dir.join("arbor.sock");
        let events = dir.join("events.jsonl");
        let log = std::fs::File::create(dir.join("stderr.log")).expect("log file");
        let child = arbor()
            .arg("run")
            .arg(&tree)
            .arg("--events")
            .arg(&events)
            .arg("--control")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("arbor run");
        let host = Host {
            child,
            socket,
            events,
        };
        let deadline = Instant::now() + PATIENCE;
        while !host.ctl(&["tree"]) {
            assert!(Instant::now() < deadline, "the tree never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        host
    }

    /// Runs `arbor ctl ARGS` against the host; whether it succeeded.
    fn ctl(&self, args: &[&str]) -> bool {
        arbor()
            .arg("ctl")
            .arg("--control")
            .arg(&self.socket)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The events written so far.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Waits until the events file holds `n` restarts of `w0`; returns the
    /// microseconds from each of its `child_terminated` to the following
    /// `child_restarted`.
    fn restarts(&self, n: usize) -> Vec<f64> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let samples = restart_times(&self.events());
            if samples.len() >= n {
                return samples;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} restarts written",
                samples.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        self.ctl(&["shutdown"]);
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("arbor run did not stop");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Terminated -> restarted of `root/w0`, in microseconds of the host's stamps.
fn restart_times(events: &[Value]) -> Vec<f64> {
    let mut terminated = None;
    let mut samples = Vec::new();
    for event in events {
        if event["path"] != "root/w0" {
            continue;
        }
        let t_us = event["t_us"].as_f64().expect("t_us");
        match event["event"].as_str() {
            Some("child_terminated") => terminated = Some(t_us),
            Some("child_restarted") => {
                if let Some(t) = terminated.take() {
                    samples.push(t_us - t);
                }
            }
            _ => {}
        }
    }
    samples
}

/// One crash of `w0` through `arbor ctl cast` every `every` (the
/// command's own start included), `n` times.
fn spaced(dir: &Path, n: usize, every: Duration) -> Vec<f64> {
    let host = Host::start(dir);
    for _ in 0..n {
        let sent = Instant::now();
        assert!(host.ctl(&["cast", "w0", "crash"]), "arbor ctl cast");
        std::thread::sleep(every.saturating_sub(sent.elapsed()));
    }
    let samples = host.restarts(n);
    host.stop();
    samples
}

/// `n` crashes of `w0` back to back: `w1` casts them all at once, and each
/// fresh instance takes the next as soon as it is up.
fn back_to_back(dir: &Path, n: usize) -> Vec<f64> {
    let host = Host::start(dir);
    assert!(host.ctl(&["cast", "w1", &format!("cast-many {n} w0 crash")]));
    let samples = host.restarts(n);
    host.stop();
    samples
}

fn report(name: &str, what: &str, samples: &mut [f64]) {
    metric(
        &format!("{name}_us"),
        percentile(samples, 0.5),
        "us",
        &format!("{what}: child_terminated -> child_restarted (median)"),
    );
    metric(
        &format!("{name}_p99_us"),
        percentile(samples, 0.99),
        "us",
        &format!("the same, p99 ({} restarts)", samples.len()),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let scale = |full: usize, short: usize| if quick { short } else { full };
    let dir = std::env::temp_dir().join(format!("arbor-bench-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");

    let mut burst = back_to_back(&dir, scale(2_000, 20));
    report(
        "restart_cli_burst",
        "arbor run --events, log on: crashes back to back",
        &mut burst,
    );
    let mut every_5ms = spaced(&dir, scale(400, 5), Duration::from_millis(5));
    report(
        "restart_cli_spaced_5ms",
        "the same, one crash every 5 ms through arbor ctl cast",
        &mut every_5ms,
    );
    let mut every_50ms = spaced(&dir, scale(200, 3), Duration::from_millis(50));
    report(
        "restart_cli_spaced_50ms",
        "the same, one crash every 50 ms (writers idle in between)",
        &mut every_50ms,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
