//! The on-disk cache of compiled components.
//!
//! Compiling a component takes 30 ms for a small Rust guest and 5-10 s for an
//! 18 MB Python or JavaScript one; loading the precompiled artifact by mmap
//! takes microseconds to milliseconds. The cache key is the SHA-256 of the
//! component's bytes and of the engine's compatibility hash (wasmtime version,
//! target, and every setting that affects code), so a changed component or a
//! changed engine never loads a stale artifact.
//!
//! Loading an artifact runs its code, so only artifacts this user wrote may
//! be loaded. The directory is created owner-only (0700), and, as ssh does
//! for `~/.ssh`, it is checked before every load: a directory of another
//! user, or one its group or others may write, is not used at all (a
//! warning, once, and components are compiled without the cache: a bad
//! cache never stops a host); an artifact that is a symlink, of another
//! user, or writable by others is not loaded but compiled afresh. Only the
//! directory itself is checked, not its parents (ssh also walks those up to
//! the home directory): a parent others may write could let them swap the
//! whole directory.

use std::ffi::OsString;
use std::fs::Metadata;
use std::hash::Hasher;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Compiled without looking in the cache: its directory is not private
    /// to this user, so nothing in it is loaded (a warning says why).
    Untrusted,
}

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    /// Whether the untrusted-directory warning was logged: once per cache
    /// (and its clones), not once per component.
    warned: Arc<AtomicBool>,
}

/// Why a path in the cache is not trusted to hold code this user wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Distrust {
    /// Another user owns it.
    #[error("it is owned by uid {owner} (mode {mode:04o}), not by this user (uid {me})")]
    Owner { owner: u32, mode: u32, me: u32 },
    /// Its group or others may write it (or replace what is in it).
    #[error("it is writable by its group or others (owner uid {owner}, mode {mode:04o})")]
    Writable { owner: u32, mode: u32 },
    /// An artifact that is a symlink could point anywhere.
    #[error("it is a symbolic link")]
    Symlink,
    /// Not a directory (the cache) or not a regular file (an artifact).
    #[error("it is not a {0}")]
    Kind(&'static str),
    /// Its owner or mode could not be read.
    #[error("cannot check its owner and mode: {0}")]
    Unchecked(String),
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
        CompileCache {
            dir: dir.into(),
            warned: Arc::default(),
        }
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
    /// `on_compile` first, to tell the user) and stores one. A cache
    /// directory that is not private to this user is not used at all.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        on_compile: impl FnOnce(),
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        if let Err(why) = self.check_dir() {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("{}", untrusted_dir_message(&self.dir, &why));
            }
            on_compile();
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Untrusted));
        }
        let path = self.artifact_path(engine, bytes);
        if let Some(component) = load_trusted(engine, &path) {
            return Ok((component, CacheOutcome::Hit));
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

    /// Whether the directory is this user's alone. A missing one is fine:
    /// [`CompileCache::store`] creates it owner-only.
    fn check_dir(&self) -> Result<(), Distrust> {
        let meta = match std::fs::metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Distrust::Unchecked(e.to_string())),
        };
        if !meta.is_dir() {
            return Err(Distrust::Kind("directory"));
        }
        private(&meta, current_uid()?)
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

/// The user whose artifacts may be loaded: the effective uid, read without
/// `unsafe` as the owner of `/proc/self` (Linux).
fn current_uid() -> Result<u32, Distrust> {
    std::fs::metadata("/proc/self")
        .map(|meta| meta.uid())
        .map_err(|e| Distrust::Unchecked(format!("cannot read /proc/self: {e}")))
}

/// Whether `meta` is owned by `me` and writable by nobody else.
fn private(meta: &Metadata, me: u32) -> Result<(), Distrust> {
    let (owner, mode) = (meta.uid(), meta.mode() & 0o7777);
    if owner != me {
        return Err(Distrust::Owner { owner, mode, me });
    }
    if mode & 0o022 != 0 {
        return Err(Distrust::Writable { owner, mode });
    }
    Ok(())
}

/// The warning for a cache directory that is not used: where, why, and how
/// to fix it.
fn untrusted_dir_message(dir: &Path, why: &Distrust) -> String {
    format!(
        "not using the compile cache {dir}: {why}; loading a cached artifact runs its code, \
         so the directory must be yours alone: `chmod 700 {dir}` (and `chown` it to yourself), \
         or set ARBOR_CACHE_DIR=off; components are compiled each time meanwhile",
        dir = dir.display()
    )
}

/// Whether the artifact at `path` may be loaded: `Ok(false)` when there is
/// none yet.
fn check_artifact(path: &Path) -> Result<bool, Distrust> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Distrust::Unchecked(e.to_string())),
    };
    if meta.file_type().is_symlink() {
        return Err(Distrust::Symlink);
    }
    if !meta.is_file() {
        return Err(Distrust::Kind("regular file"));
    }
    private(&meta, current_uid()?)?;
    Ok(true)
}

/// The component stored at `path`, if there is one this user wrote and it
/// loads. Any other file there is removed (the directory is this user's, so
/// nobody else's file is deleted), so the fresh artifact can take its place.
fn load_trusted(engine: &Engine, path: &Path) -> Option<Component> {
    match check_artifact(path) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(why) => {
            tracing::warn!(
                "not loading the cached artifact {}: {why}; compiling it afresh",
                path.display()
            );
            let _ = std::fs::remove_file(path);
            return None;
        }
    }
    match load_artifact(engine, path) {
        Ok(component) => Some(component),
        Err(e) => {
            // A truncated or foreign file: drop it and compile afresh.
            tracing::warn!(
                "discarding unusable cached artifact {}: {e:#}",
                path.display()
            );
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

#[expect(
    unsafe_code,
    reason = "deserializing runs native code from the file: only artifacts of this user, private to it, keyed by a SHA-256 of the source and engine, in a directory private to this user, are loaded"
)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: see the `expect` reason above: `load_trusted` checked the file
    // and `load_or_compile` its directory, and as nobody else may write in
    // that directory, nobody can swap the file between the check and this
    // map. wasmtime also checks the artifact's header against the engine.
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

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_group_writable_cache_dir_is_not_loaded_from_until_it_is_private_again() {
        let engine = Engine::default();
        let dir = temp_dir("group-writable");
        let cache = CompileCache::new(&dir);
        // Filled while private, then opened to the group.
        cache.load_or_compile(&engine, EMPTY, || ()).unwrap();
        set_mode(&dir, 0o770);
        let mut compiled = false;
        let (_, outcome) = cache
            .load_or_compile(&engine, EMPTY, || compiled = true)
            .unwrap();
        assert!(compiled, "compiled, not mapped from a dir others can write");
        assert_eq!(outcome, CacheOutcome::Untrusted);
        set_mode(&dir, 0o700);
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn an_artifact_its_group_may_write_is_compiled_afresh_not_mapped() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let cache = CompileCache::new(temp_dir("artifact-mode"));
        cache.load_or_compile(&engine, EMPTY, || ()).unwrap();
        let path = cache.artifact_path(&engine, EMPTY);
        set_mode(&path, 0o620);
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Compiled
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the replacement is private: {mode:o}");
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn a_symlinked_artifact_is_compiled_afresh_not_followed() {
        let engine = Engine::default();
        let dir = temp_dir("artifact-symlink");
        let cache = CompileCache::new(&dir);
        cache.load_or_compile(&engine, EMPTY, || ()).unwrap();
        let path = cache.artifact_path(&engine, EMPTY);
        // A valid artifact, private to this user, but outside the cache.
        let elsewhere = dir.with_extension("elsewhere.cwasm");
        std::fs::copy(&path, &elsewhere).unwrap();
        set_mode(&elsewhere, 0o600);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Compiled
        );
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(
            cache.load_or_compile(&engine, EMPTY, || ()).unwrap().1,
            CacheOutcome::Hit
        );
        let _ = std::fs::remove_file(elsewhere);
    }

    #[test]
    fn a_cache_dir_of_another_user_is_not_trusted_and_the_warning_says_how_to_fix_it() {
        use std::os::unix::fs::DirBuilderExt;
        let dir = temp_dir("foreign");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        let me = meta.uid();
        assert_eq!(private(&meta, me), Ok(()));
        let why = private(&meta, me.wrapping_add(1)).unwrap_err();
        let message = untrusted_dir_message(&dir, &why);
        assert!(
            message.contains(&format!("owned by uid {me} (mode 0700)")),
            "{message}"
        );
        for fix in [
            format!("chmod 700 {}", dir.display()),
            "chown".to_string(),
            "ARBOR_CACHE_DIR=off".to_string(),
        ] {
            assert!(message.contains(&fix), "{fix} in {message}");
        }
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
