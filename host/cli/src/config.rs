//! The one place the `arbor` command reads its environment: it turns
//! `ARBOR_CACHE_DIR` / `XDG_CACHE_HOME` / `HOME`, `ARBOR_ALLOCATOR` and
//! `ARBOR_WASM_BACKTRACE` into the runtime's configuration values, which
//! the library takes as plain arguments (it reads no environment itself).

use arbor::compile_cache::CompileCache;
use arbor::{Allocation, EngineSettings, NodeOptions, TreeSpec};

/// What the environment asks of the engine, beside the tree file.
pub struct EnvConfig {
    /// The compile cache directory, unless `ARBOR_CACHE_DIR=off`.
    pub cache: Option<CompileCache>,
    /// `ARBOR_ALLOCATOR=on-demand`: map memory per instance instead of a
    /// pool (a way to compare the two without rebuilding).
    pub on_demand: bool,
    /// `ARBOR_WASM_BACKTRACE=1`: the guest's stack in each crash's detail.
    pub wasm_backtrace: bool,
}

impl EnvConfig {
    /// Reads the variables.
    pub fn from_env() -> EnvConfig {
        let flag = |name: &str| matches!(std::env::var(name).as_deref(), Ok("1") | Ok("true"));
        EnvConfig {
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            on_demand: std::env::var("ARBOR_ALLOCATOR").as_deref() == Ok("on-demand"),
            wasm_backtrace: flag("ARBOR_WASM_BACKTRACE"),
        }
    }

    /// The engine settings for `tree` (`arbor check` uses the same as
    /// `arbor run`, so the compile cache it fills is the one a run uses).
    pub fn engine_settings(&self, tree: &TreeSpec) -> EngineSettings {
        let mut settings = EngineSettings::for_tree(tree);
        if self.on_demand {
            settings.allocation = Allocation::OnDemand;
        }
        settings.wasm_backtrace = self.wasm_backtrace;
        settings
    }

    /// Node options with these settings (events and threads at their defaults).
    pub fn node_options(self) -> NodeOptions {
        NodeOptions {
            allocation: self.on_demand.then_some(Allocation::OnDemand),
            cache: self.cache,
            wasm_backtrace: self.wasm_backtrace,
            ..NodeOptions::default()
        }
    }
}
