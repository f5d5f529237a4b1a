//! The on-disk cache of compiled components.
//!
//! Compiling a component takes 30 ms for a small Rust guest and 5-10 s for an
//! 18 MB Python or JavaScript one; loading the precompiled artifact by mmap
//! takes microseconds to milliseconds. The cache key is the SHA-256 of the
//! component's bytes and of the engine's compatibility hash (wasmtime version,
//! target, and every setting that affects code), so a changed component or a
//! changed engine never loads a stale artifact.
//!
//! The cache directory is created owner-only: loading an artifact runs its
//! code, so only artifacts this host wrote may be there.

use std::ffi::OsString;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a load hit the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled, and stored the artifact for next time.
    Compiled,
    /// Compiled; the cache is off or could not be written.
    Uncached,
}

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0 // unused: the digest is read from the inner state
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// The usual place, given a way to read the variables `ARBOR_CACHE_DIR`,
    /// `XDG_CACHE_HOME` and `HOME` (the caller passes `std::env::var_os`;
    /// this library reads no environment itself): the first, else
    /// `$XDG_CACHE_HOME/arbor`, else `~/.cache/arbor`; `None` when
    /// `ARBOR_CACHE_DIR` is `off` or no home is known.
    pub fn user_default(var: impl Fn(&str) -> Option<OsString>) -> Option<CompileCache> {
        if let Some(dir) = var("ARBOR_CACHE_DIR") {
            return (dir != "off").then(|| CompileCache::new(dir));
        }
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(CompileCache::new(base.join("arbor")))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn artifact_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut hasher = ShaHasher(Sha256::new());
        hasher.write(bytes);
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let digest = hasher.0.finalize();
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.cwasm"))
    }

    /// Loads the artifact for `bytes`, or compiles them (calling
    /// `on_compile` first, to tell the user) and stores one.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        on_compile: impl FnOnce(),
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.artifact_path(engine, bytes);
        if path.exists() {
            match load_artifact(engine, &path) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    // A truncated or foreign file: drop it and compile afresh.
                    tracing::warn!(
                        "discarding unusable cached artifact {}: {e:#}",
                        path.display()
                    );
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        on_compile();
        let component = Component::new(engine, bytes)?;
        let outcome = match self.store(&component, &path) {
            Ok(()) => CacheOutcome::Compiled,
            Err(e) => {
                tracing::warn!(
                    "cannot write the compile cache in {}: {e}",
                    self.dir.display()
                );
                CacheOutcome::Uncached
            }
        };
        Ok((component, outcome))
    }

    fn store(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let serialized = component.serialize().map_err(std::io::Error::other)?;
        // Write then rename, so a reader never maps a half-written file.
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, serialized)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temp, path)
    }
}

#[expect(
    unsafe_code,
    reason = "deserializing runs native code from the file: only artifacts this host wrote, keyed by a SHA-256 of the source and engine, in an owner-only directory, are loaded"
)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: see the `expect` reason above; wasmtime also checks the
    // artifact's header against the engine before using it.
    unsafe { Component::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The smallest valid component: header only.
    const EMPTY: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("arbor-cache-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_load_hits_the_cache() {
        let engine = Engine::default();
        let cache = CompileCache::new(temp_dir("hit"));
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Compiled
        );
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn a_corrupt_artifact_is_replaced_not_trusted() {
        let engine = Engine::default();
        let cache = CompileCache::new(temp_dir("corrupt"));
        cache.load_or_compile(&engine, EMPTY, || ()).unwrap();
        let path = cache.artifact_path(&engine, EMPTY);
        std::fs::write(&path, b"garbage").unwrap();
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Compiled
        );
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn different_engine_settings_use_different_artifacts() {
        let plain = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let epochs = Engine::new(&config).unwrap();
        let cache = CompileCache::new(temp_dir("engines"));
        assert_ne!(
            cache.artifact_path(&plain, EMPTY),
            cache.artifact_path(&epochs, EMPTY)
        );
    }
}
