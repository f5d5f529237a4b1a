//! `arbor check TREE`: validate a tree file and load its components.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use arbor::TreeSpec;
use arbor::engine::ArborEngine;
use arbor::node::load_components;
use arbor::spec::{ChildSpec, SupervisorSpec};

/// Arguments of `arbor check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The tree file.
    tree: PathBuf,
}

pub fn execute(args: CheckArgs) -> anyhow::Result<ExitCode> {
    // Compiling a large component takes seconds: the engine says so in the log.
    super::init_logging();
    let tree = TreeSpec::load(&args.tree)?;
    let config = crate::config::EnvConfig::from_env();
    let settings = config.engine_settings(&tree);
    let engine =
        ArborEngine::with_options(config.cache, settings).context("starting the engine")?;
    let components = load_components(&engine, &tree)?;
    println!(
        "{}: ok ({} component{}, root supervisor {:?})",
        args.tree.display(),
        components.len(),
        if components.len() == 1 { "" } else { "s" },
        tree.root.name
    );
    for (path, address) in http_children(&tree.root, &tree.root.name) {
        println!("{path} serves HTTP on {address}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The children with an `http` address under `supervisor` (at `path`), in
/// tree order.
fn http_children(supervisor: &SupervisorSpec, path: &str) -> Vec<(String, std::net::SocketAddr)> {
    let mut found = Vec::new();
    for child in &supervisor.children {
        let at = format!("{path}/{}", child.name());
        match child {
            ChildSpec::Worker(worker) => {
                if let Some(address) = worker.http {
                    found.push((at, address));
                }
            }
            ChildSpec::Supervisor(nested) => found.extend(http_children(nested, &at)),
        }
    }
    found
}
