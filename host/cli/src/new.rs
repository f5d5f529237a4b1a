//! `arbor new --lang LANG NAME`: scaffold a guest project.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::scaffold::{Language, scaffold};

/// Arguments of `arbor new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// rust, python, js, c or go.
    #[arg(long)]
    lang: Language,
    /// The guest's name (lowercase letters, digits, '_'); also its directory.
    name: String,
    /// Where to create the project [default: the current directory].
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

pub fn execute(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = scaffold(args.lang, &args.name, &args.dir)?;
    let build = match args.lang {
        Language::Rust => "cargo build --release --target wasm32-wasip2",
        Language::Python => "./build.sh",
        Language::Js => "npm install && npm run build",
        Language::C | Language::Go => "./build.sh",
    };
    println!("created {}", dir.display());
    println!(
        "next: cd {} && {build} && arbor check tree.toml",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
