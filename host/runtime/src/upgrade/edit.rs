//! Keeping the tree a host remembers in step with what it runs: each step
//! of a plan, once carried out, is applied to that tree, and paths
//! (`root/sub/x`) find supervisors and children in it.

use crate::spec::{ChildSpec, ComponentSource, SupervisorSpec, TreeSpec};
use crate::upgrade::plan::Step;

impl Step {
    /// Brings `tree` up to date with this step, once the host has carried
    /// it out, so the tree the host remembers is the one it runs even when
    /// a later step fails.
    pub fn apply_to(&self, tree: &mut TreeSpec) {
        match self {
            Step::Swap { id, path, .. }
            | Step::AddComponent { id, path, .. }
            | Step::MoveComponent { id, to: path, .. } => {
                let line = tree.components.get(id).map_or(0, |c| c.line);
                tree.components.insert(
                    id.clone(),
                    ComponentSource {
                        path: path.clone(),
                        line,
                    },
                );
            }
            Step::RemoveComponent { id } => {
                tree.components.remove(id);
            }
            Step::Supervisor { path, settings, .. } => {
                if let Some(sup) = supervisor_mut(&mut tree.root, path) {
                    sup.set_settings(settings.clone());
                }
            }
            Step::Child {
                supervisor,
                path,
                spec,
                ..
            } => {
                let Some(sup) = supervisor_mut(&mut tree.root, supervisor) else {
                    return;
                };
                let Some(child) = sup.children.iter_mut().find(|c| c.name() == spec.name()) else {
                    return;
                };
                debug_assert!(path.ends_with(spec.name()));
                match (child, spec) {
                    (ChildSpec::Supervisor(running), ChildSpec::Supervisor(new)) => {
                        // Its own settings as a child; its children are the walk's.
                        running.restart = new.restart;
                        running.shutdown = new.shutdown;
                        running.significant = new.significant;
                    }
                    (child, spec) => *child = spec.clone(),
                }
            }
            Step::Stop {
                supervisor, path, ..
            } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                if let Some(sup) = supervisor_mut(&mut tree.root, supervisor) {
                    sup.children.retain(|c| c.name() != name);
                }
            }
            Step::Start {
                supervisor, spec, ..
            } => {
                if let Some(sup) = supervisor_mut(&mut tree.root, supervisor) {
                    sup.children.push(spec.clone());
                }
            }
            Step::Order { path, file, .. } => {
                if let Some(sup) = supervisor_mut(&mut tree.root, path) {
                    let rank = |c: &ChildSpec| {
                        file.iter()
                            .position(|n| n == c.name())
                            .unwrap_or(usize::MAX)
                    };
                    sup.children.sort_by_key(rank);
                }
            }
        }
    }
}
/// The supervisor at `path` (`root/sub`) in the tree under `root`.
pub fn supervisor_mut<'a>(
    root: &'a mut SupervisorSpec,
    path: &str,
) -> Option<&'a mut SupervisorSpec> {
    let mut parts = path.split('/');
    if parts.next() != Some(root.name.as_str()) {
        return None;
    }
    let mut here = root;
    for part in parts {
        here = here.children.iter_mut().find_map(|c| match c {
            ChildSpec::Supervisor(s) if s.name == part => Some(s),
            _ => None,
        })?;
    }
    Some(here)
}

/// The child at `path` (`root/sub/x`) in the tree under `root`.
pub fn child_at<'a>(root: &'a SupervisorSpec, path: &str) -> Option<&'a ChildSpec> {
    let (parent, name) = path.rsplit_once('/')?;
    let mut parts = parent.split('/');
    if parts.next() != Some(root.name.as_str()) {
        return None;
    }
    let mut here = root;
    for part in parts {
        here = here.children.iter().find_map(|c| match c {
            ChildSpec::Supervisor(s) if s.name == part => Some(s),
            _ => None,
        })?;
    }
    here.children.iter().find(|c| c.name() == name)
}
