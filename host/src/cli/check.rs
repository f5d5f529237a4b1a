//! `arbor check TREE`: validate a tree file and load its components.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::TreeSpec;
use crate::engine::ArborEngine;
use crate::node::load_components;

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
    // The same engine settings as `arbor run`, so the compile cache it fills is the one a run uses.
    let engine = ArborEngine::for_tree(&tree).context("starting the engine")?;
    let components = load_components(&engine, &tree)?;
    println!(
        "{}: ok ({} component{}, root supervisor {:?})",
        args.tree.display(),
        components.len(),
        if components.len() == 1 { "" } else { "s" },
        tree.root.name
    );
    Ok(ExitCode::SUCCESS)
}
