//! Runs the order system: `cargo run --example order-system [-- ARBOR RUN OPTIONS]`.
//!
//! Building this example builds its guests from source (Rust on the guest
//! SDK, Python, JavaScript, C; through the guest-artifacts crate), then runs
//! `arbor run examples/order-system/tree.toml` with the same code as the
//! `arbor` binary: the web endpoint listens on http://127.0.0.1:8080 and the
//! traffic child places 5 orders a second. See README.md beside this file.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The tree file names the components by their build paths; make sure
    // the build made them all.
    for component in [
        arbor_guest_artifacts::ORDER_REPOSITORY,
        arbor_guest_artifacts::ORDER_PROCESSOR,
        arbor_guest_artifacts::ORDER_WEB,
        arbor_guest_artifacts::PYTHON_INVENTORY,
        arbor_guest_artifacts::JS_PAYMENT,
        arbor_guest_artifacts::JS_TRAFFIC,
        arbor_guest_artifacts::C_NOTIFICATION,
    ] {
        assert!(
            Path::new(component).exists(),
            "a guest of the order system was not built: {component}"
        );
    }
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order-system/tree.toml");
    let mut args: Vec<OsString> = vec!["arbor".into(), "run".into(), tree.into()];
    args.extend(std::env::args_os().skip(1));
    arbor_cli::main(args)
}
