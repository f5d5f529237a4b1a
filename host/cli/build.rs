//! Embeds `go.bytecodealliance.org/pkg`, the runtime package wit-bindgen's
//! Go bindings import, from the `wit-bindgen-go` crate this binary links,
//! so `arbor new --lang go` can write it into the project: the project
//! builds without the Go module proxy. `$OUT_DIR/go_pkg.rs` holds its Go
//! version and its files (its `go.mod`, `LICENSE` and the Go sources under
//! `wit/`).

use std::path::{Path, PathBuf};

#[path = "../../guest-artifacts/build/go_pkg.rs"]
mod go_pkg;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A new wit-bindgen-go (a normal dependency, so not one that reruns
    // this script) changes the lock file.
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    let manifest =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("Cargo.toml");
    let pkg = go_pkg::source(&manifest);
    let mut files = vec![pkg.join("go.mod"), pkg.join("LICENSE")];
    sources(&pkg.join("wit"), &mut files);
    files.sort();
    let mut out = format!(
        "/// The `go` line of the package's `go.mod`.\npub(crate) const GO_VERSION: &str = {:?};\n\
         /// The package's files, as (path in the package, bytes).\n\
         pub(crate) const FILES: &[(&str, &[u8])] = &[\n",
        go_pkg::go_version(&pkg)
    );
    for file in &files {
        let relative = file.strip_prefix(&pkg).expect("under the package");
        out.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            relative.display().to_string(),
            file.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("go_pkg.rs");
    std::fs::write(dest, out).expect("write go_pkg.rs");
}

/// The Go sources (`.go`, and the `.s` files that let body-less
/// declarations compile) under `dir`.
fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the package").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, files);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("go" | "s")) {
            files.push(path);
        }
    }
}
