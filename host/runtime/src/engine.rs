//! The wasmtime engine, the linker, and loading components.
//!
//! [`ArborEngine`] owns the one [`wasmtime::Engine`] of a host: async calls,
//! epoch interruption driven by a ticker thread, and no wasm backtrace capture
//! (a trap is an ordinary event here, and capturing one costs more than the
//! restart). [`ArborEngine::load`] compiles a component once, checks that it
//! is a component, that it exports the `arbor:supervised` lifecycle of a
//! contract version the host runs (0.2.0 or 0.1.0: the linker holds the
//! `host` interface of both, so guests built before 0.2.0 keep running) and
//! that every import is one the host provides, and pre-instantiates it so
//! every (re)start only builds a fresh `Store`.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::allocator::Allocation;
pub use crate::bindings::ContractVersion;
use crate::bindings::{SupervisedPre, v0_1, v0_2};
use crate::compile_cache::{CacheOutcome, CompileCache};
use crate::host_api::ChildState;
use crate::spec::TreeSpec;

/// How often the epoch advances: the granularity of deadlines, and how often
/// a long-running guest yields to its neighbours on the same thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Why a component could not be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read the component: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("{}: not a WebAssembly file (no `\\0asm` header)", path.display())]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// A core module was given where a component is needed.
    #[error("{}: is a core wasm module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)", path.display())]
    CoreModule {
        /// The file.
        path: PathBuf,
    },
    /// The component was built against a version of the contract the host
    /// does not run: its `arbor:supervised` imports and exports name it.
    #[error("{}: is built against arbor:supervised@{version}, which this host does not run (it runs {}): rebuild it against one of those", path.display(), SUPPORTED_CONTRACTS)]
    Contract {
        /// The file.
        path: PathBuf,
        /// The version its `arbor:supervised` names carry.
        version: String,
    },
    /// The component failed to validate or compile.
    #[error("{}: invalid component: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation, on one line.
        message: String,
    },
    /// The component imports something the host does not provide.
    #[error("{}: imports something Arbor does not provide: {message}", path.display())]
    Imports {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation, on one line.
        message: String,
    },
    /// A child is to serve HTTP, but its component does not.
    #[error(transparent)]
    NotHttp(#[from] NotHttp),
    /// The component exports the lifecycle interface of no contract
    /// version the host runs, or not as that version declares it, and
    /// does not serve HTTP either.
    #[error("{}: does not export `arbor:supervised/lifecycle@0.2` or `@0.1.0` (init, handle, terminate) as expected, nor `wasi:http/incoming-handler` (an HTTP child): {message}; it exports {exports}", path.display())]
    Exports {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation for each version, on one line.
        message: String,
        /// What it does export, in words: which world it was built for.
        exports: String,
    },
}

/// The contract versions the host runs, in words (see [`ContractVersion`]).
const SUPPORTED_CONTRACTS: &str = "0.2.3, 0.2.2, 0.2.1, 0.2.0 and 0.1.0";

/// The `MAJOR.MINOR` families of `arbor:supervised` the linker and
/// [`ContractVersion`] match: wasmtime links `@0.2.x` to 0.2.3 and
/// `@0.1.x` to 0.1.0 by semver, so only another family is refused here.
const CONTRACT_FAMILIES: [&str; 2] = ["0.2.", "0.1."];

/// The version of the first `arbor:supervised` import or export of
/// `component` in no family the host runs. A guest built against another
/// version would otherwise be refused by the linker for a function of its
/// `host` import ("instance export `log` has the wrong type"), which does
/// not say that the version is the problem.
fn foreign_contract(engine: &Engine, component: &Component) -> Option<String> {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name);
    let exports = ty.exports(engine).map(|(name, _)| name);
    imports.chain(exports).find_map(|name| {
        let version = name.strip_prefix("arbor:supervised/")?.split_once('@')?.1;
        (!CONTRACT_FAMILIES.iter().any(|f| version.starts_with(f))).then(|| version.to_string())
    })
}

/// The names `component` exports, for a message: the first few, or `nothing`.
fn export_names(engine: &Engine, component: &Component) -> String {
    const SHOWN: usize = 5;
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    match names.len() {
        0 => "nothing".to_string(),
        n if n > SHOWN => format!("{} and {} more", names[..SHOWN].join(", "), n - SHOWN),
        _ => names.join(", "),
    }
}

/// A component file's bytes. Only a regular file is read: a device
/// (`/dev/zero`) or a named pipe would be read without end, or wait
/// forever for a writer, on a thread of the host.
pub(crate) fn read_component_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", file_kind(meta.file_type())),
        ));
    }
    std::fs::read(path)
}

/// What a file type is, in words (`a named pipe`), for messages.
pub(crate) fn file_kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "an unusual file"
    }
}

/// A child is to serve HTTP (`http = ...`) but its component does not
/// export `wasi:http/incoming-handler`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{child}: `http = \"{address}\"` is set, but its component {component:?} ({}) does not export `wasi:http/incoming-handler` (build it for the `wasi:http/proxy` world)", path.display())]
pub struct NotHttp {
    /// The child's name.
    pub child: String,
    /// Its `http` address.
    pub address: std::net::SocketAddr,
    /// The component's name in `[components]`.
    pub component: String,
    /// The component's file.
    pub path: PathBuf,
}

/// A compiled, pre-instantiated component.
pub struct LoadedComponent {
    /// Its name in `[components]`.
    pub name: String,
    /// Where it was loaded from (the canonical path, when it has one).
    pub path: PathBuf,
    /// Its content hash: what tells two versions of a component apart.
    pub hash: String,
    pub(crate) pre: SupervisedPre<ChildState>,
}

impl LoadedComponent {
    /// The contract version the component was built against; `None` for
    /// a component that only serves HTTP (a stock `wasi:http/proxy`
    /// component, with no `lifecycle`).
    pub fn contract(&self) -> Option<ContractVersion> {
        self.pre.version()
    }

    /// Whether it exports `wasi:http/incoming-handler`, so a child of it
    /// may serve HTTP (`http = "IP:PORT"`).
    pub fn serves_http(&self) -> bool {
        self.pre.serves_http()
    }

    /// Whether it exports `handover` (`snapshot`/`restore`), so a hot swap
    /// can carry a child's state into or out of it.
    pub fn has_handover(&self) -> bool {
        self.pre.has_handover()
    }
}

/// The version of a component's bytes as Arbor shows it: the first 16 hex
/// digits of their SHA-256 (`arbor ctl tree`, swap events, the
/// `from-version` a guest's `restore` gets).
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("hash", &self.hash)
            .field("contract", &self.contract())
            .finish()
    }
}

/// How an engine is built, besides its compile cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Where instances get their memory.
    pub allocation: Allocation,
    /// Raise traps with a call into the runtime instead of a hardware
    /// exception (`[node] fast_traps`). The invalid-opcode fault of
    /// `unreachable` costs ~12 us on this project's VM (likely intercepted
    /// by the hypervisor), more than the restart that follows. wasmtime
    /// allows this only with Cranelift's Spectre mitigation on bounds
    /// checks turned off (bounds are still checked, but a mispredicted check
    /// may read out of bounds speculatively), so it is for guests you
    /// trust, and off by default.
    pub fast_traps: bool,
    /// Capture the guest's stack (up to 32 frames) into each crash's
    /// detail. Off by default: capturing it costs more than the restart.
    pub wasm_backtrace: bool,
}

impl From<Allocation> for EngineSettings {
    fn from(allocation: Allocation) -> Self {
        EngineSettings {
            allocation,
            fast_traps: false,
            wasm_backtrace: false,
        }
    }
}

impl EngineSettings {
    /// The settings `tree` asks for: its pool and `[node] fast_traps`.
    pub fn for_tree(tree: &TreeSpec) -> EngineSettings {
        EngineSettings {
            allocation: Allocation::for_tree(tree),
            fast_traps: tree.fast_traps,
            wasm_backtrace: false,
        }
    }
}

/// The engine of one host, with its linker and epoch ticker.
#[derive(Clone)]
pub struct ArborEngine {
    engine: Engine,
    linker: Arc<Linker<ChildState>>,
    cache: Option<CompileCache>,
    allocation: Allocation,
    _ticker: Arc<EpochTicker>,
}

struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the wasm engine: {0}")]
pub struct EngineError(String);

/// A wasmtime error with its whole cause chain on one line.
pub(crate) fn one_line(error: &wasmtime::Error) -> String {
    format!("{error:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl ArborEngine {
    /// An engine with on-demand allocation and no compile cache: for
    /// loading and checking components outside a tree.
    pub fn new() -> Result<ArborEngine, EngineError> {
        ArborEngine::with_options(None, Allocation::OnDemand)
    }

    /// Builds the engine and linker and starts the epoch ticker thread;
    /// compiled components are cached in `cache` when given.
    pub fn with_options(
        cache: Option<CompileCache>,
        settings: impl Into<EngineSettings>,
    ) -> Result<ArborEngine, EngineError> {
        let settings = settings.into();
        let allocation = settings.allocation;
        let mut config = Config::new();
        // Off, wasmtime also turns off the Spectre mitigation of bounds
        // checks, which signal-based traps need (see `EngineSettings`).
        config.signals_based_traps(!settings.fast_traps);
        config.epoch_interruption(true);
        // Capturing a backtrace costs more than the rest of a restart, and a
        // trap is an ordinary event here: only when asked for.
        config.wasm_backtrace_max_frames(
            std::num::NonZeroUsize::new(32).filter(|_| settings.wasm_backtrace),
        );
        allocation.configure(&mut config);
        let engine = Engine::new(&config).map_err(|e| {
            let detail = one_line(&e);
            match allocation {
                Allocation::Pooling(size) if detail.contains("os error 12") => {
                    EngineError(crate::allocator::reservation_failure(size, &detail))
                }
                _ => EngineError(detail),
            }
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| EngineError(one_line(&e)))?;
        // A guest's stdout and stderr go to the host's log, tagged with its
        // path and rate-limited (`crate::guest_log`): these two replace
        // WASI's, which would discard what it writes.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::cli::stdout::add_to_linker::<ChildState, HasSelf<ChildState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| EngineError(one_line(&e)))?;
        wasmtime_wasi::p2::bindings::cli::stderr::add_to_linker::<ChildState, HasSelf<ChildState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| EngineError(one_line(&e)))?;
        linker.allow_shadowing(false);
        // Every version's `host`: their instance names differ
        // (`arbor:supervised/host@0.2.0`, `@0.1.0`), so each component links
        // to the one it was built against.
        v0_2::Supervised::add_to_linker::<ChildState, HasSelf<ChildState>>(&mut linker, |s| s)
            .map_err(|e| EngineError(one_line(&e)))?;
        v0_1::Supervised::add_to_linker::<ChildState, HasSelf<ChildState>>(&mut linker, |s| s)
            .map_err(|e| EngineError(one_line(&e)))?;
        // `wasi:http/types` and `outgoing-handler`, for HTTP children (and
        // any guest built with them); outgoing requests go only where a
        // child's `http_outgoing` grant allows (`crate::http::outgoing`).
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| EngineError(one_line(&e)))?;
        // `wasi:keyvalue` (store, atomics, batch): every guest may import
        // it; only a child with a `keyvalue` grant can open a bucket.
        crate::keyvalue::guest::add_to_linker(&mut linker)
            .map_err(|e| EngineError(one_line(&e)))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("arbor-epoch".to_string())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch thread: {e}")))?;
        Ok(ArborEngine {
            engine,
            linker: Arc::new(linker),
            cache,
            allocation,
            _ticker: Arc::new(EpochTicker { stop }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How this engine allocates instances.
    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// Reads, checks, compiles and pre-instantiates the component at `path`.
    pub fn load(&self, name: &str, path: &Path) -> Result<LoadedComponent, LoadError> {
        let bytes = read_component_file(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let path_buf = path.to_path_buf();
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(LoadError::NotWasm { path: path_buf });
        }
        // Bytes 6..8 are the layer: 0 for a core module, 1 for a component.
        if bytes[6] == 0 && bytes[7] == 0 {
            return Err(LoadError::CoreModule { path: path_buf });
        }
        let component = self
            .compile(name, path, &bytes)
            .map_err(|e| LoadError::Invalid {
                path: path_buf.clone(),
                message: one_line(&e),
            })?;
        if let Some(version) = foreign_contract(&self.engine, &component) {
            return Err(LoadError::Contract {
                path: path_buf,
                version,
            });
        }
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Imports {
                    path: path_buf.clone(),
                    message: one_line(&e),
                })?;
        let pre = SupervisedPre::new(instance_pre).map_err(|none| LoadError::Exports {
            path: path_buf.clone(),
            message: format!(
                "0.2: {}; 0.1.0: {}; wasi:http: {}",
                one_line(&none.newest),
                one_line(&none.oldest),
                one_line(&none.http)
            ),
            exports: export_names(&self.engine, &component),
        })?;
        match pre.version() {
            Some(version) => tracing::debug!("component {name} targets {version}"),
            None => tracing::debug!("component {name} only serves HTTP"),
        }
        Ok(LoadedComponent {
            name: name.to_string(),
            // Shown in `tree` and swap events: where the bytes are, whatever
            // the host's working directory.
            path: std::fs::canonicalize(path).unwrap_or(path_buf),
            hash: content_hash(&bytes),
            pre,
        })
    }
}

impl ArborEngine {
    fn compile(&self, name: &str, path: &Path, bytes: &[u8]) -> wasmtime::Result<Component> {
        let started = std::time::Instant::now();
        let megabytes = bytes.len() as f64 / (1 << 20) as f64;
        // Large components (Python, JavaScript) take seconds: say so.
        let announce = || {
            if bytes.len() > 1 << 20 {
                tracing::info!(
                    "compiling component {name} ({megabytes:.1} MB, {}); first time only",
                    path.display()
                );
            }
        };
        let Some(cache) = &self.cache else {
            announce();
            return Component::new(&self.engine, bytes);
        };
        let (component, outcome) = cache.load_or_compile(&self.engine, bytes, announce)?;
        match outcome {
            CacheOutcome::Hit => tracing::debug!("loaded component {name} from the compile cache"),
            CacheOutcome::Compiled | CacheOutcome::Uncached | CacheOutcome::Untrusted => {
                tracing::debug!(
                    "compiled component {name} in {:.0} ms",
                    started.elapsed().as_secs_f64() * 1000.0
                )
            }
        }
        if outcome != CacheOutcome::Hit && bytes.len() > 1 << 20 {
            tracing::info!(
                "compiled component {name} in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("arbor-engine-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_core_module_is_refused_with_a_hint() {
        let engine = ArborEngine::new().unwrap();
        let path = write_temp("core.wasm", &wat_core_module());
        let err = engine.load("core", &path).unwrap_err();
        assert!(matches!(err, LoadError::CoreModule { .. }), "{err}");
        assert!(
            err.to_string().contains("core.wasm: is a core wasm module"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let engine = ArborEngine::new().unwrap();
        let err = engine
            .load("x", Path::new("/nonexistent/x.wasm"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/x.wasm: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn text_is_not_wasm() {
        let engine = ArborEngine::new().unwrap();
        let path = write_temp("text.wasm", b"hello, world");
        let err = engine.load("t", &path).unwrap_err();
        assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");
    }

    #[test]
    fn a_component_without_the_lifecycle_exports_is_refused() {
        let engine = ArborEngine::new().unwrap();
        // The smallest valid component: header only, no exports.
        let path = write_temp("empty.wasm", b"\0asm\x0d\x00\x01\x00");
        let err = engine.load("empty", &path).unwrap_err();
        assert!(matches!(err, LoadError::Exports { .. }), "{err}");
        let text = err.to_string();
        assert!(!text.contains('\n'));
        // Both versions were tried, and each says why it did not match.
        for version in ["lifecycle@0.2", "0.2: ", "0.1.0: ", "wasi:http: "] {
            assert!(text.contains(version), "{text}");
        }
    }

    fn wat_core_module() -> Vec<u8> {
        // (module) in binary form.
        b"\0asm\x01\x00\x00\x00".to_vec()
    }
}
