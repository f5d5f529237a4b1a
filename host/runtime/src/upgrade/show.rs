//! How a plan reads: one step a line, as `arbor ctl apply --dry-run`
//! prints it (`+ start root/cache (component cache)`, `- stop root/old`,
//! `~ swap component cache 1a2b3c4d -> 3c4d5e6f (2 children)`).

use std::fmt;

use crate::spec::ChildSpec;
use crate::upgrade::changes::Change;
use crate::upgrade::plan::{Plan, Step};

/// The first 8 hex digits: enough to tell versions apart on screen.
fn short(hash: &str) -> &str {
    hash.get(..8).unwrap_or(hash)
}

/// `a -> b, c -> d (when)`, or each change with its own `(when)` when they differ.
fn show_changes(changes: &[Change]) -> String {
    let first = changes.first().map(|c| c.takes);
    if changes.iter().all(|c| Some(c.takes) == first) {
        let list: Vec<String> = changes.iter().map(Change::to_string).collect();
        format!(
            "{} ({})",
            list.join(", "),
            first.expect("a step has changes")
        )
    } else {
        let list: Vec<String> = changes
            .iter()
            .map(|c| format!("{c} ({})", c.takes))
            .collect();
        list.join(", ")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Swap {
                id,
                from,
                to,
                children,
                ..
            } => write!(
                f,
                "~ swap component {id} {} -> {} ({})",
                short(from),
                short(to),
                plural(*children, "child", "children")
            ),
            Step::AddComponent { id, path, hash } => {
                write!(f, "+ component {id} ({}, {})", path.display(), short(hash))
            }
            Step::MoveComponent { id, from, to } => write!(
                f,
                "~ component {id}: file {} -> {} (same content: nothing to swap)",
                from.display(),
                to.display()
            ),
            Step::Supervisor { path, changes, .. } => {
                let list: Vec<String> = changes.iter().map(Change::to_string).collect();
                write!(f, "~ supervisor {path}: {} (no restart)", list.join(", "))
            }
            Step::Child { path, changes, .. } => {
                write!(f, "~ child {path}: {}", show_changes(changes))
            }
            Step::Stop {
                path,
                why,
                dynamic,
                is_supervisor,
                ..
            } => {
                write!(f, "- stop {path}")?;
                if *dynamic {
                    f.write_str(" (a dynamic supervisor: every child started in it stops too)")?;
                } else if *is_supervisor {
                    f.write_str(" (with its children)")?;
                }
                if let Some(why) = why {
                    write!(f, " ({why})")?;
                }
                Ok(())
            }
            Step::Start { path, spec, .. } => match spec {
                ChildSpec::Worker(w) => write!(f, "+ start {path} (component {})", w.component),
                ChildSpec::Supervisor(s) if s.dynamic.is_some() => {
                    write!(f, "+ start {path} (dynamic supervisor)")
                }
                ChildSpec::Supervisor(s) => write!(
                    f,
                    "+ start {path} ({} supervisor, {})",
                    s.strategy,
                    plural(s.children.len(), "child", "children")
                ),
            },
            Step::Order {
                path,
                running,
                file,
            } => write!(
                f,
                "~ order of {path}: runs {}; the file lists {} (its start order when it restarts: \
                 a running supervisor starts new children after the ones it runs)",
                running.join(", "),
                file.join(", ")
            ),
            Step::RemoveComponent { id } => write!(
                f,
                "- component {id} (gone from the file; children running it keep their version)"
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "nothing to change");
        }
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}
