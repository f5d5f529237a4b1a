//! `arbor check TREE`: validate a tree file and load its components, then
//! print what each child may reach (its effective grants).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use arbor::TreeSpec;
use arbor::engine::ArborEngine;
use arbor::node::load_components;
use arbor::spec::{ChildSpec, SupervisorSpec, WorkerSpec};

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
    let config = crate::config::EnvConfig::from_env()?;
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
    for warning in tree.warnings() {
        println!("warning: {warning}");
    }
    if !tree.tls_roots.files.is_empty() {
        println!(
            "https requests trust, beside Mozilla's roots: {}",
            tree.tls_roots.files.join(", ")
        );
    }
    for (path, address) in http_children(&tree.root, &tree.root.name) {
        println!("{path} serves HTTP on {address}");
    }
    println!("grants (what each child may reach besides its memory and Arbor's host interface):");
    for line in grant_lines(&tree.root, &tree.root.name) {
        println!("  {line}");
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

/// One line per worker, in tree order (`PATH: none` for one granted
/// nothing), and one per supervisor with `child_grants`.
fn grant_lines(supervisor: &SupervisorSpec, path: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(ceiling) = &supervisor.child_grants {
        lines.push(format!(
            "{path} (children started at run time, at most): {}",
            or_none(ceiling.describe())
        ));
    }
    for child in &supervisor.children {
        let at = format!("{path}/{}", child.name());
        match child {
            ChildSpec::Worker(worker) => {
                lines.push(format!("{at}: {}", or_none(worker_grants(worker))))
            }
            ChildSpec::Supervisor(nested) => lines.extend(grant_lines(nested, &at)),
        }
    }
    lines
}

/// What a worker may reach beyond the defaults, one item per grant;
/// environment values are left out (they may be secrets).
fn worker_grants(worker: &WorkerSpec) -> Vec<String> {
    let mut grants = Vec::new();
    if let Some(granted) = &worker.grants {
        grants.extend(granted.describe());
    }
    if !worker.keyvalue.is_empty() {
        grants.push(format!("keyvalue: {}", worker.keyvalue.join(", ")));
    }
    if !worker.may_start.is_empty() {
        grants.push(format!("may_start: {}", worker.may_start.join(", ")));
    }
    if let Some(may_call) = &worker.may_call {
        grants.push(format!("may_call only: {}", may_call.join(", ")));
    }
    if let Some(address) = worker.http {
        grants.push(format!("serves HTTP on {address}"));
    }
    if worker.log_rate != arbor::LogRate::default() {
        grants.push(format!("log_rate: {}", worker.log_rate));
    }
    grants
}

fn or_none(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join("; ")
    }
}
