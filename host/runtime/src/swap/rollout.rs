//! The caller's side of a hot swap: finding the children, sending each its
//! request through its supervisor, and, for a whole component, pacing the
//! rollout (canaries first, a bounded batch at a time, a pause at the first
//! failure) and reporting which child runs which version.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::engine::LoadedComponent;
use crate::node::NodeHandle;
use crate::report::NodeReport;
use crate::supervisor::protocol::SupervisorCommand;
use crate::swap::SwapOptions;
use crate::swap::request::{SwapError, SwapReport, SwapRequest, SwapTo, micros};

/// One worker and the version it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildVersion {
    /// The worker's path.
    pub child: String,
    /// Its version (content hash).
    pub version: String,
}

/// What a swap of every child of a component did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutReport {
    /// The component.
    pub component: String,
    /// The version it was swapped to.
    pub to: String,
    /// Each child's swap that went through, in the order they ended.
    pub swapped: Vec<SwapReport>,
    /// The first failure, which paused the rollout.
    pub failed: Option<(String, SwapError)>,
    /// After the rollout: every child of the component and the version it
    /// runs.
    pub versions: Vec<ChildVersion>,
    /// How long the whole rollout took, microseconds.
    pub elapsed_us: u64,
    /// Nothing was changed.
    pub dry_run: bool,
}

impl RolloutReport {
    /// How many children run each version after the rollout.
    pub fn by_version(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in &self.versions {
            map.entry(&v.version).or_default().push(&v.child);
        }
        map
    }
}

impl std::fmt::Display for RolloutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (component, to, total) = (&self.component, &self.to, self.versions.len());
        if self.swapped.is_empty() && self.failed.is_none() && !self.dry_run {
            return write!(
                f,
                "component {component}: all {total} children already run {to}; children started from now on run it"
            );
        }
        let verb = if self.dry_run {
            "would swap"
        } else {
            "swapped"
        };
        write!(
            f,
            "component {component}: {verb} {} of {total} children to {to} in {}",
            self.swapped.len(),
            micros(self.elapsed_us)
        )?;
        if self.dry_run {
            write!(f, " (dry run: nothing changed)")?;
        }
        if let Some((_, error)) = &self.failed {
            write!(f, "; paused at the first failure:\n  {error}")?;
            for (version, children) in self.by_version() {
                let shown: Vec<&str> = children.iter().take(5).copied().collect();
                let more = children.len() - shown.len();
                write!(
                    f,
                    "\n  {version} runs in {} ({}{})",
                    plural(children.len(), "child", "children"),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )?;
            }
        }
        Ok(())
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A worker found in the tree: the supervisor that holds it, its name.
struct Target {
    supervisor: String,
    name: String,
    path: String,
    /// Its `[components]` entry.
    component: String,
}

impl NodeHandle {
    /// Reads, compiles and checks the component at `path` as a version of
    /// `[components]` entry `id`, off the async threads. Nothing running is
    /// touched; a failure says what is wrong with the file (not wasm, a core
    /// module, the wrong exports, imports the host does not provide).
    pub async fn prepare_component(
        &self,
        id: &str,
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, SwapError> {
        let engine = self.shared().engine.clone();
        let id = id.to_string();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || engine.load(&id, &path))
            .await
            .expect("component loading does not panic")
            .map(Arc::new)
            .map_err(|e| SwapError::Load(e.to_string()))
    }

    /// The `[components]` entry the worker `name` was started from.
    pub fn worker_component(&self, name: &str) -> Result<String, SwapError> {
        Ok(self.find_worker(name)?.component)
    }

    /// Swaps the worker `name` to `new` (see [`crate::swap`]): returns once
    /// its probation has passed, or with why it was refused or rolled back.
    pub async fn swap_child(
        &self,
        name: &str,
        new: Arc<LoadedComponent>,
        options: &SwapOptions,
    ) -> Result<SwapReport, SwapError> {
        let target = self.find_worker(name)?;
        self.request(&target, SwapTo::Version(new), options).await
    }

    /// Swaps the worker `name` back to the version it ran before its last
    /// swap, by the same path (state handed over, probation, rollback).
    pub async fn undo_swap(
        &self,
        name: &str,
        options: &SwapOptions,
    ) -> Result<SwapReport, SwapError> {
        let target = self.find_worker(name)?;
        self.request(&target, SwapTo::Previous, options).await
    }

    /// Swaps every worker running component `id` (dynamic children
    /// included) to `new`: `options.canary` of them first, waiting for their
    /// probation, then the rest, at most `options.batch` at a time. The
    /// first failure pauses the rollout (children already swapped keep the
    /// new version) and the error's report says which child runs which
    /// version. Once every child runs `new`, children added from then on run
    /// it too.
    pub async fn swap_component(
        &self,
        id: &str,
        new: Arc<LoadedComponent>,
        options: &SwapOptions,
    ) -> Result<RolloutReport, SwapError> {
        if self.component(id).is_none() {
            return Err(SwapError::NoSuchComponent(id.to_string()));
        }
        let started = Instant::now();
        let mut report = RolloutReport {
            component: id.to_string(),
            to: new.hash.clone(),
            swapped: Vec::new(),
            failed: None,
            versions: Vec::new(),
            elapsed_us: 0,
            dry_run: options.dry_run,
        };
        // Two passes: children added while the first ran still run the
        // old version, and the table changes only after the first.
        for pass in 0..2 {
            let targets = self.workers_of(id, &new.hash)?;
            let canary = if pass == 0 { options.canary } else { 0 };
            let (canaries, rest) = targets.split_at(canary.min(targets.len()));
            for group in [canaries, rest] {
                self.swap_many(group, &new, options, &mut report).await;
                if report.failed.is_some() {
                    break;
                }
            }
            if report.failed.is_some() || options.dry_run {
                break;
            }
            if pass == 0 {
                self.shared()
                    .components
                    .write()
                    .expect("the component table is never poisoned")
                    .insert(id.to_string(), new.clone());
            }
        }
        report.versions = self.versions_of(id)?;
        report.elapsed_us = started.elapsed().as_micros() as u64;
        if report.failed.is_some() {
            return Err(SwapError::Rollout(Box::new(report)));
        }
        Ok(report)
    }

    /// Swaps `targets`, at most `options.batch` at once, until one fails.
    async fn swap_many(
        &self,
        targets: &[Target],
        new: &Arc<LoadedComponent>,
        options: &SwapOptions,
        report: &mut RolloutReport,
    ) {
        let mut running = JoinSet::new();
        let mut next = targets.iter();
        loop {
            while report.failed.is_none() && running.len() < options.batch.max(1) {
                let Some(target) = next.next() else { break };
                let node = self.clone();
                let to = SwapTo::Version(new.clone());
                let request = node.request(target, to, options);
                let path = target.path.clone();
                running.spawn(async move { (path, request.await) });
            }
            let Some(done) = running.join_next().await else {
                return;
            };
            let (path, result) = done.expect("a swap task does not panic");
            match result {
                Ok(swapped) => report.swapped.push(swapped),
                Err(error) => {
                    if report.failed.is_none() {
                        report.failed = Some((path, error));
                    }
                }
            }
        }
    }

    /// Sends one child's request and returns a future of its answer.
    fn request(
        &self,
        target: &Target,
        to: SwapTo,
        options: &SwapOptions,
    ) -> impl std::future::Future<Output = Result<SwapReport, SwapError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let now = Instant::now();
        let request = SwapRequest {
            to,
            fresh: options.fresh,
            dry_run: options.dry_run,
            probation: options.probation,
            sent: now,
            drain_deadline: now + options.drain_timeout,
            events: self.events().clone(),
            args: Vec::new(),
            callback_timeout: Duration::ZERO,
            view: None,
            reply,
        };
        let sent = self.supervisor_ref(&target.supervisor).ok().and_then(|s| {
            s.commands
                .send(SupervisorCommand::SwapChild(target.name.clone(), request))
                .ok()
        });
        let path = target.path.clone();
        async move {
            if sent.is_none() {
                return Err(SwapError::SupervisorGone(path));
            }
            answer.await.unwrap_or_else(|_| {
                Err(SwapError::Interrupted {
                    child: path,
                    detail: "it stopped before its swap ended".to_string(),
                })
            })
        }
    }

    /// The worker `name` and its supervisor, from the published tree.
    fn find_worker(&self, name: &str) -> Result<Target, SwapError> {
        let name = name.rsplit('/').next().unwrap_or(name);
        let mut found = None;
        self.walk_workers(&mut |supervisor, worker| {
            if worker.path.rsplit('/').next() == Some(name) {
                found = Some(Target {
                    supervisor: supervisor.to_string(),
                    name: name.to_string(),
                    path: worker.path.clone(),
                    component: worker.component.clone().unwrap_or_default(),
                });
            }
        })?;
        match found {
            Some(target) => Ok(target),
            None if self.supervisor_ref(name).is_ok() => {
                Err(SwapError::NotAWorker(name.to_string()))
            }
            None => Err(SwapError::NoSuchChild(name.to_string())),
        }
    }

    /// Workers of component `id` not yet at version `hash`, in tree order.
    fn workers_of(&self, id: &str, hash: &str) -> Result<Vec<Target>, SwapError> {
        let mut targets = Vec::new();
        self.walk_workers(&mut |supervisor, worker| {
            if worker.component.as_deref() == Some(id) && worker.version.as_deref() != Some(hash) {
                targets.push(Target {
                    supervisor: supervisor.to_string(),
                    name: worker
                        .path
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    path: worker.path.clone(),
                    component: id.to_string(),
                });
            }
        })?;
        Ok(targets)
    }

    /// Every worker of component `id` and the version it runs.
    fn versions_of(&self, id: &str) -> Result<Vec<ChildVersion>, SwapError> {
        let mut versions = Vec::new();
        self.walk_workers(&mut |_, worker| {
            if worker.component.as_deref() == Some(id) {
                versions.push(ChildVersion {
                    child: worker.path.clone(),
                    version: worker.version.clone().unwrap_or_default(),
                });
            }
        })?;
        Ok(versions)
    }

    /// Calls `visit(supervisor name, worker)` for every worker in the tree.
    fn walk_workers(&self, visit: &mut dyn FnMut(&str, &NodeReport)) -> Result<(), SwapError> {
        fn walk(node: &NodeReport, visit: &mut dyn FnMut(&str, &NodeReport)) {
            let name = node.path.rsplit('/').next().unwrap_or_default();
            for child in &node.children {
                if child.kind == "worker" {
                    visit(name, child);
                } else {
                    walk(child, visit);
                }
            }
        }
        let tree = self
            .tree_now()
            .map_err(|e| SwapError::SupervisorGone(e.to_string()))?;
        walk(&tree, visit);
        Ok(())
    }
}
