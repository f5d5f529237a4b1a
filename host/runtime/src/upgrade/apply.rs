//! Carrying out an apply ([`NodeHandle::apply`]): the new file's components
//! are read and, where their content changed, compiled and checked before
//! anything is touched; then the [`Plan`]'s steps run in order. The first
//! step that fails stops the apply: the component swaps made before it
//! are swapped back (in reverse order, each to the exact version the host
//! ran, kept in memory, since its file may have been overwritten), and the
//! error names the failed step, why, and what stays applied.
//!
//! The host remembers the tree it runs ([`NodeHandle::running_tree`]):
//! after a successful apply, the new file; after a failed one, the old tree
//! with the steps that stay applied. So applying the same file again
//! changes nothing, and a nested supervisor that its parent restarts later
//! comes back as the tree says (each touched one's spec is handed to its
//! parent, [`NodeHandle::update_child`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{LoadedComponent, content_hash};
use crate::node::{CommandError, NodeHandle};
use crate::report::NodeReport;
use crate::spec::{ChildSpec, ComponentSource, SpecError, TreeSpec};
use crate::supervisor::protocol::ChildCommandError;
use crate::swap::{SwapError, SwapOptions};
use crate::upgrade::edit::child_at;
use crate::upgrade::plan::{ComponentVersions, Plan, Step};
use crate::vocab::StartOutcome;

/// How an apply is carried out.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Compute the plan and check the changed components (read, compiled,
    /// checked against the contract), and change nothing.
    pub dry_run: bool,
    /// How each component is swapped (and swapped back on a rollback).
    pub swap: SwapOptions,
}

/// What an apply did (or, for a dry run, would do).
#[derive(Debug, Clone)]
pub struct ApplyReport {
    /// The plan, in the order it was carried out.
    pub plan: Plan,
    /// Each step as carried out, with what the host answered when it is
    /// worth saying (`- stop root/old => already gone`).
    pub applied: Vec<String>,
    /// Nothing was changed.
    pub dry_run: bool,
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "dry run: nothing was changed; the plan:")?;
            return write!(f, "{}", self.plan);
        }
        if self.applied.is_empty() {
            return writeln!(f, "nothing to change");
        }
        writeln!(f, "applied:")?;
        for step in &self.applied {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file asks for a change a running tree cannot take; nothing was
    /// changed.
    #[error("{0}; nothing was changed")]
    NotInPlace(#[from] SpecError),
    /// A component file could not be read; nothing was changed.
    #[error("component {id}: {}: cannot read the component: {source}; nothing was changed", path.display())]
    Read {
        /// The `[components]` id.
        id: String,
        /// Its file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A changed component did not compile or does not fit the contract;
    /// nothing was changed.
    #[error("component {id}: {error}; nothing was changed")]
    Prepare {
        /// The `[components]` id.
        id: String,
        /// Why.
        error: SwapError,
    },
    /// A step failed: the apply stopped there and swapped back the
    /// components it had swapped.
    #[error("{0}")]
    Step(Box<StepFailure>),
}

/// A step that failed, and what stays applied.
#[derive(Debug)]
pub struct StepFailure {
    /// The step, as the plan shows it.
    pub step: String,
    /// Why it failed.
    pub why: String,
    /// The steps carried out before it that stay applied.
    pub applied: Vec<String>,
    /// The component swaps undone, in the order they were undone.
    pub rolled_back: Vec<String>,
    /// Swaps that could not be undone, and why: those components run their
    /// new version.
    pub rollback_failed: Vec<String>,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join("; ")
            }
        };
        write!(
            f,
            "apply stopped at `{}`: {}; rolled back: {}",
            self.step,
            self.why,
            list(&self.rolled_back)
        )?;
        if !self.rollback_failed.is_empty() {
            write!(f, "; could not roll back: {}", list(&self.rollback_failed))?;
        }
        let kept: Vec<String> = self
            .applied
            .iter()
            .filter(|step| !step.starts_with("~ swap "))
            .cloned()
            .collect();
        write!(f, "; still applied: {}", list(&kept))
    }
}

/// A component swapped by this apply, and how to put it back.
struct Swapped {
    id: String,
    /// The version the host ran before (its file may be gone).
    old: Arc<LoadedComponent>,
    /// Where the running tree said it came from.
    source: Option<ComponentSource>,
    line: String,
}

impl NodeHandle {
    /// Changes the running tree to match `new` (a changed tree file), as
    /// the [`Plan`] between the two says, and remembers `new` as the tree
    /// it runs. With `options.dry_run`, only computes the plan and checks
    /// the changed components. Two applies never interleave: a second waits
    /// for the first.
    pub async fn apply(
        &self,
        new: &TreeSpec,
        options: &ApplyOptions,
    ) -> Result<ApplyReport, ApplyError> {
        let mut running = self.running.lock().await;
        let live = self.tree().await.ok();
        let mut versions = BTreeMap::new();
        let mut prepared: BTreeMap<String, Arc<LoadedComponent>> = BTreeMap::new();
        for (id, source) in &new.components {
            let bytes = read(&source.path)
                .await
                .map_err(|source_error| ApplyError::Read {
                    id: id.clone(),
                    path: source.path.clone(),
                    source: source_error,
                })?;
            let current = self.component(id).map(|c| c.hash.clone());
            let mut hash = content_hash(&bytes);
            if current.as_ref() != Some(&hash) {
                let component =
                    self.prepare_component(id, &source.path)
                        .await
                        .map_err(|error| ApplyError::Prepare {
                            id: id.clone(),
                            error,
                        })?;
                // The file may have changed since it was read: what runs is
                // what was compiled.
                hash = component.hash.clone();
                prepared.insert(id.clone(), component);
            }
            let children = live.as_ref().map_or(0, |l| workers_of(l, id));
            versions.insert(
                id.clone(),
                ComponentVersions {
                    running: current,
                    new: hash,
                    children,
                },
            );
        }
        let plan = Plan::compute(&running, new, &versions)?;
        if options.dry_run {
            return Ok(ApplyReport {
                plan,
                applied: Vec::new(),
                dry_run: true,
            });
        }

        let mut working = running.clone();
        let mut applied = Vec::new();
        let mut swapped: Vec<Swapped> = Vec::new();
        let mut touched = BTreeSet::new();
        for step in &plan.steps {
            let line = step.to_string();
            let outcome = self
                .carry_out(step, &mut working, &prepared, options, &mut swapped)
                .await;
            match outcome {
                Ok(note) => {
                    if let Some(path) = step.path() {
                        touched.insert(path.to_string());
                    }
                    applied.push(match note {
                        Some(note) => format!("{line} => {note}"),
                        None => line,
                    });
                }
                Err(why) => {
                    let (rolled_back, rollback_failed) =
                        self.roll_back(swapped, &mut working, options).await;
                    self.hand_specs_to_parents(&working, &touched).await;
                    *running = working;
                    return Err(ApplyError::Step(Box::new(StepFailure {
                        step: line,
                        why,
                        applied,
                        rolled_back,
                        rollback_failed,
                    })));
                }
            }
        }
        self.hand_specs_to_parents(&working, &touched).await;
        *running = new.clone();
        tracing::info!("applied {} ({} steps)", new.source.display(), applied.len());
        Ok(ApplyReport {
            plan,
            applied,
            dry_run: false,
        })
    }

    /// Carries out one step and brings `working` up to date with it.
    /// `Ok(Some(note))` says something worth knowing about how it went.
    async fn carry_out(
        &self,
        step: &Step,
        working: &mut TreeSpec,
        prepared: &BTreeMap<String, Arc<LoadedComponent>>,
        options: &ApplyOptions,
        swapped: &mut Vec<Swapped>,
    ) -> Result<Option<String>, String> {
        let mut note = None;
        match step {
            Step::Swap { id, .. } => {
                let old = self
                    .component(id)
                    .ok_or_else(|| format!("component {id} is not in the host's table"))?;
                let new = prepared
                    .get(id)
                    .ok_or_else(|| format!("component {id} was not prepared"))?;
                let record = Swapped {
                    id: id.clone(),
                    old,
                    source: working.components.get(id).cloned(),
                    line: step.to_string(),
                };
                match self.swap_component(id, new.clone(), &options.swap).await {
                    Ok(report) => {
                        swapped.push(record);
                        note = Some(format!("{} swapped", report.swapped.len()));
                    }
                    Err(error) => {
                        // A rollout paused part way: the children it swapped
                        // go back with the others.
                        if matches!(&error, SwapError::Rollout(r) if !r.swapped.is_empty()) {
                            swapped.push(record);
                        }
                        return Err(error.to_string());
                    }
                }
            }
            Step::AddComponent { id, .. } => {
                // Not prepared: the table already holds this content (an
                // earlier apply that failed later added it).
                if let Some(component) = prepared.get(id) {
                    self.shared()
                        .components
                        .write()
                        .expect("the component table is never poisoned")
                        .insert(id.clone(), component.clone());
                }
            }
            Step::RemoveComponent { id } => {
                self.shared()
                    .components
                    .write()
                    .expect("the component table is never poisoned")
                    .remove(id);
            }
            Step::MoveComponent { .. } | Step::Order { .. } => {}
            Step::Supervisor { path, settings, .. } => {
                match self.update_supervisor(path, settings.clone()).await {
                    Ok(()) => {}
                    // Stopped (by stop-child): its parent gets its new spec
                    // below, and it starts with it.
                    Err(CommandError::NoSuchSupervisor(_)) => {
                        note = Some("not running: it takes them when it starts".to_string());
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            Step::Child {
                supervisor, path, ..
            } => {
                // A nested supervisor's spec carries its children as the
                // tree has them now.
                let mut after = working.clone();
                step.apply_to(&mut after);
                let spec = child_at(&after.root, path)
                    .cloned()
                    .ok_or_else(|| format!("{path} is not in the running tree"))?;
                match self.update_child(supervisor, spec).await {
                    Ok(()) => {}
                    Err(CommandError::Child(ChildCommandError::NoSuchChild(_))) => {
                        note = Some(
                            "not running any more (it ended or was deleted): nothing to change"
                                .to_string(),
                        );
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            Step::Stop {
                supervisor, path, ..
            } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                let gone = |e: &CommandError| {
                    matches!(e, CommandError::Child(ChildCommandError::NoSuchChild(_)))
                };
                match self.terminate_child(supervisor, name).await {
                    Ok(()) => match self.delete_child(supervisor, name).await {
                        // A temporary child is forgotten once stopped.
                        Err(e) if !gone(&e) => return Err(e.to_string()),
                        _ => {}
                    },
                    Err(e) if gone(&e) => note = Some("already gone".to_string()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Step::Start {
                supervisor, spec, ..
            } => {
                let outcome = self
                    .start_declared_child(supervisor, spec.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                if outcome == StartOutcome::Ignored {
                    note = Some("its init answered ignore: not running".to_string());
                }
            }
        }
        step.apply_to(working);
        Ok(note)
    }

    /// Swaps back, newest first, every component this apply swapped.
    async fn roll_back(
        &self,
        swapped: Vec<Swapped>,
        working: &mut TreeSpec,
        options: &ApplyOptions,
    ) -> (Vec<String>, Vec<String>) {
        let back = SwapOptions {
            dry_run: false,
            canary: 0,
            ..options.swap.clone()
        };
        let (mut rolled_back, mut failed) = (Vec::new(), Vec::new());
        for swap in swapped.into_iter().rev() {
            let to = swap.old.hash.clone();
            match self.swap_component(&swap.id, swap.old, &back).await {
                Ok(_) => {
                    match swap.source {
                        Some(source) => working.components.insert(swap.id.clone(), source),
                        None => working.components.remove(&swap.id),
                    };
                    rolled_back.push(format!("component {} back to {to}", swap.id));
                }
                Err(e) => failed.push(format!("{}: {e}", swap.line)),
            }
        }
        (rolled_back, failed)
    }

    /// Hands each nested supervisor under or at a touched path its spec as
    /// `tree` has it, so a restart by its parent brings it back as the
    /// tree says (a running supervisor keeps its own copy for its first
    /// start only).
    async fn hand_specs_to_parents(&self, tree: &TreeSpec, touched: &BTreeSet<String>) {
        let mut supervisors = BTreeSet::new();
        for path in touched {
            let mut prefix = String::new();
            for (i, part) in path.split('/').enumerate() {
                if i > 0 {
                    prefix.push('/');
                }
                prefix.push_str(part);
                // The root has no parent: the node's copy is `tree` itself.
                if i > 0 {
                    supervisors.insert(prefix.clone());
                }
            }
        }
        for path in supervisors {
            let Some(spec @ ChildSpec::Supervisor(_)) = child_at(&tree.root, &path) else {
                continue;
            };
            let (parent, _) = path.rsplit_once('/').expect("not the root");
            if let Err(e) = self.update_child(parent, spec.clone()).await {
                tracing::warn!(
                    "apply: could not hand {path} its new spec (a restart by its parent would run the old one): {e}"
                );
            }
        }
    }
}

/// How many workers in the live tree run component `id`.
fn workers_of(report: &NodeReport, id: &str) -> usize {
    let own = usize::from(report.kind == "worker" && report.component.as_deref() == Some(id));
    own + report
        .children
        .iter()
        .map(|c| workers_of(c, id))
        .sum::<usize>()
}

/// A component file's bytes, read off the async threads.
async fn read(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::engine::read_component_file(&path))
        .await
        .expect("reading a file does not panic")
}
