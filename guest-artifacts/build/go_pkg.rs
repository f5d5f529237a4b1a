//! Where the Go runtime package that wit-bindgen's Go bindings import,
//! `go.bytecodealliance.org/pkg`, comes from: the copy inside the
//! `wit-bindgen-go` crate (`src/pkg`), which cargo has downloaded with the
//! crate. Used by this crate's build script (the Go guests' go.mod points
//! at it) and by `arbor-cli`'s (`arbor new --lang go` writes it into the
//! project), so the Go module proxy is never needed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `src/pkg` of the `wit-bindgen-go` crate that the package of
/// `manifest` depends on, as `cargo metadata` locates it.
pub fn source(manifest: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let host = std::env::var("HOST").expect("set by cargo");
    let mut cmd = Command::new(cargo);
    // Only the build's own platform: the packages of others need not have
    // been downloaded.
    cmd.args(["metadata", "--format-version", "1", "--filter-platform"])
        .arg(&host)
        .arg("--manifest-path")
        .arg(manifest);
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata writes JSON");
    let crate_manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "wit-bindgen-go")
        .and_then(|package| package["manifest_path"].as_str())
        .expect("cargo metadata lists wit-bindgen-go");
    let pkg = Path::new(crate_manifest)
        .parent()
        .expect("a manifest sits in its crate")
        .join("src/pkg");
    assert!(
        pkg.join("go.mod").exists(),
        "{} holds no Go module",
        pkg.display()
    );
    pkg
}

/// The `go` line of the module at `pkg`: a module that requires it needs
/// at least that version in its own.
pub fn go_version(pkg: &Path) -> String {
    let go_mod = std::fs::read_to_string(pkg.join("go.mod")).expect("read the pkg's go.mod");
    go_mod
        .lines()
        .find_map(|line| line.strip_prefix("go "))
        .expect("the pkg's go.mod has a go line")
        .trim()
        .to_string()
}
