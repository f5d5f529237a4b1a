//! Runs the example tree: `cargo run --example supervision [-- ARBOR RUN OPTIONS]`.
//!
//! Building this example builds the probe guest from `guests/` (through the
//! guest-artifacts crate), then runs `arbor run examples/supervision/tree.toml`
//! with the same code as the `arbor` binary. Talk to it from another terminal
//! with `cargo run -q -- ctl tree` (see the README).

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The tree file names the probe by its build path; this makes sure it exists.
    let probe = Path::new(arbor_guest_artifacts::PROBE);
    assert!(
        probe.exists(),
        "the probe guest was not built: {}",
        probe.display()
    );
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/supervision/tree.toml");
    let mut args: Vec<OsString> = vec!["arbor".into(), "run".into(), tree.into()];
    args.extend(std::env::args_os().skip(1));
    arbor_cli::main(args)
}
