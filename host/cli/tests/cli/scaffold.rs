//! `arbor new` scaffolds a guest in each language that builds with its
//! README's commands and passes `arbor check` as generated.

use std::path::{Path, PathBuf};
use std::process::Command;

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

#[test]
fn arbor_new_rust_builds_and_passes_check() {
    let project = new_project("rust", "hello_rust");
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut build, "cargo build of the scaffolded Rust guest");
    check(&project);
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
