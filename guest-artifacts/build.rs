//! Builds every guest in `guests/` for `wasm32-wasip2` and records where the
//! components landed, the way wasmtime's test-programs are built: a nested
//! `cargo build` with its own target dir, so `cargo test` alone is enough.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The guests whose components the host's tests and examples use.
const GUESTS: &[&str] = &["probe"];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("guest-artifacts sits in the workspace root");
    let guests = root.join("guests");
    // A fixed place under the workspace target dir, so the example tree files
    // can name the components with a path relative to themselves.
    let target_dir = root.join("target").join("guests");

    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    ensure_target_installed();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guests)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    // The outer build's flags are for the host, not for wasm guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("failed to run cargo for the guests");
    assert!(
        status.success(),
        "building the guests in {} failed",
        guests.display()
    );

    let out = target_dir.join(TARGET).join("release");
    let mut constants = String::new();
    for guest in GUESTS {
        let path = out.join(format!("{guest}.wasm"));
        assert!(
            path.exists(),
            "guest {guest} built but {} is missing",
            path.display()
        );
        constants.push_str(&format!(
            "/// Path of the `{guest}` guest component.\npub const {}: &str = {:?};\n",
            guest.to_uppercase(),
            path.display().to_string()
        ));
    }
    let dest = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(dest, constants).expect("write guests.rs");
}

/// rustup installs the targets named in rust-toolchain.toml when it installs
/// the toolchain, but not when the toolchain was already there: add it then.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot
        .as_deref()
        .map(|s| s.join("lib/rustlib").join(TARGET).exists())
        .unwrap_or(false);
    if installed {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(toolchain) = toolchain.as_deref() {
        cmd.args(["--toolchain", toolchain]);
    }
    let status = cmd.status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it by hand"
        );
    }
}
