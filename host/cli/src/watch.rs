//! `arbor run --watch`: keeps a running host in step with its files. When a
//! component file named in the tree changes, every child running that
//! component is swapped to it, by the same path as `arbor ctl swap
//! --component` with the default options (state carried over when both
//! versions export `handover`; otherwise the swap is refused and the log
//! says why); when the tree file changes, it is applied as `arbor ctl
//! apply` does.
//!
//! Editors and build tools write a file in several steps (truncate, write
//! in chunks, rename over the old one), and a half-written wasm must not be
//! swapped in. So a change is acted on only once the watched files have
//! been quiet for [`QUIET`], and each changed file's bytes, read twice
//! [`STABLE`] apart, are the same; a file that still does not compile is
//! logged, and the next change is waited for. Directories are watched, not
//! files: a save by rename replaces the very file a watch would follow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use arbor::engine::content_hash;
use arbor::{ApplyOptions, NodeHandle, SwapOptions, TreeSpec};

/// How long the watched files must be quiet before a change is acted on.
pub const QUIET: Duration = Duration::from_millis(300);
/// How far apart the two reads of a changed file are that must agree.
pub const STABLE: Duration = Duration::from_millis(100);
/// How often the files to watch are looked up again while none changes
/// (an `arbor ctl apply` may name new component files).
const REFRESH: Duration = Duration::from_secs(1);
/// How many times a file that keeps changing is read before giving up on
/// this change (the next one starts over).
const STABLE_TRIES: usize = 50;

/// A running watch; dropping it stops watching.
pub struct Watch {
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a watched file is to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// The tree file.
    Tree,
    /// The file of these `[components]` ids.
    Component(BTreeSet<String>),
}

/// Starts watching `tree` (the file `node` was started from) and the
/// component files its running tree names; returns once they are watched.
pub async fn start(node: NodeHandle, tree: &Path) -> anyhow::Result<Watch> {
    let tree =
        std::path::absolute(tree).with_context(|| format!("cannot resolve {}", tree.display()))?;
    let (tx, events) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event| {
        // The receiver is gone only once the watch stopped.
        let _ = tx.send(event);
    })
    .context("cannot watch files (--watch)")?;
    let mut dirs = Dirs {
        watcher,
        watched: BTreeSet::new(),
    };
    dirs.cover(&files_of(&tree, &node.running_tree().await));
    let task = tokio::spawn(run(node, tree, dirs, events));
    Ok(Watch { task })
}

/// The directories watched, so far.
struct Dirs {
    watcher: notify::RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
}

impl Dirs {
    /// Watches the directory of each of `files` not watched yet (an apply
    /// may name new component files).
    fn cover(&mut self, files: &BTreeMap<PathBuf, Role>) {
        for dir in files.keys().filter_map(|f| f.parent()) {
            if self.watched.insert(dir.to_path_buf()) {
                match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => tracing::debug!("watching {}", dir.display()),
                    Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
                }
            }
        }
    }
}

async fn run(
    node: NodeHandle,
    tree: PathBuf,
    mut dirs: Dirs,
    mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
) {
    loop {
        let files = files_of(&tree, &node.running_tree().await);
        dirs.cover(&files);
        let mut changed = BTreeSet::new();
        while changed.is_empty() {
            match tokio::time::timeout(REFRESH, events.recv()).await {
                Ok(Some(event)) => note(event, &files, &mut changed),
                Ok(None) => return,
                // An `arbor ctl apply` may have named other files.
                Err(_) => break,
            }
        }
        if changed.is_empty() {
            continue;
        }
        // Quiet first: the writer may not be done.
        loop {
            match tokio::time::timeout(QUIET, events.recv()).await {
                Ok(Some(event)) => note(event, &files, &mut changed),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let mut stable = BTreeMap::new();
        for path in &changed {
            match stable_bytes(path).await {
                Some(bytes) => {
                    stable.insert(path.clone(), bytes);
                }
                None => tracing::warn!(
                    "watch: {} changed but is gone or never stopped changing; waiting for the next change",
                    path.display()
                ),
            }
        }
        act(&node, &tree, &files, &stable).await;
    }
}

/// Every file to watch and what it is, by absolute path (and, for a
/// symbolic link, by the path it resolves to as well: a build writes the
/// target).
fn files_of(tree: &Path, running: &TreeSpec) -> BTreeMap<PathBuf, Role> {
    let mut files: BTreeMap<PathBuf, Role> = BTreeMap::new();
    let mut add = |path: &Path, role: Role| {
        let Ok(path) = std::path::absolute(path) else {
            return;
        };
        let real = std::fs::canonicalize(&path).ok();
        for path in std::iter::once(path).chain(real) {
            match (files.get_mut(&path), &role) {
                (Some(Role::Component(ids)), Role::Component(more)) => ids.extend(more.clone()),
                (Some(_), _) => {}
                (None, _) => {
                    files.insert(path, role.clone());
                }
            }
        }
    };
    add(tree, Role::Tree);
    for (id, source) in &running.components {
        add(&source.path, Role::Component(BTreeSet::from([id.clone()])));
    }
    files
}

/// Adds the watched files `event` is about to `changed`.
fn note(
    event: notify::Result<notify::Event>,
    files: &BTreeMap<PathBuf, Role>,
    changed: &mut BTreeSet<PathBuf>,
) {
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!("watch: {e}");
            return;
        }
    };
    // Reads (an open, a close after reading) change nothing.
    if let EventKind::Access(kind) = event.kind
        && !matches!(
            kind,
            notify::event::AccessKind::Close(notify::event::AccessMode::Write)
        )
    {
        return;
    }
    for path in event.paths {
        if files.contains_key(&path) {
            changed.insert(path);
        }
    }
}

/// The file's bytes once two reads [`STABLE`] apart agree; `None` if it is
/// gone or never settles.
async fn stable_bytes(path: &Path) -> Option<Vec<u8>> {
    let mut last = read(path).await;
    for _ in 0..STABLE_TRIES {
        tokio::time::sleep(STABLE).await;
        let now = read(path).await;
        match (&last, &now) {
            (None, None) => return None, // gone, and not coming back
            (Some(_), Some(_)) if now == last => return now,
            _ => last = now,
        }
    }
    None
}

/// The file's bytes, read off the async threads; `None` if it cannot be read.
async fn read(path: &Path) -> Option<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::read(path).ok())
        .await
        .ok()
        .flatten()
}

/// Carries out what the settled files ask for: the tree file changed, an
/// apply (which swaps changed components too); else a swap per changed
/// component.
async fn act(
    node: &NodeHandle,
    tree: &Path,
    files: &BTreeMap<PathBuf, Role>,
    stable: &BTreeMap<PathBuf, Vec<u8>>,
) {
    if stable.keys().any(|p| files.get(p) == Some(&Role::Tree)) {
        apply(node, tree).await;
        return;
    }
    let mut swapped = BTreeSet::new();
    for (path, bytes) in stable {
        let Some(Role::Component(ids)) = files.get(path) else {
            continue;
        };
        for id in ids {
            if swapped.insert(id.clone()) {
                swap(node, id, path, bytes).await;
            }
        }
    }
}

async fn apply(node: &NodeHandle, tree: &Path) {
    let new = match TreeSpec::load(tree) {
        Ok(new) => new,
        Err(e) => {
            tracing::error!(
                "watch: the tree file changed but is not valid, so nothing was applied: {e}"
            );
            return;
        }
    };
    match node.apply(&new, &ApplyOptions::default()).await {
        Ok(report) => {
            for line in report.to_string().lines() {
                tracing::info!("watch: {}: {line}", tree.display());
            }
        }
        Err(e) => tracing::error!("watch: applying {} failed: {e}", tree.display()),
    }
}

async fn swap(node: &NodeHandle, id: &str, path: &Path, bytes: &[u8]) {
    let running = node.component(id).map(|c| c.hash.clone());
    if running.as_deref() == Some(content_hash(bytes).as_str()) {
        return; // rewritten with the same content
    }
    let new = match node.prepare_component(id, path).await {
        Ok(new) => new,
        Err(e) => {
            tracing::error!(
                "watch: {} changed but cannot be swapped in; waiting for the next change: {e}",
                path.display()
            );
            return;
        }
    };
    if running.as_deref() == Some(new.hash.as_str()) {
        return;
    }
    match node.swap_component(id, new, &SwapOptions::default()).await {
        Ok(report) => tracing::info!("watch: {}: {report}", path.display()),
        Err(e) => tracing::error!("watch: swapping {} failed: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> TreeSpec {
        let text = "[components]\na = \"a.wasm\"\nb = \"a.wasm\"\nc = \"c.wasm\"\n\n[supervisor]\nname = \"root\"\n";
        TreeSpec::parse(&dir.join("tree.toml"), text).unwrap()
    }

    #[test]
    fn each_watched_file_knows_every_component_id_it_holds() {
        let dir = std::env::temp_dir().join(format!("arbor-watch-{}", std::process::id()));
        let files = files_of(&dir.join("tree.toml"), &tree(&dir));
        assert_eq!(files[&dir.join("tree.toml")], Role::Tree);
        assert_eq!(
            files[&dir.join("a.wasm")],
            Role::Component(BTreeSet::from(["a".to_string(), "b".to_string()]))
        );
        assert_eq!(
            files[&dir.join("c.wasm")],
            Role::Component(BTreeSet::from(["c".to_string()]))
        );
    }

    #[tokio::test]
    async fn a_file_still_being_written_is_read_once_it_stops_changing() {
        let dir = std::env::temp_dir().join(format!("arbor-watch-stable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grows.wasm");
        std::fs::write(&path, b"part").unwrap();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    tokio::time::sleep(STABLE / 2).await;
                    let mut bytes = std::fs::read(&path).unwrap();
                    bytes.extend_from_slice(format!(" more{i}").as_bytes());
                    std::fs::write(&path, bytes).unwrap();
                }
            })
        };
        let bytes = stable_bytes(&path).await.unwrap();
        writer.await.unwrap();
        assert_eq!(bytes, std::fs::read(&path).unwrap(), "the whole file");
        assert!(bytes.ends_with(b" more4"));
        assert_eq!(stable_bytes(&dir.join("missing.wasm")).await, None);
    }
}
