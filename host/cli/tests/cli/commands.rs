//! The `arbor` binary end to end: `check`, `run`, `ctl`, signals, exit codes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PATIENCE, probe, probe_version, tree};

pub(crate) fn arbor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbor"));
    cmd.env("ARBOR_LOG", "warn").env_remove("ARBOR_CONTROL");
    cmd
}

/// A fresh directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn assert_one_line_error(out: &Output, expect: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "must fail: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(expect), "expected {expect:?} in {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

pub(crate) const SIMPLE: &str = r#"
[supervisor]
name = "root"

[[supervisor.children]]
name = "a"
component = "probe"

[[supervisor.children]]
name = "b"
component = "probe"

[[supervisor.children]]
name = "pool"
dynamic = {}
"#;

#[test]
fn check_accepts_a_good_tree_and_its_components() {
    let dir = scratch("check-ok");
    let file = write(&dir, "tree.toml", tree(SIMPLE));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 component"));
}

#[test]
fn check_prints_the_trees_warnings_and_its_extra_tls_roots() {
    let dir = scratch("check-warnings");
    let ca = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runtime/tests/fixtures/tls/ca.pem"
    );
    std::fs::copy(ca, dir.join("test-ca.pem")).unwrap();
    let body = "[node]\ntls_roots = [\"test-ca.pem\"]\n\n[supervisor]\nname = \"root\"\n\
                max_restarts = 2\n\n[[supervisor.children]]\nname = \"w\"\n\
                component = \"probe\"\npoison = { after = 4 }\n";
    let file = write(&dir, "tree.toml", tree(body));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "supervisor.children[0].poison.after: a message that crashes \"w\" every time is set \
             aside after 4 crashes, but its supervisor \"root\" gives up after 2 restarts in 5 s"
        ),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("warning: ")), "{text}");
    assert!(
        text.contains("https requests trust, beside Mozilla's roots: test-ca.pem"),
        "{text}"
    );
}

#[test]
fn check_names_the_file_line_and_field_of_a_bad_tree() {
    let dir = scratch("check-bad-tree");
    let file = write(
        &dir,
        "tree.toml",
        tree(&SIMPLE.replace("name = \"b\"", "name = \"b\"\nrestart = \"often\"")),
    );
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(
        &out,
        "tree.toml:14: supervisor.children[1].restart: unknown restart type \"often\"",
    );
}

#[test]
fn a_pool_larger_than_the_address_space_is_refused_naming_max_instances() {
    let dir = scratch("check-huge-pool");
    // 4,000,000 x 2 memory slots of 64 MiB: 512 TiB, past a 47-bit address space.
    let file = write(
        &dir,
        "tree.toml",
        tree(&format!("[node]\nmax_instances = 4000000\n{SIMPLE}")),
    );
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(
        &out,
        "the instance pool for 4000000 instances could not be reserved",
    );
    assert!(stderr(&out).contains("[node] max_instances"));
}

#[test]
fn check_reports_bad_components_on_one_line_each() {
    let dir = scratch("check-bad-components");
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "core.wasm",
            b"\0asm\x01\x00\x00\x00",
            "core.wasm: is a core wasm module, not a component",
        ),
        (
            "empty.wasm",
            b"\0asm\x0d\x00\x01\x00",
            "empty.wasm: does not export `arbor:supervised/lifecycle@0.2` or `@0.1.0`",
        ),
        ("text.wasm", b"hello", "text.wasm: not a WebAssembly file"),
    ];
    for (name, bytes, expect) in cases {
        write(&dir, name, bytes);
        let file = write(
            &dir,
            "tree.toml",
            format!(
                "[components]\nx = {name:?}\n\n{}",
                SIMPLE.replace("\"probe\"", "\"x\"")
            ),
        );
        let out = arbor().arg("check").arg(&file).output().unwrap();
        assert_one_line_error(&out, expect);
    }
    let file = write(
        &dir,
        "tree.toml",
        format!(
            "[components]\nx = \"missing.wasm\"\n\n{}",
            SIMPLE.replace("\"probe\"", "\"x\"")
        ),
    );
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(&out, "missing.wasm: cannot read the component");
    let out = arbor()
        .arg("check")
        .arg(dir.join("nope.toml"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "nope.toml:1: file: cannot read the tree file");
}

/// Runs `command` to its end, killing it after [`PATIENCE`] (a host that
/// should have refused to start must not hang the suite).
fn output_within_patience(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

pub(crate) struct Running {
    pub(crate) child: Child,
    socket: PathBuf,
    events: PathBuf,
}

impl Running {
    pub(crate) fn start(dir: &Path, body: &str) -> Running {
        Running::start_with_env(dir, body, &[])
    }

    pub(crate) fn start_with_env(dir: &Path, body: &str, env: &[(&str, &str)]) -> Running {
        let mut command = arbor();
        command.envs(env.iter().copied());
        Running::start_command(dir, body, command)
    }

    /// Starts `command run TREE ...`, where `command` is `arbor` itself or
    /// a wrapper that execs it (so the child's pid is the host's).
    fn start_command(dir: &Path, body: &str, command: Command) -> Running {
        Running::start_text(dir, &tree(body), command, &[])
    }

    /// Starts `arbor run TREE`, TREE holding `text` as it is.
    pub(crate) fn start_text_in(dir: &Path, text: &str) -> Running {
        Running::start_text(dir, text, arbor(), &[])
    }

    /// [`Running::start_text_in`] with `env` set for the host.
    pub(crate) fn start_text_in_with_env(dir: &Path, text: &str, env: &[(&str, &str)]) -> Running {
        let mut command = arbor();
        command.envs(env.iter().copied());
        Running::start_text(dir, text, command, &[])
    }

    /// Starts `command run TREE ... EXTRA`, TREE holding `text` as it is.
    pub(crate) fn start_text(
        dir: &Path,
        text: &str,
        mut command: Command,
        extra: &[&str],
    ) -> Running {
        let file = write(dir, "tree.toml", text);
        let socket = dir.join("arbor.sock");
        let events = dir.join("events.jsonl");
        let child = command
            .arg("run")
            .arg(&file)
            .arg("--events")
            .arg(&events)
            .arg("--control")
            .arg(&socket)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while !socket.exists() || std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the control socket never appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Listening before the tree starts: wait until the root answers.
        while !ctl(&socket, &["tree"]).status.success() {
            assert!(Instant::now() < deadline, "the tree never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        Running {
            child,
            socket,
            events,
        }
    }

    pub(crate) fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.socket, args)
    }

    /// Reads the host's stderr to its end on a thread, from now on.
    pub(crate) fn read_stderr(&mut self) -> std::thread::JoinHandle<String> {
        let mut pipe = self.child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
            text
        })
    }

    pub(crate) fn wait(mut self) -> (Output, String) {
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("arbor run did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.child.wait_with_output().unwrap();
        let events = std::fs::read_to_string(&self.events).unwrap_or_default();
        (out, events)
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn ctl(socket: &Path, args: &[&str]) -> Output {
    arbor()
        .arg("ctl")
        .arg("--control")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_serves_ctl_commands_on_an_owner_only_socket_and_stops_in_order_on_sigterm() {
    let dir = scratch("run-sigterm");
    let host = Running::start(&dir, SIMPLE);
    let mode = std::fs::metadata(&host.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "owner-only control socket");

    let tree = host.ctl(&["tree"]);
    let text = stdout(&tree);
    assert!(
        text.contains(&format!(
            "├── a  probe@{}, permanent, running, generation 1, restarts 0\n",
            probe_version()
        )),
        "{text}"
    );
    assert!(
        text.contains("└── pool  dynamic supervisor, permanent, running"),
        "{text}"
    );

    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])).trim(), "1");
    assert!(host.ctl(&["cast", "a", "count"]).status.success());
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])).trim(), "3");

    let started = host.ctl(&[
        "start-child",
        "pool",
        "probe",
        "--name",
        "s1",
        "--restart",
        "transient",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert_eq!(stdout(&host.ctl(&["call", "s1", "name"])).trim(), "s1");
    // An init that answers ignore is a success that starts nothing: ctl says
    // so, and the dynamic supervisor does not keep it.
    let ignored = host.ctl(&[
        "start-child",
        "pool",
        "probe",
        "--name",
        "s2",
        "--args",
        r#"{"ignore_init": true}"#,
    ]);
    assert!(ignored.status.success(), "{}", stderr(&ignored));
    assert_eq!(
        stdout(&ignored).trim(),
        "ignored: its init answered ignore, so it is not running"
    );
    assert_eq!(
        stdout(&host.ctl(&["count-children", "pool"])).trim(),
        "specs=1 active=1 supervisors=0 workers=1"
    );
    assert_eq!(
        stdout(&host.ctl(&["count-children", "root"])).trim(),
        "specs=3 active=3 supervisors=1 workers=2"
    );
    // a, b, s1 live; room for a, b, 10,000 dynamic children and a margin of 64.
    let usage = stdout(&host.ctl(&["instances"]));
    assert!(usage.starts_with("3 of 10066 instances live"), "{usage}");

    let failed = host.ctl(&["call", "b", "crash"]);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("call to b failed: the child crashed"),
        "{}",
        stderr(&failed)
    );
    let tree = stdout(&host.ctl(&["tree"]));
    assert!(
        tree.contains(&format!(
            "├── b  probe@{}, permanent, running, generation 2, restarts 1\n",
            probe_version()
        )),
        "{tree}"
    );

    let unknown = host.ctl(&["call", "ghost", "ping"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("no child named \"ghost\""));

    host.signal("TERM");
    let (out, events) = host.wait();
    assert!(
        out.status.success(),
        "exit 0 after an orderly stop: {}",
        stderr(&out)
    );
    let lines: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "supervisor_terminated");
    assert_eq!(last["path"], "root");
    assert_eq!(last["reason"], "shutdown");
    let stops: Vec<String> = lines
        .iter()
        .filter(|e| e["event"] == "child_terminated" && e["reason"] == "shutdown")
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        stops,
        ["root/pool/s1", "root/b", "root/a"],
        "reverse start order"
    );
    assert!(
        !dir.join("arbor.sock").exists(),
        "the socket is removed on exit"
    );
}

#[test]
fn ctl_tree_draws_the_tree_with_box_lines_colours_only_when_asked_and_json_for_scripts() {
    let dir = scratch("ctl-tree");
    let host = Running::start(&dir, SIMPLE);
    assert!(
        host.ctl(&["start-child", "pool", "probe", "--name", "s1"])
            .status
            .success()
    );
    let _ = host.ctl(&["call", "b", "crash"]);
    let v = probe_version();
    // Not a terminal (a pipe): plain text, as print_tree draws it.
    let plain = stdout(&host.ctl(&["tree"]));
    assert_eq!(
        plain,
        format!(
            "root  one_for_one supervisor, permanent, running, generation 1, restarts 0\n\
             ├── a  probe@{v}, permanent, running, generation 1, restarts 0\n\
             ├── b  probe@{v}, permanent, running, generation 2, restarts 1\n\
             └── pool  dynamic supervisor, permanent, running, generation 1, restarts 0\n    \
             └── s1  probe@{v}, permanent, running, generation 1, restarts 0\n"
        )
    );
    let coloured = stdout(&host.ctl(&["tree", "--color", "always"]));
    assert!(coloured.contains("\x1b[32mrunning\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[33mrestarts 1\x1b[0m"), "{coloured}");
    assert!(!stdout(&host.ctl(&["tree", "--color", "never"])).contains('\x1b'));
    // --json is the report as before: nested nodes with their paths.
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&host.ctl(&["tree", "--json"]))).unwrap();
    assert_eq!(json["path"], "root");
    assert_eq!(json["strategy"], "one_for_one");
    assert_eq!(json["children"][1]["path"], "root/b");
    assert_eq!(json["children"][1]["generation"], 2);
    assert_eq!(json["children"][1]["restarts"], 1);
    assert_eq!(json["children"][1]["state"], "running");
    assert_eq!(json["children"][2]["children"][0]["path"], "root/pool/s1");
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}

#[test]
fn ctl_why_names_the_crash_the_message_and_the_decision() {
    let dir = scratch("ctl-why");
    let host = Running::start(&dir, SIMPLE);
    let _ = host.ctl(&["call", "b", "crash"]);
    let why = host.ctl(&["why", "b"]);
    assert!(why.status.success(), "{}", stderr(&why));
    let text = stdout(&why);
    assert!(text.starts_with("root/b (generation 2)\n"), "{text}");
    assert!(
        text.contains("root/b (generation 1) exited: crash (panic: crash requested"),
        "{text}"
    );
    assert!(text.contains("while handling \"crash\""), "{text}");
    assert!(
        text.contains(
            "root (one_for_one) decided: restart; restarted root/b; 1 of 3 restarts in 5 s"
        ),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&host.ctl(&["why", "root/b", "--json"]))).unwrap();
    assert_eq!(
        json["child"]["history"][0]["decision"]["strategy"],
        "one_for_one"
    );
    let ghost = host.ctl(&["why", "ghost"]);
    assert!(!ghost.status.success());
    assert!(
        stderr(&ghost).contains("no child named \"ghost\""),
        "{}",
        stderr(&ghost)
    );
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}

#[test]
fn a_guest_flooding_the_log_gets_lines_dropped_and_counted_instead_of_queued_without_bound() {
    let dir = scratch("log-flood");
    let mut host = Running::start_with_env(&dir, SIMPLE, &[("ARBOR_LOG", "info")]);
    // Nobody reads stderr yet: past the pipe's 64 KiB, lines wait in the host.
    // 36 MB of lines against a queue of 8 MiB (and one batch being written).
    let flood = host.ctl(&["call", "a", "log-many 600 60000"]);
    assert_eq!(stdout(&flood).trim(), "logged 600", "{}", stderr(&flood));
    let log = host.read_stderr();
    host.signal("TERM");
    let (out, _) = host.wait();
    assert!(out.status.success());
    let log = log.join().unwrap();
    let written = log.lines().filter(|l| l.contains("log-many ")).count() as u64;
    let dropped: u64 = log
        .lines()
        .filter_map(|l| l.strip_suffix(" log lines dropped: the log writer could not keep up"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(dropped > 0, "{written} lines written, none dropped");
    assert_eq!(written + dropped, 600, "each line is written or counted");
}

#[test]
fn a_guest_log_message_longer_than_64_kib_is_cut_with_a_marker_saying_how_much() {
    let dir = scratch("log-cut");
    let mut host = Running::start_with_env(&dir, SIMPLE, &[("ARBOR_LOG", "info")]);
    let log = host.read_stderr();
    let logged = host.ctl(&["call", "a", "log-many 1 100000"]);
    assert_eq!(stdout(&logged).trim(), "logged 1", "{}", stderr(&logged));
    host.signal("TERM");
    host.wait();
    let log = log.join().unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("log-many 0 "))
        .expect("the guest's line is logged");
    // 100,000 bytes, 65,536 kept: 34,464 cut (the line's fields follow).
    assert!(
        line.contains("x... [34464 more bytes cut] child="),
        "{}",
        &line[line.len().saturating_sub(80)..]
    );
    assert!(line.len() < (64 << 10) + 200, "{} bytes", line.len());
}

#[test]
fn run_exits_nonzero_naming_the_cause_when_the_root_gives_up() {
    let dir = scratch("run-gives-up");
    let host = Running::start(
        &dir,
        &SIMPLE.replace("name = \"root\"", "name = \"root\"\nmax_restarts = 0"),
    );
    let _ = host.ctl(&["call", "a", "crash"]);
    let (out, events) = host.wait();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: the root supervisor \"root\" gave up: shutdown (max_restarts"),
        "{err}"
    );
    assert!(
        events
            .trim_end()
            .ends_with(r#""reason":"shutdown","detail":"max_restarts"}"#),
        "{events}"
    );
}

#[test]
fn a_crash_detail_carries_the_guest_backtrace_only_when_asked() {
    for (asked, env) in [(false, "0"), (true, "1")] {
        let dir = scratch(&format!("run-backtrace-{env}"));
        let host = Running::start_with_env(&dir, SIMPLE, &[("ARBOR_WASM_BACKTRACE", env)]);
        let _ = host.ctl(&["call", "a", "crash"]);
        assert!(host.ctl(&["shutdown"]).status.success());
        let (_, events) = host.wait();
        let crash = events
            .lines()
            .find(|l| l.contains(r#""reason":"crash""#))
            .unwrap_or_else(|| panic!("no crash event in {events}"));
        // The probe's panic, reported by the guest (`host.crash`): wasmtime
        // records the frames of an import's error as of a trap's.
        assert!(crash.contains("crash requested"), "{crash}");
        // Frames read "name <- caller <- ...", innermost first.
        assert_eq!(crash.contains(" <- "), asked, "{crash}");
    }
}

#[test]
fn ctl_shutdown_and_sigint_stop_the_tree_cleanly() {
    for how in ["ctl", "INT"] {
        let dir = scratch(&format!("run-stop-{how}"));
        let host = Running::start(&dir, SIMPLE);
        if how == "ctl" {
            assert_eq!(stdout(&host.ctl(&["shutdown"])).trim(), "stopping");
        } else {
            host.signal(how);
        }
        let (out, events) = host.wait();
        assert!(out.status.success(), "{how}: {}", stderr(&out));
        assert!(
            events.contains(r#""event":"child_terminated","path":"root/a","reason":"shutdown""#),
            "{events}"
        );
    }
}

#[test]
fn run_refuses_a_tree_whose_init_fails_naming_the_child() {
    let dir = scratch("run-init-fails");
    let body = SIMPLE.replace(
        "name = \"b\"\ncomponent = \"probe\"",
        "name = \"b\"\ncomponent = \"probe\"\nargs = '{\"fail_init\": true}'",
    );
    let file = write(&dir, "tree.toml", tree(&body));
    let out = arbor()
        .arg("run")
        .arg(&file)
        .arg("--control")
        .arg(dir.join("s.sock"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "the tree failed to start (error): b: init returned an error: fail_init was set"
        ),
        "{err}"
    );
}

#[test]
fn run_refuses_a_broken_tree_file_on_one_line() {
    let dir = scratch("run-bad-tree");
    let file = write(
        &dir,
        "tree.toml",
        "[supervisor]\nname = \"root\"\nstrategy = \"sideways\"\n",
    );
    let out = arbor()
        .arg("run")
        .arg(&file)
        .arg("--control")
        .arg(dir.join("s.sock"))
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        "tree.toml:3: supervisor.strategy: unknown strategy \"sideways\"",
    );
}

#[test]
fn the_running_host_answers_garbage_and_foreign_components_with_one_line_each_and_serves_on() {
    use std::io::{BufRead, BufReader, Write};
    let dir = scratch("bad-input");
    let host = Running::start(&dir, SIMPLE);
    // Queued before the bad input: still there after it.
    for _ in 0..2 {
        assert!(host.ctl(&["cast", "a", "count"]).status.success());
    }
    // Raw bytes on the socket: one answer a line, in order, and the
    // connection goes on.
    let mut socket = std::os::unix::net::UnixStream::connect(&host.socket).unwrap();
    socket
        .write_all(b"\xff\xfe\nhello\n{\"cmd\":\"fly\"}\n{\"cmd\":\"call\",\"name\":\"a\",\"message\":\"ping\"}\n")
        .unwrap();
    let mut answers = BufReader::new(socket).lines();
    for says in ["not UTF-8 text", "expected value", "unknown variant `fly`"] {
        let answer = answers.next().unwrap().unwrap();
        assert!(
            answer.starts_with(r#"{"ok":false,"error":"bad request: "#) && answer.contains(says),
            "{answer}"
        );
    }
    let pong = answers.next().unwrap().unwrap();
    assert!(pong.starts_with(r#"{"ok":true"#), "{pong}");
    // A component built against another contract version, and a device.
    // The probe as if built against 0.9.0: the `@0.2.N` of its
    // `arbor:supervised` names replaced (as long, so every length prefix
    // stays right).
    let mut bytes = std::fs::read(probe()).unwrap();
    let lifecycle = b"arbor:supervised/lifecycle@";
    let at = bytes
        .windows(lifecycle.len())
        .position(|w| w == lifecycle)
        .expect("the probe exports lifecycle");
    let built = bytes[at + lifecycle.len() - 1..][..6].to_vec();
    assert!(
        built.starts_with(b"@0.2."),
        "{:?}",
        String::from_utf8_lossy(&built)
    );
    for at in 0..bytes.len() - built.len() {
        if bytes[at..at + built.len()] == built[..] {
            bytes[at..at + built.len()].copy_from_slice(b"@0.9.0");
        }
    }
    let foreign = write(&dir, "foreign.wasm", bytes);
    let out = host.ctl(&["swap", "a", foreign.to_str().unwrap()]);
    assert_one_line_error(
        &out,
        "foreign.wasm: is built against arbor:supervised@0.9.0, which this host does not run",
    );
    let out = host.ctl(&["swap", "a", "/dev/null"]);
    assert_one_line_error(
        &out,
        "/dev/null: cannot read the component: it is a device, not a regular file",
    );
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "3");
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn ctl_without_a_host_says_so() {
    let dir = scratch("ctl-nohost");
    let out = ctl(&dir.join("none.sock"), &["tree"]);
    assert_one_line_error(&out, "cannot reach the host");
}

#[test]
fn the_probe_is_a_real_component() {
    assert!(std::fs::metadata(probe()).unwrap().len() > 1000);
}

#[test]
fn check_refuses_a_restart_window_past_a_year_on_one_line() {
    let dir = scratch("check-huge-window");
    let body = SIMPLE.replace("name = \"root\"", "name = \"root\"\nmax_seconds = 1e20");
    let file = write(&dir, "tree.toml", tree(&body));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(
        &out,
        "tree.toml:7: supervisor.max_seconds: must be at most 31536000 (one year), got 1e20",
    );
}

#[test]
fn run_refuses_a_control_path_that_is_not_a_socket_and_leaves_the_file_alone() {
    let dir = scratch("run-control-not-socket");
    let file = write(&dir, "tree.toml", tree(SIMPLE));
    let precious = write(&dir, "notes.txt", "keep me\n");
    let out = output_within_patience(
        arbor()
            .arg("run")
            .arg(&file)
            .arg("--control")
            .arg(&precious),
    );
    assert_one_line_error(&out, "notes.txt: is a regular file, not a socket");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
}

/// User plus system CPU time of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at field
    // 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    stdout(&out).trim().parse().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn accept_failures_back_off_instead_of_spinning_and_the_socket_recovers() {
    const FD_LIMIT: usize = 64;
    let dir = scratch("run-emfile");
    // The host execs under a low descriptor limit, so connections exhaust it.
    let mut limited = Command::new("bash");
    limited
        .arg("-c")
        .arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_arbor"))
        .env("ARBOR_LOG", "warn")
        .env_remove("ARBOR_CONTROL");
    let host = Running::start_command(&dir, SIMPLE, limited);
    let pid = host.child.id();
    assert!(open_fds(pid) < FD_LIMIT - 8, "room for some connections");

    // Connections past the limit wait in the listen backlog; every accept
    // of theirs fails with EMFILE.
    let held: Vec<_> = (0..FD_LIMIT)
        .map(|_| std::os::unix::net::UnixStream::connect(&host.socket).unwrap())
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while open_fds(pid) < FD_LIMIT {
        assert!(
            Instant::now() < deadline,
            "the host never ran out of descriptors"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let held_for = Duration::from_secs(1);
    let before = cpu_ticks(pid);
    std::thread::sleep(held_for);
    let burnt = cpu_ticks(pid) - before;
    let busy_loop = clock_ticks_per_second() * held_for.as_millis() as u64 / 1000;
    assert!(
        burnt * 100 < busy_loop * 30,
        "{burnt} ticks of CPU in {held_for:?} of failing accepts (a busy loop burns {busy_loop})"
    );

    drop(held);
    let tree = host.ctl(&["tree"]);
    assert!(tree.status.success(), "{}", stderr(&tree));
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    let err = stderr(&out);
    assert_eq!(
        err.matches("cannot accept").count(),
        1,
        "one warning for the burst: {err}"
    );
}

#[test]
fn ctl_events_ends_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("ctl-events-pipe");
    let host = Running::start(&dir, SIMPLE);
    let mut events = arbor()
        .arg("ctl")
        .arg("--control")
        .arg(&host.socket)
        .arg("events")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: read one line, then close the pipe.
    let stdout_pipe = events.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout_pipe).read_line(&mut line).unwrap();
        line_tx.send(line).unwrap();
    });
    let mut started = 0;
    let mut start_child = || {
        started += 1;
        let name = format!("e{started}");
        let out = host.ctl(&["start-child", "pool", "probe", "--name", &name]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    // ctl subscribes at some point after it starts: make events until one arrives.
    let deadline = Instant::now() + PATIENCE;
    let line = loop {
        start_child();
        if let Ok(line) = line_rx.recv_timeout(Duration::from_millis(200)) {
            break line;
        }
        assert!(Instant::now() < deadline, "ctl events printed nothing");
    };
    assert!(line.starts_with('{'), "{line}");
    reader.join().unwrap();
    // The pipe is closed: ctl's next line has no reader.
    while events.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ctl events kept running");
        start_child();
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = events.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}

#[test]
fn ctl_call_prints_a_binary_reply_byte_for_byte_or_as_base64() {
    let dir = scratch("ctl-call-bytes");
    let host = Running::start(&dir, SIMPLE);
    let raw = host.ctl(&["call", "a", "bytes 00ff80fe"]);
    assert!(raw.status.success(), "{}", stderr(&raw));
    assert_eq!(raw.stdout, [0x00, 0xff, 0x80, 0xfe]);
    let encoded = host.ctl(&["call", "a", "bytes 00ff80fe", "--base64"]);
    assert!(encoded.status.success(), "{}", stderr(&encoded));
    assert_eq!(stdout(&encoded), "AP+A/g==\n");
    assert_eq!(host.ctl(&["call", "a", "ping"]).stdout, b"pong");
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn ctl_starts_a_whole_subtree_from_a_file_and_deletes_a_stopped_child() {
    let dir = scratch("subtree");
    let host = Running::start(&dir, SIMPLE);
    let subtree = write(
        &dir,
        "team.toml",
        "[supervisor]\nname = \"team\"\nstrategy = \"one_for_all\"\n\n\
         [[supervisor.children]]\nname = \"lead\"\ncomponent = \"probe\"\n",
    );
    let started = host.ctl(&["start-child", "root", "--tree", subtree.to_str().unwrap()]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert_eq!(stdout(&host.ctl(&["call", "lead", "ping"])), "pong");
    let tree = stdout(&host.ctl(&["tree"]));
    assert!(tree.contains("└── team  one_for_all supervisor"), "{tree}");

    let bad = write(
        &dir,
        "bad.toml",
        "[supervisor]\nname = \"x\"\nstrategy = \"one_for_one\"\n\n[[supervisor.children]]\nname = \"y\"\ncomponent = \"nope\"\n",
    );
    let refused = host.ctl(&["start-child", "root", "--tree", bad.to_str().unwrap()]);
    assert_one_line_error(
        &refused,
        "bad.toml:7: supervisor.children[0].component: unknown component \"nope\"",
    );

    let running = host.ctl(&["delete-child", "root", "b"]);
    assert_one_line_error(&running, "the child \"b\" is running: stop it first");
    assert!(host.ctl(&["stop-child", "root", "b"]).status.success());
    assert!(host.ctl(&["delete-child", "root", "b"]).status.success());
    let tree = stdout(&host.ctl(&["tree"]));
    assert!(!tree.contains("root/b "), "{tree}");
    assert!(host.ctl(&["shutdown"]).status.success());
    let _ = host.wait();
}

#[test]
fn ctl_apply_prints_the_plan_on_a_dry_run_carries_it_out_and_fails_with_the_reason() {
    let dir = scratch("apply");
    let host = Running::start(&dir, SIMPLE);
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])).trim(), "1");
    let changed = SIMPLE
        .replace("name = \"root\"", "name = \"root\"\nmax_restarts = 10")
        .replace(
            "[[supervisor.children]]\nname = \"b\"\ncomponent = \"probe\"",
            "[[supervisor.children]]\nname = \"c\"\ncomponent = \"probe\"",
        );
    let new = write(
        &dir,
        "new.toml",
        format!(
            "[components]\nprobe = {:?}\n\n{changed}",
            arbor_guest_artifacts::PROBE_V2
        ),
    );
    let new = new.to_str().unwrap();
    let dry = host.ctl(&["apply", new, "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan = stdout(&dry);
    let lines: Vec<&str> = plan.lines().collect();
    assert_eq!(lines[0], "dry run: nothing was changed; the plan:");
    assert!(
        lines[1].starts_with("~ swap component probe ") && lines[1].ends_with(" (2 children)"),
        "{plan}"
    );
    assert_eq!(
        &lines[2..],
        [
            "~ supervisor root: intensity 3 in 5s -> 10 in 5s (no restart)",
            "- stop root/b",
            "+ start root/c (component probe)",
            "~ order of root: runs a, pool, c; the file lists a, c, pool \
             (its start order when it restarts: a running supervisor starts new children after the ones it runs)",
        ]
    );
    assert_eq!(stdout(&host.ctl(&["call", "a", "version"])), "v1");

    let applied = host.ctl(&["apply", new, "--probation", "100ms"]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let text = stdout(&applied);
    assert!(
        text.starts_with("applied:\n~ swap component probe "),
        "{text}"
    );
    assert!(
        text.contains("\n+ start root/c (component probe)\n"),
        "{text}"
    );
    assert_eq!(stdout(&host.ctl(&["call", "a", "version"])), "v2");
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "v2 2");
    assert_eq!(stdout(&host.ctl(&["call", "c", "ping"])), "pong");
    assert!(!host.ctl(&["call", "b", "ping"]).status.success());

    // A child whose init fails: the apply stops there and says so, non-zero.
    let failing = write(
        &dir,
        "failing.toml",
        format!(
            "[components]\nprobe = {:?}\n\n{changed}\n[[supervisor.children]]\nname = \"d\"\ncomponent = \"probe\"\nargs = '{{\"fail_init\": true}}'\n",
            arbor_guest_artifacts::PROBE_V2
        ),
    );
    let failed = host.ctl(&["apply", failing.to_str().unwrap()]);
    assert_one_line_error(
        &failed,
        "apply stopped at `+ start root/d (component probe)`: ",
    );
    assert!(
        stderr(&failed)
            .trim_end()
            .ends_with("; rolled back: none; still applied: none"),
        "{}",
        stderr(&failed)
    );
    host.signal("TERM");
    let (out, _) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Polls `ctl call NAME MSG` until it replies `want` (or [`PATIENCE`] ends).
fn await_reply(host: &Running, name: &str, message: &str, want: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = stdout(&host.ctl(&["call", name, message]));
        if reply == want || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_watch_swaps_in_a_rebuilt_component_only_once_it_compiles_and_applies_a_changed_tree() {
    let dir = scratch("watch");
    let component = dir.join("probe.wasm");
    std::fs::copy(probe(), &component).unwrap();
    let text = format!("[components]\nprobe = \"probe.wasm\"\n\n{SIMPLE}");
    let mut host = Running::start_text(&dir, &text, arbor(), &["--watch"]);
    let log = host.read_stderr();
    assert_eq!(stdout(&host.ctl(&["call", "a", "version"])), "v1");
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "1");

    // A half-written file is not swapped in: it does not compile, and the
    // host waits for the next change.
    let v2 = std::fs::read(arbor_guest_artifacts::PROBE_V2).unwrap();
    std::fs::write(&component, &v2[..v2.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stdout(&host.ctl(&["call", "a", "version"])), "v1");
    std::fs::write(&component, &v2).unwrap();
    assert_eq!(await_reply(&host, "a", "version", "v2"), "v2");
    // Both versions hand their state over: the count goes on.
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "v2 2");

    // A changed tree file is applied.
    let grown = format!("{text}\n[[supervisor.children]]\nname = \"c\"\ncomponent = \"probe\"\n");
    write(&dir, "tree.toml", grown);
    assert_eq!(await_reply(&host, "c", "version", "v2"), "v2");

    host.signal("TERM");
    let (out, _) = host.wait();
    assert!(out.status.success());
    let log = log.join().unwrap();
    assert!(
        log.contains("probe.wasm changed but cannot be swapped in; waiting for the next change"),
        "{log}"
    );
}

#[test]
fn ctl_swap_moves_a_worker_to_a_new_version_with_its_state_and_fails_loudly_when_refused() {
    let dir = scratch("swap");
    let host = Running::start(&dir, SIMPLE);
    for _ in 0..3 {
        assert!(host.ctl(&["call", "a", "count"]).status.success());
    }
    let v2 = arbor_guest_artifacts::PROBE_V2;
    let out = host.ctl(&["swap", "a", v2, "--probation", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with("swapped root/a: ") && said.contains("state moved"),
        "{said}"
    );
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "v2 4");
    assert!(stdout(&host.ctl(&["tree"])).contains("── a  probe@"));
    // Refused: a file that is not wasm. Nothing changes; ctl exits 1 saying why.
    let bad = write(&dir, "bad.wasm", "not wasm");
    let out = host.ctl(&["swap", "a", bad.to_str().unwrap()]);
    assert_one_line_error(&out, "bad.wasm: not a WebAssembly file");
    // Undo: back to v1, the state coming along again.
    let out = host.ctl(&["swap", "--undo", "a", "--probation", "0s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&host.ctl(&["call", "a", "count"])), "5");
    host.ctl(&["shutdown"]);
    let (out, events) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        events.contains(r#""event":"swap_committed","path":"root/a""#),
        "{events}"
    );
}

/// A tree with the probe as `helper` and the stock HTTP component as `site`
/// on `address`.
fn http_tree(address: &str) -> String {
    format!(
        "[components]\nprobe = {:?}\nhello = {:?}\n\n[supervisor]\nname = \"root\"\n\n\
         [[supervisor.children]]\nname = \"helper\"\ncomponent = \"probe\"\n\n\
         [[supervisor.children]]\nname = \"site\"\ncomponent = \"hello\"\nhttp = \"{address}\"\n",
        probe(),
        arbor_guest_artifacts::HTTP_HELLO
    )
}

#[test]
fn check_shows_each_http_address_and_names_the_line_of_a_bad_one() {
    let dir = scratch("check-http");
    let file = write(&dir, "tree.toml", http_tree("127.0.0.1:18080"));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("root/site serves HTTP on 127.0.0.1:18080"),
        "{}",
        stdout(&out)
    );
    let file = write(&dir, "tree.toml", http_tree("nonsense"));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(
        &out,
        "tree.toml:15: supervisor.children[1].http: expected IP:PORT (e.g. \"127.0.0.1:8080\"), got \"nonsense\"",
    );
}

#[test]
fn run_serves_an_http_child_and_says_where() {
    let dir = scratch("run-http");
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = arbor();
    command.env("ARBOR_LOG", "info");
    let mut host = Running::start_text(&dir, &http_tree(&address.to_string()), command, &[]);
    let log = host.read_stderr();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    std::io::Write::write_all(&mut stream, b"GET /hi HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        response.ends_with("hello from http_hello: GET /hi"),
        "{response}"
    );
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    assert_eq!(out.status.code(), Some(0));
    let log = log.join().unwrap();
    assert!(
        log.contains(&format!("serving HTTP for root/site on {address}")),
        "{log}"
    );
}

/// A tree of one key-value probe `w` granted the bucket `orders`, its
/// database at the default place (`arbor.db` beside the tree file).
fn kv_tree() -> String {
    format!(
        "[components]\nkv = {:?}\n\n[supervisor]\nname = \"root\"\n\n\
         [[supervisor.children]]\nname = \"w\"\ncomponent = \"kv\"\nkeyvalue = [\"orders\"]\n",
        arbor_guest_artifacts::KV_PROBE
    )
}

fn ok_stdout(out: Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn a_write_that_returned_survives_sigkill_of_the_host_and_ctl_kv_reads_the_same_store() {
    let dir = scratch("kv-sigkill");
    let host = Running::start_text(&dir, &kv_tree(), arbor(), &[]);
    assert_eq!(
        ok_stdout(host.ctl(&["call", "w", "set orders o1 paid"])),
        "ok"
    );
    assert_eq!(ok_stdout(host.ctl(&["call", "w", "incr orders n 5"])), "5");
    assert_eq!(
        ok_stdout(host.ctl(&["kv", "set", "orders", "o2", "shipped"])),
        "ok\n"
    );
    host.signal("KILL");
    let (out, _) = host.wait();
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert!(
        dir.join("arbor.db").exists(),
        "the database beside the tree file"
    );

    let host = Running::start_text(&dir, &kv_tree(), arbor(), &[]);
    assert_eq!(ok_stdout(host.ctl(&["call", "w", "get orders o1"])), "paid");
    assert_eq!(
        ok_stdout(host.ctl(&["call", "w", "get orders o2"])),
        "shipped"
    );
    assert_eq!(ok_stdout(host.ctl(&["call", "w", "incr orders n 1"])), "6");
    assert_eq!(ok_stdout(host.ctl(&["kv", "get", "orders", "o1"])), "paid");
    assert_eq!(
        ok_stdout(host.ctl(&["kv", "list", "orders"])),
        "n\no1\no2\n"
    );
    let missing = host.ctl(&["kv", "get", "orders", "o9"]);
    assert_one_line_error(&missing, "bucket \"orders\" has no key \"o9\"");
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn run_refuses_a_corrupt_database_on_one_line_and_leaves_it_alone() {
    let dir = scratch("kv-corrupt");
    let file = write(&dir, "tree.toml", kv_tree());
    let garbage = b"not a database, just bytes ".repeat(200);
    let db = write(&dir, "arbor.db", &garbage);
    let out = output_within_patience(arbor().arg("check").arg(&file));
    assert!(
        out.status.success(),
        "check does not open the store: {}",
        stderr(&out)
    );
    let out = output_within_patience(
        arbor()
            .arg("run")
            .arg(&file)
            .arg("--control")
            .arg(dir.join("arbor.sock")),
    );
    assert_one_line_error(&out, "file is not a database");
    assert!(
        stderr(&out).contains(&db.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn a_full_disk_fails_the_write_with_a_clear_error_and_keeps_the_host_and_earlier_data() {
    let dir = scratch("kv-full");
    // The host execs with a 2 MiB file-size limit (and SIGXFSZ ignored, so
    // a write past it fails with EFBIG as on a full disk).
    let mut limited = Command::new("bash");
    limited
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2048 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_arbor"))
        .env("ARBOR_LOG", "warn")
        .env("ARBOR_CACHE_DIR", "off")
        .env_remove("ARBOR_CONTROL");
    let host = Running::start_text(&dir, &kv_tree(), limited, &[]);
    assert_eq!(
        ok_stdout(host.ctl(&["call", "w", "set orders o1 paid"])),
        "ok"
    );
    let big = host.ctl(&["call", "w", "big orders huge 4000000"]);
    let err = stderr(&big);
    assert!(!big.status.success(), "a write past the limit fails");
    assert!(
        err.contains("the key-value store failed") && err.contains("full"),
        "{err}"
    );
    // The host, the child and what was committed before are all there.
    assert_eq!(ok_stdout(host.ctl(&["call", "w", "get orders o1"])), "paid");
    assert_eq!(
        ok_stdout(host.ctl(&["call", "w", "get orders huge"])),
        "none"
    );
    assert_eq!(
        ok_stdout(host.ctl(&["call", "w", "set orders o2 small"])),
        "ok"
    );
    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, _) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn ctl_dead_letters_lists_poison_messages_and_ctl_redeliver_sends_one_back() {
    let dir = scratch("dead-letters");
    let body = "[supervisor]\nname = \"root\"\nmax_restarts = 20\n\n\
                [[supervisor.children]]\nname = \"gate\"\ncomponent = \"probe\"\n\n\
                [[supervisor.children]]\nname = \"w\"\ncomponent = \"probe\"\n\
                poison = { after = 2 }\n";
    let host = Running::start(&dir, body);
    assert_eq!(stdout(&host.ctl(&["dead-letters"])), "no dead letters\n");

    let crashed = host.ctl(&["call", "w", "crash"]);
    assert_one_line_error(
        &crashed,
        "call to w failed: the message crashed the child 2 times in a row and was moved to \
         the dead-letter store as 1 (`arbor ctl dead-letters`); the last crash: panic: crash requested",
    );
    let survives = host.ctl(&["call", "w", "crash-times 2 gate"]);
    assert_one_line_error(&survives, "moved to the dead-letter store as 2");

    let table = stdout(&host.ctl(&["dead-letters"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ID  CHILD   TIME") && lines[0].ends_with("MESSAGE"),
        "{table}"
    );
    assert!(lines[1].starts_with("1   root/w  "), "{table}");
    assert!(lines[1].contains("  call  2  "), "{table}");
    assert!(
        lines[1].contains("crash: panic: crash requested"),
        "{table}"
    );
    assert!(lines[1].ends_with("crash"), "{table}");
    assert!(lines[2].ends_with("crash-times 2 gate"), "{table}");
    assert_eq!(
        stdout(&host.ctl(&["dead-letters", "gate"])),
        "no dead letters\n"
    );
    assert_one_line_error(
        &host.ctl(&["dead-letters", "nobody"]),
        "no child named \"nobody\" in the tree, and no dead letters for it",
    );

    let json = host.ctl(&["dead-letters", "root/w", "--json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(list["letters"][0]["message"]["base64"], "Y3Jhc2g=");
    assert_eq!(list["letters"][0]["kind"], "call");
    assert_eq!(list["letters"][0]["attempts"], 2);
    assert_eq!(list["dropped"], 0);

    // The third delivery finds two crashes noted in the gate: it survives.
    let redelivered = host.ctl(&["redeliver", "2"]);
    assert!(redelivered.status.success(), "{}", stderr(&redelivered));
    assert_eq!(stdout(&redelivered), "survived 2");
    assert_one_line_error(
        &host.ctl(&["redeliver", "2"]),
        "no dead letter 2 (`arbor ctl dead-letters` lists them)",
    );
    assert_one_line_error(
        &host.ctl(&["redeliver", "1"]),
        "dead letter 1 was sent to w again: the message crashed the child 2 times in a row \
         and was moved to the dead-letter store as 3",
    );
    let table = stdout(&host.ctl(&["dead-letters", "w"]));
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("3 "), "{table}");

    assert!(host.ctl(&["shutdown"]).status.success());
    let (out, events) = host.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let dead: Vec<serde_json::Value> = events
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "message_dead_lettered")
        .collect();
    assert_eq!(dead.len(), 3, "{events}");
    assert_eq!(dead[0]["path"], "root/w");
    assert_eq!(dead[0]["dead_letter"]["id"], 1);
    assert_eq!(dead[0]["dead_letter"]["attempts"], 2);
}
