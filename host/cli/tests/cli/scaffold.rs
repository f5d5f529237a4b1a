//! `arbor new` scaffolds a guest in each language that builds with its
//! README's commands and passes `arbor check` as generated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::PATIENCE;

fn arbor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arbor"))
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-new-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_project(lang: &str, name: &str) -> PathBuf {
    let parent = fresh_dir(lang);
    run(
        arbor()
            .args(["new", "--lang", lang, name, "--dir"])
            .arg(&parent),
        "arbor new",
    );
    parent.join(name)
}

fn check(project: &Path) {
    let out = arbor()
        .arg("check")
        .arg(project.join("tree.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "arbor check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok (1 component"), "{stdout}");
}

/// Runs the project's tree with `arbor run`, calls `child` with `message`
/// through `arbor ctl call` and answers the reply; stops the host after.
fn run_and_call(project: &Path, child: &str, message: &str) -> String {
    let socket = project.join("arbor.sock");
    let mut host = arbor()
        .arg("run")
        .arg(project.join("tree.toml"))
        .arg("--control")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ctl = |args: &[&str]| {
        arbor()
            .arg("ctl")
            .arg("--control")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + PATIENCE;
    let reply = loop {
        let out = ctl(&["call", child, message]);
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        if Instant::now() > deadline {
            let _ = host.kill();
            panic!(
                "no reply from {child}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = ctl(&["shutdown"]);
    while host.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = host.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reply
}

/// The Rust scaffold is written on the SDK, which `arbor new` copies into
/// the project (`arbor-guest/`): it builds outside this repository, passes
/// `arbor check`, answers a call, and, exported without `with handover`,
/// has no `handover` export.
#[test]
fn arbor_new_rust_builds_on_the_sdk_it_carries_and_answers_a_call() {
    let project = new_project("rust", "hello_rust");
    assert!(project.join("arbor-guest/src/lib.rs").exists());
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut build, "cargo build of the scaffolded Rust guest");
    check(&project);
    assert_eq!(run_and_call(&project, "hello_rust", "ping"), "pong");
    let component = project.join("target/wasm32-wasip2/release/hello_rust.wasm");
    let loaded = arbor::ArborEngine::new()
        .unwrap()
        .load("hello_rust", &component)
        .unwrap();
    assert!(!loaded.has_handover(), "exported without handover");
}

#[test]
fn arbor_new_python_builds_and_passes_check() {
    let project = new_project("python", "hello_py");
    run(
        Command::new("bash").arg(project.join("build.sh")),
        "build.sh of the scaffolded Python guest",
    );
    check(&project);
}

#[test]
fn arbor_new_js_builds_and_passes_check() {
    let project = new_project("js", "hello_js");
    run(
        Command::new("npm").current_dir(&project).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]),
        "npm install in the scaffolded JS guest",
    );
    run(
        Command::new("npm")
            .current_dir(&project)
            .args(["run", "build", "--silent"]),
        "npm run build",
    );
    check(&project);
}

#[test]
fn arbor_new_c_builds_and_passes_check() {
    let project = new_project("c", "hello_c");
    run(
        Command::new("bash").arg(project.join("build.sh")),
        "build.sh of the scaffolded C guest",
    );
    check(&project);
}

#[test]
fn arbor_new_refuses_bad_names_and_existing_directories() {
    let parent = fresh_dir("refuse");
    let out = arbor()
        .args(["new", "--lang", "rust", "Bad-Name", "--dir"])
        .arg(&parent)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid guest name \"Bad-Name\""));
    run(
        arbor()
            .args(["new", "--lang", "js", "twice", "--dir"])
            .arg(&parent),
        "first arbor new",
    );
    let out = arbor()
        .args(["new", "--lang", "js", "twice", "--dir"])
        .arg(&parent)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("twice: already exists"));
    let out = arbor()
        .args(["new", "--lang", "cobol", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
}
