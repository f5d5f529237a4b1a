//! The observer's page in a real browser: Debian's chromium, headless,
//! driven by `browser.mjs` over the DevTools protocol, against `arbor run
//! --observe` running the example tree. Installs chromium when it is
//! missing, and fails (never skips) when it cannot.
//!
//! The test takes the README's screenshot each run, into its scratch
//! directory; `ARBOR_UPDATE_SCREENSHOT=1` also writes it to
//! `docs/observer.png`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commands::{scratch, stderr, stdout};
use crate::observer::observed_tree;
use crate::support::probe;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's chromium, installed with apt-get when it is not there yet.
fn chromium() -> PathBuf {
    let path = Path::new(CHROMIUM);
    if !path.exists() {
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .map(|out| (out.status.success(), stderr(&out)))
                .unwrap_or_else(|e| (false, format!("apt-get: {e}")))
        };
        let (mut installed, mut said) = apt(&["install", "-y", "chromium"]);
        if !installed {
            // A fresh machine may have no package lists yet.
            let _ = apt(&["update"]);
            (installed, said) = apt(&["install", "-y", "chromium"]);
        }
        assert!(
            installed && path.exists(),
            "the browser test needs Debian's chromium at {CHROMIUM}, and installing it failed \
             (run as root, or install it first: apt-get install chromium):\n{said}"
        );
    }
    path.to_path_buf()
}

/// The example tree file, its probe named by the path the tests built.
fn example_tree() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("examples/supervision/tree.toml")).unwrap();
    let relative = "\"../../target/guests/wasm32-wasip2/release/probe.wasm\"";
    assert!(text.contains(relative), "the example names its probe so");
    text.replace(relative, &format!("{:?}", probe()))
}

#[test]
fn the_page_in_chromium_shows_the_example_tree_a_ctl_crash_within_a_second_and_its_why() {
    let chromium = chromium();
    let dir = scratch("observe-browser");
    let (host, address, _) = observed_tree(&dir, &example_tree(), false);
    let out = host.ctl(&["start-child", "sessions", "probe", "--name", "s1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = dir.join("observer.png");
    let out = Command::new("node")
        .arg(manifest.join("tests/cli/browser.mjs"))
        .arg(&chromium)
        .arg(format!("http://{address}"))
        .arg(env!("CARGO_BIN_EXE_arbor"))
        .arg(dir.join("arbor.sock"))
        .arg(dir.join("chromium-profile"))
        .arg(&screenshot)
        .output()
        .expect("node runs (the README's prerequisites include npm, and so node)");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let png = std::fs::read(&screenshot).expect("the screenshot was taken");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a PNG"
    );
    if std::env::var_os("ARBOR_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(manifest.join("../../docs/observer.png"), &png).unwrap();
    }
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
}
