//! The one place the `arbor` command reads its environment: it turns
//! `ARBOR_CACHE_DIR` / `XDG_CACHE_HOME` / `HOME`, `ARBOR_ALLOCATOR`,
//! `ARBOR_WASM_BACKTRACE` and `ARBOR_SPIN_US` into the runtime's configuration values, which
//! the library takes as plain arguments (it reads no environment itself).

use arbor::compile_cache::CompileCache;
use std::time::Duration;

use anyhow::bail;
use arbor::{Allocation, EngineSettings, NodeOptions, SpinPolicy, TreeSpec};

/// What the environment asks of the engine, beside the tree file.
pub struct EnvConfig {
    /// The compile cache directory, unless `ARBOR_CACHE_DIR=off`.
    pub cache: Option<CompileCache>,
    /// `ARBOR_ALLOCATOR=on-demand`: map memory per instance instead of a
    /// pool (a way to compare the two without rebuilding).
    pub on_demand: bool,
    /// `ARBOR_WASM_BACKTRACE=1`: the guest's stack in each crash's detail.
    pub wasm_backtrace: bool,
    /// `ARBOR_SPIN_US=N`: how long threads spin before they sleep (0: not
    /// at all, for a host sharing busy cores); 50 by default.
    pub spin: SpinPolicy,
}

/// The spin policy `ARBOR_SPIN_US` asks for (`None`: unset).
fn spin_from(value: Option<&str>) -> anyhow::Result<SpinPolicy> {
    let Some(value) = value else {
        return Ok(SpinPolicy::default());
    };
    let Ok(micros) = value.trim().parse::<u64>() else {
        bail!(
            "ARBOR_SPIN_US must be a whole number of microseconds (0 turns spinning off), not {value:?}"
        );
    };
    if micros > 10_000 {
        bail!(
            "ARBOR_SPIN_US={micros} would spin up to {micros} us before each sleep; at most 10000"
        );
    }
    let spin = Duration::from_micros(micros);
    Ok(SpinPolicy {
        park: spin,
        caller: spin,
    })
}

impl EnvConfig {
    /// Reads the variables; a malformed one is an error that names it.
    pub fn from_env() -> anyhow::Result<EnvConfig> {
        let flag = |name: &str| matches!(std::env::var(name).as_deref(), Ok("1") | Ok("true"));
        Ok(EnvConfig {
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            on_demand: std::env::var("ARBOR_ALLOCATOR").as_deref() == Ok("on-demand"),
            wasm_backtrace: flag("ARBOR_WASM_BACKTRACE"),
            spin: spin_from(std::env::var("ARBOR_SPIN_US").ok().as_deref())?,
        })
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
            spin: self.spin,
            ..NodeOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbor_spin_us_sets_both_spins_and_zero_turns_them_off() {
        assert_eq!(spin_from(None).unwrap(), SpinPolicy::default());
        assert_eq!(spin_from(Some("0")).unwrap(), SpinPolicy::OFF);
        let twenty = spin_from(Some("20")).unwrap();
        assert_eq!(twenty.park, Duration::from_micros(20));
        assert_eq!(twenty.caller, Duration::from_micros(20));
    }

    #[test]
    fn a_malformed_or_huge_arbor_spin_us_is_an_error_naming_it() {
        let error = spin_from(Some("fast")).unwrap_err().to_string();
        assert!(
            error.contains("ARBOR_SPIN_US") && error.contains("\"fast\""),
            "{error}"
        );
        let error = spin_from(Some("1000000")).unwrap_err().to_string();
        assert!(error.contains("at most 10000"), "{error}");
    }
}
