//! The plan of an `apply`: what differs between the tree a host runs and a
//! changed tree file, as ordered steps, computed without touching anything
//! (OTP's release upgrade, with the `relup` written by the host).
//!
//! [`Plan::compute`] compares the tree the host remembers running with the
//! new file, and the content hash of each component in the host's table
//! with the new file's bytes ([`ComponentVersions`]). Its [`fmt::Display`]
//! is what `arbor ctl apply --dry-run` prints, one step per line. The steps
//! come in the order they are carried out, each group in tree order:
//!
//! 1. `~ swap`: components whose content changed, swapped in every child
//!    running them, in the order the tree first uses them (first, because
//!    a failed swap is rolled back, so an apply that fails there has
//!    changed nothing);
//! 2. `+ component`: ids new in `[components]`, loaded into the table before
//!    any child using them starts;
//! 3. `~ supervisor` / `~ child`: settings. A supervisor takes its strategy,
//!    intensity, `auto_shutdown` and `max_children` at once, without
//!    restarting; a child takes its restart type, shutdown, `significant`
//!    and mailbox bounds at once, and its args, deadlines, memory limit and
//!    `may_call` at its next start;
//! 4. `- stop`: children gone from the file, stopped and forgotten in
//!    reverse tree order (before any start, so a name can move);
//! 5. `+ start`: children new in the file, started in tree order;
//! 6. `~ order`: a supervisor whose children now run in another order than
//!    the file lists them (a running supervisor starts new children after
//!    the ones it runs, as OTP's `start_child` does, and never reorders
//!    running children): the file's order is what it starts them in when
//!    it restarts;
//! 7. `- component`: ids gone from `[components]` (children running them
//!    keep their version).
//!
//! A worker whose component id changed, or a child that turned from worker
//! to supervisor or back, is stopped and started again (steps 4 and 5). A
//! dynamic supervisor's children come from `start-child`, not from the
//! file: they are left alone. What cannot be applied to a running tree is
//! an error naming the line and field of the new file
//! ([`Plan::compute`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::spec::{ChildSpec, SpecError, SupervisorSettings, SupervisorSpec, TreeSpec};
pub use crate::upgrade::changes::{Change, Takes};
use crate::upgrade::changes::{child_changes, supervisor_changes, worker_changes};

/// What the host knows of one component id of the new file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentVersions {
    /// Content hash of the version in the host's table (`None`: not there).
    pub running: Option<String>,
    /// Content hash of the new file's bytes.
    pub new: String,
    /// Children running the table's version now, dynamic ones included.
    pub children: usize,
}
/// One step of a plan.
#[derive(Debug, Clone)]
pub enum Step {
    /// Every child running component `id` moves to the new content.
    Swap {
        /// The component id.
        id: String,
        /// The new file.
        path: PathBuf,
        /// The table's content hash.
        from: String,
        /// The file's content hash.
        to: String,
        /// Children running it now.
        children: usize,
    },
    /// A new id in `[components]`, loaded into the host's table.
    AddComponent {
        /// The component id.
        id: String,
        /// Its file.
        path: PathBuf,
        /// Its content hash.
        hash: String,
    },
    /// The same content under another file name: nothing runs differently.
    MoveComponent {
        /// The component id.
        id: String,
        /// The file the host loaded it from.
        from: PathBuf,
        /// The file named now.
        to: PathBuf,
    },
    /// Settings applied to a running supervisor, which does not restart.
    Supervisor {
        /// Its path (`root/workers`).
        path: String,
        /// What changes.
        changes: Vec<Change>,
        /// All its settings as the file has them.
        settings: SupervisorSettings,
    },
    /// A child's own settings (a worker's, or a nested supervisor's as a child).
    Child {
        /// Its supervisor's path.
        supervisor: String,
        /// Its path.
        path: String,
        /// What changes.
        changes: Vec<Change>,
        /// The child as the file has it (a supervisor's children are
        /// those of the tree at the moment the step is carried out).
        spec: ChildSpec,
    },
    /// A child (and, for a supervisor, its subtree) stopped and forgotten.
    Stop {
        /// Its supervisor's path.
        supervisor: String,
        /// Its path.
        path: String,
        /// Why, when it is not simply gone from the file.
        why: Option<String>,
        /// Whether it is a dynamic supervisor (its run-time children stop with it).
        dynamic: bool,
        /// Whether it is a supervisor.
        is_supervisor: bool,
    },
    /// A child (and, for a supervisor, its subtree) added and started.
    Start {
        /// Its supervisor's path.
        supervisor: String,
        /// Its path.
        path: String,
        /// The child as the file has it.
        spec: ChildSpec,
    },
    /// The file lists a supervisor's children in another order than they run.
    Order {
        /// The supervisor's path.
        path: String,
        /// The order they run in after this apply.
        running: Vec<String>,
        /// The file's order: what the supervisor starts them in when it restarts.
        file: Vec<String>,
    },
    /// An id gone from `[components]`.
    RemoveComponent {
        /// The component id.
        id: String,
    },
}

/// The steps of an apply, in the order they are carried out.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether the file changes nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The plan that turns `running` (the tree the host runs) into `new`.
    ///
    /// `versions` has, for each component id of `new`, the hash in the
    /// host's table and that of the new file (an id it lacks counts as
    /// unchanged when `running` has it). These cannot be applied to a
    /// running tree, and are errors naming the field of `new`:
    /// - `[node]` settings (`max_instances`, `fast_traps`): they size the
    ///   instance pool and build the engine when the host starts;
    /// - the root supervisor's name, or the root turned dynamic or back;
    /// - a nested supervisor turned dynamic or back: the children a dynamic
    ///   supervisor was given at run time would be lost (remove it in one
    ///   apply and add it back in another, if that is meant).
    pub fn compute(
        running: &TreeSpec,
        new: &TreeSpec,
        versions: &BTreeMap<String, ComponentVersions>,
    ) -> Result<Plan, SpecError> {
        let refuse = |field: &str, message: String| SpecError {
            file: new.source.clone(),
            line: new.line_of(field),
            field: field.to_string(),
            message,
        };
        // The host's own settings are fixed when it starts: each that
        // differs is refused, the first one named.
        const OPENED: &str = "the key-value store is opened by the running host";
        let fixed_at_start = [
            (
                "node.max_instances",
                running.max_instances != new.max_instances,
                (
                    or_counted(running.max_instances),
                    or_counted(new.max_instances),
                ),
                "the instance pool is sized when the host starts",
            ),
            (
                "node.fast_traps",
                running.fast_traps != new.fast_traps,
                (running.fast_traps.to_string(), new.fast_traps.to_string()),
                "the engine is built with it when the host starts",
            ),
            (
                "node.data",
                running.data != new.data,
                (
                    running.data.display().to_string(),
                    new.data.display().to_string(),
                ),
                OPENED,
            ),
            (
                "node.data_sync",
                running.data_sync != new.data_sync,
                (
                    running.data_sync.as_str().to_string(),
                    new.data_sync.as_str().to_string(),
                ),
                OPENED,
            ),
        ];
        if let Some((field, _, (from, to), why)) = fixed_at_start
            .into_iter()
            .find(|(_, changed, _, _)| *changed)
        {
            return Err(refuse(
                field,
                format!("{from} -> {to}: {why}; restart the host to change it"),
            ));
        }
        if running.root.name != new.root.name {
            return Err(refuse(
                "supervisor.name",
                format!(
                    "the running root supervisor is {:?}: a running root cannot be renamed (restart the host)",
                    running.root.name
                ),
            ));
        }
        if running.root.dynamic.is_some() != new.root.dynamic.is_some() {
            return Err(refuse(
                "supervisor.dynamic",
                format!(
                    "the running root supervisor is {}: it cannot turn {} in place (restart the host)",
                    kind_of(&running.root),
                    kind_of(&new.root)
                ),
            ));
        }
        let mut walk = Walk::default();
        walk.supervisor(
            &refuse,
            "supervisor",
            &new.root.name,
            &running.root,
            &new.root,
        )?;

        let mut steps = Vec::new();
        let mut added = Vec::new();
        for (id, source) in &new.components {
            let version = versions.get(id);
            let Some(old) = running.components.get(id) else {
                added.push(Step::AddComponent {
                    id: id.clone(),
                    path: source.path.clone(),
                    hash: version.map(|v| v.new.clone()).unwrap_or_default(),
                });
                continue;
            };
            let changed = version.and_then(|v| {
                let from = v.running.as_ref().filter(|from| **from != v.new)?;
                Some((from, v))
            });
            if let Some((from, v)) = changed {
                steps.push(Step::Swap {
                    id: id.clone(),
                    path: source.path.clone(),
                    from: from.clone(),
                    to: v.new.clone(),
                    children: v.children,
                });
            } else if old.path != source.path {
                added.push(Step::MoveComponent {
                    id: id.clone(),
                    from: old.path.clone(),
                    to: source.path.clone(),
                });
            }
        }
        // Swaps in tree order: by where each component is first used.
        let order = components_in_tree_order(&new.root);
        let rank = |step: &Step| match step {
            Step::Swap { id, .. } => order.iter().position(|c| c == id).unwrap_or(usize::MAX),
            _ => usize::MAX,
        };
        steps.sort_by_key(rank);
        steps.extend(added);
        steps.extend(walk.settings);
        steps.extend(walk.stops.into_iter().rev());
        steps.extend(walk.starts);
        steps.extend(walk.orders);
        for id in running.components.keys() {
            if !new.components.contains_key(id) {
                steps.push(Step::RemoveComponent { id: id.clone() });
            }
        }
        Ok(Plan { steps })
    }
}

/// Component ids in the order workers first use them, depth first.
fn components_in_tree_order(root: &SupervisorSpec) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for child in &root.children {
        match child {
            ChildSpec::Worker(w) => {
                if !order.contains(&w.component) {
                    order.push(w.component.clone());
                }
            }
            ChildSpec::Supervisor(s) => {
                for id in components_in_tree_order(s) {
                    if !order.contains(&id) {
                        order.push(id);
                    }
                }
            }
        }
    }
    order
}

/// `max_instances` as the plan shows it.
fn or_counted(value: Option<u32>) -> String {
    value.map_or("counted from the tree".to_string(), |n| n.to_string())
}

fn kind_of(spec: &SupervisorSpec) -> &'static str {
    if spec.dynamic.is_some() {
        "dynamic"
    } else {
        "static"
    }
}

/// The steps found while walking both trees, by group.
#[derive(Default)]
struct Walk {
    settings: Vec<Step>,
    /// In tree order; carried out reversed.
    stops: Vec<Step>,
    starts: Vec<Step>,
    orders: Vec<Step>,
}

impl Walk {
    /// Compares one supervisor present in both trees (`at` is its field in
    /// the new file, `path` its path in the host).
    fn supervisor(
        &mut self,
        refuse: &dyn Fn(&str, String) -> SpecError,
        at: &str,
        path: &str,
        old: &SupervisorSpec,
        new: &SupervisorSpec,
    ) -> Result<(), SpecError> {
        let changes = supervisor_changes(old, new);
        if !changes.is_empty() {
            self.settings.push(Step::Supervisor {
                path: path.to_string(),
                changes,
                settings: new.settings(),
            });
        }
        let old_children: HashMap<&str, &ChildSpec> =
            old.children.iter().map(|c| (c.name(), c)).collect();
        let new_names: HashSet<&str> = new.children.iter().map(|c| c.name()).collect();
        for child in &old.children {
            if !new_names.contains(child.name()) {
                self.stops.push(stop(path, child, None));
            }
        }
        // Children kept in place, in the order they run, and those started.
        let mut kept = HashSet::new();
        let mut started = Vec::new();
        for (i, child) in new.children.iter().enumerate() {
            let child_at = format!("{at}.children[{i}]");
            let child_path = format!("{path}/{}", child.name());
            let replaced = match (old_children.get(child.name()), child) {
                (None, _) => None,
                (Some(ChildSpec::Worker(o)), ChildSpec::Worker(n)) => {
                    if o.component != n.component {
                        Some(format!(
                            "replaced: component {} -> {}",
                            o.component, n.component
                        ))
                    } else if o.http != n.http {
                        // The listener belongs to the place: a new address is a new place.
                        let show = |a: Option<std::net::SocketAddr>| {
                            a.map_or("none".to_string(), |a| a.to_string())
                        };
                        Some(format!(
                            "replaced: http {} -> {}",
                            show(o.http),
                            show(n.http)
                        ))
                    } else {
                        self.child(path, &child_path, worker_changes(o, n), child);
                        kept.insert(child.name());
                        continue;
                    }
                }
                (Some(ChildSpec::Supervisor(o)), ChildSpec::Supervisor(n)) => {
                    if o.dynamic.is_some() != n.dynamic.is_some() {
                        let field = if n.dynamic.is_some() {
                            format!("{child_at}.dynamic")
                        } else {
                            child_at.clone()
                        };
                        return Err(refuse(
                            &field,
                            format!(
                                "{child_path} runs as a {} supervisor: it cannot turn {} in place \
                                 (the children a dynamic supervisor was given at run time would be lost); \
                                 remove it in one apply and add it back in another",
                                kind_of(o),
                                kind_of(n)
                            ),
                        ));
                    }
                    let changes = child_changes(
                        (o.restart, o.shutdown, o.significant),
                        (n.restart, n.shutdown, n.significant),
                    );
                    self.child(path, &child_path, changes, child);
                    self.supervisor(refuse, &child_at, &child_path, o, n)?;
                    kept.insert(child.name());
                    continue;
                }
                (Some(ChildSpec::Worker(_)), ChildSpec::Supervisor(_)) => {
                    Some("replaced: a worker becomes a supervisor".to_string())
                }
                (Some(ChildSpec::Supervisor(_)), ChildSpec::Worker(_)) => {
                    Some("replaced: a supervisor becomes a worker".to_string())
                }
            };
            if let Some(why) = replaced {
                let old = old_children[child.name()];
                self.stops.push(stop(path, old, Some(why)));
            }
            self.starts.push(Step::Start {
                supervisor: path.to_string(),
                path: child_path,
                spec: child.clone(),
            });
            started.push(child.name().to_string());
        }
        let running: Vec<String> = old
            .children
            .iter()
            .map(|c| c.name())
            .filter(|name| kept.contains(name))
            .map(str::to_string)
            .chain(started)
            .collect();
        let file: Vec<String> = new.children.iter().map(|c| c.name().to_string()).collect();
        if running != file {
            self.orders.push(Step::Order {
                path: path.to_string(),
                running,
                file,
            });
        }
        Ok(())
    }

    fn child(&mut self, supervisor: &str, path: &str, changes: Vec<Change>, spec: &ChildSpec) {
        if !changes.is_empty() {
            self.settings.push(Step::Child {
                supervisor: supervisor.to_string(),
                path: path.to_string(),
                changes,
                spec: spec.clone(),
            });
        }
    }
}

fn stop(supervisor: &str, child: &ChildSpec, why: Option<String>) -> Step {
    let (dynamic, is_supervisor) = match child {
        ChildSpec::Worker(_) => (false, false),
        ChildSpec::Supervisor(s) => (s.dynamic.is_some(), true),
    };
    Step::Stop {
        supervisor: supervisor.to_string(),
        path: format!("{supervisor}/{}", child.name()),
        why,
        dynamic,
        is_supervisor,
    }
}

impl Step {
    /// The path of the child or supervisor the step is about (`None` for
    /// the component table).
    pub fn path(&self) -> Option<&str> {
        match self {
            Step::Supervisor { path, .. }
            | Step::Child { path, .. }
            | Step::Stop { path, .. }
            | Step::Start { path, .. }
            | Step::Order { path, .. } => Some(path),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[components]
probe = "probe.wasm"
cache = "cache.wasm"

[supervisor]
name = "root"
max_restarts = 3
max_seconds = 5

[[supervisor.children]]
name = "db"
component = "probe"

[[supervisor.children]]
name = "old"
component = "probe"

[[supervisor.children]]
name = "workers"
strategy = "one_for_all"

[[supervisor.children.children]]
name = "w1"
component = "cache"

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 10 }
"#;

    fn parse(text: &str) -> TreeSpec {
        TreeSpec::parse(Path::new("dir/tree.toml"), text).unwrap()
    }

    fn versions(tree: &TreeSpec, changed: &[&str]) -> BTreeMap<String, ComponentVersions> {
        tree.components
            .keys()
            .map(|id| {
                let running = format!("{id:0<16}");
                let new = if changed.contains(&id.as_str()) {
                    format!("{:0<16}", format!("{id}2"))
                } else {
                    running.clone()
                };
                let version = ComponentVersions {
                    running: Some(running),
                    new,
                    children: 2,
                };
                (id.clone(), version)
            })
            .collect()
    }

    fn plan(
        old: &str,
        new: &str,
        changed: &[&str],
    ) -> Result<(Plan, TreeSpec, TreeSpec), SpecError> {
        let (old, new) = (parse(old), parse(new));
        let plan = Plan::compute(&old, &new, &versions(&new, changed))?;
        Ok((plan, old, new))
    }

    fn lines(plan: &Plan) -> Vec<String> {
        plan.to_string().lines().map(str::to_string).collect()
    }

    #[test]
    fn the_same_tree_needs_nothing() {
        let (plan, _, _) = plan(BASE, BASE, &[]).unwrap();
        assert!(plan.is_empty());
        assert_eq!(plan.to_string(), "nothing to change\n");
    }

    /// A file that adds, removes, swaps and changes settings: the plan
    /// lists each in the order it is carried out, one line each.
    const CHANGED: &str = r#"
[components]
probe = "probe.wasm"
cache = "cache.wasm"
extra = "extra.wasm"

[supervisor]
name = "root"
max_restarts = 10
max_seconds = 5

[[supervisor.children]]
name = "db"
component = "probe"
shutdown_ms = 10000
restart = "transient"

[[supervisor.children]]
name = "workers"
strategy = "one_for_all"

[[supervisor.children.children]]
name = "w1"
component = "cache"

[[supervisor.children.children]]
name = "w2"
component = "extra"
args = "hello"

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 20 }
"#;

    #[test]
    fn adds_removes_swaps_and_settings_come_in_the_order_they_are_carried_out() {
        let (plan, _, _) = plan(BASE, CHANGED, &["cache"]).unwrap();
        let mut text = lines(&plan);
        // The added component's hash comes from `versions`: no running one.
        text.retain(|l| !l.starts_with("+ component"));
        assert_eq!(
            text,
            [
                "~ swap component cache cache000 -> cache200 (2 children)",
                "~ supervisor root: intensity 3 in 5s -> 10 in 5s (no restart)",
                "~ child root/db: restart permanent -> transient, shutdown 5s -> 10s (from now on)",
                "~ supervisor root/pool: max_children 10 -> 20 (no restart)",
                "- stop root/old",
                "+ start root/workers/w2 (component extra)",
            ]
        );
        assert!(matches!(
            &plan.steps[1],
            Step::AddComponent { id, .. } if id == "extra"
        ));
    }

    #[test]
    fn turning_poison_on_takes_effect_at_the_childs_next_start() {
        let new = BASE.replace(
            "name = \"db\"\ncomponent = \"probe\"",
            "name = \"db\"\ncomponent = \"probe\"\npoison = { after = 3 }",
        );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            ["~ child root/db: poison off -> after 3 (at its next start)"]
        );
    }

    #[test]
    fn applying_every_step_to_the_running_tree_gives_the_new_tree() {
        for (old, new) in [(BASE, CHANGED), (CHANGED, BASE)] {
            let (plan, mut tree, new) = plan(old, new, &["cache"]).unwrap();
            for step in &plan.steps {
                step.apply_to(&mut tree);
            }
            assert_eq!(format!("{:?}", tree.root), format!("{:?}", new.root));
            let paths = |t: &TreeSpec| -> Vec<(String, PathBuf)> {
                t.components
                    .iter()
                    .map(|(id, c)| (id.clone(), c.path.clone()))
                    .collect()
            };
            assert_eq!(paths(&tree), paths(&new));
        }
    }

    #[test]
    fn swaps_come_in_the_order_the_tree_first_uses_each_component() {
        // "db" (probe) comes before "w1" (cache) in the tree, though
        // "cache" sorts first.
        let (plan, _, _) = plan(BASE, BASE, &["cache", "probe"]).unwrap();
        let ids: Vec<&str> = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Swap { id, .. } => id.as_str(),
                other => panic!("only swaps: {other}"),
            })
            .collect();
        assert_eq!(ids, ["probe", "cache"]);
    }

    #[test]
    fn removals_come_in_reverse_tree_order_and_starts_in_tree_order() {
        let new = r#"
[components]
probe = "probe.wasm"

[supervisor]
name = "root"
max_restarts = 3
max_seconds = 5

[[supervisor.children]]
name = "a"
component = "probe"

[[supervisor.children]]
name = "b"
strategy = "rest_for_one"

[[supervisor.children.children]]
name = "b1"
component = "probe"
"#;
        let (plan, _, _) = plan(BASE, new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "- stop root/pool (a dynamic supervisor: every child started in it stops too)",
                "- stop root/workers (with its children)",
                "- stop root/old",
                "- stop root/db",
                "+ start root/a (component probe)",
                "+ start root/b (rest_for_one supervisor, 1 child)",
                "- component cache (gone from the file; children running it keep their version)",
            ]
        );
    }

    #[test]
    fn a_worker_whose_http_address_changes_is_stopped_and_started_again() {
        let new = BASE.replace(
            "name = \"db\"\ncomponent = \"probe\"",
            "name = \"db\"\ncomponent = \"probe\"\nhttp = \"127.0.0.1:8080\"",
        );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        let lines = lines(&plan);
        assert_eq!(
            lines[..2],
            [
                "- stop root/db (replaced: http none -> 127.0.0.1:8080)",
                "+ start root/db (component probe)",
            ],
            "{lines:?}"
        );
    }

    #[test]
    fn a_worker_whose_component_or_kind_changes_is_stopped_and_started_again() {
        let new = BASE
            .replace(
                "name = \"db\"\ncomponent = \"probe\"",
                "name = \"db\"\ncomponent = \"cache\"",
            )
            .replace(
                "name = \"old\"\ncomponent = \"probe\"",
                "name = \"old\"\nstrategy = \"one_for_one\"",
            );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "- stop root/old (replaced: a worker becomes a supervisor)",
                "- stop root/db (replaced: component probe -> cache)",
                "+ start root/db (component cache)",
                "+ start root/old (one_for_one supervisor, 0 children)",
                "~ order of root: runs workers, pool, db, old; the file lists db, old, workers, pool \
                 (its start order when it restarts: a running supervisor starts new children after the ones it runs)",
            ]
        );
    }

    #[test]
    fn a_child_added_between_running_ones_starts_after_them_and_the_plan_says_so() {
        let new = BASE.replace(
            "[[supervisor.children]]\nname = \"old\"",
            "[[supervisor.children]]\nname = \"new\"\ncomponent = \"probe\"\n\n[[supervisor.children]]\nname = \"old\"",
        );
        let (plan, mut running, new) = plan(BASE, &new, &[]).unwrap();
        let text = lines(&plan);
        assert_eq!(text[0], "+ start root/new (component probe)");
        assert!(
            text[1].starts_with("~ order of root: runs db, old, workers, pool, new; the file lists db, new, old, workers, pool"),
            "{text:?}"
        );
        for step in &plan.steps {
            step.apply_to(&mut running);
        }
        // Remembered in the file's order: the order it restarts in, and
        // applying the same file again changes nothing.
        let again = Plan::compute(&running, &new, &versions(&new, &[])).unwrap();
        assert!(again.is_empty(), "{again}");
    }

    #[test]
    fn settings_of_a_worker_say_when_each_takes_effect() {
        let new = BASE.replace(
            "name = \"db\"\ncomponent = \"probe\"",
            "name = \"db\"\ncomponent = \"probe\"\nargs = '{\"x\": 1}'\ntimeout_ms = 250\nmailbox_capacity = 50\nmay_call = [\"old\"]",
        );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "~ child root/db: args \"\" -> \"{\\\"x\\\": 1}\" (at its next start), \
                 timeout_ms 5s -> 250ms (at its next start), \
                 may_call anyone -> [old] (at its next start), \
                 mailbox_capacity 10000 -> 50 (from now on)"
            ]
        );
    }

    #[test]
    fn grants_change_at_the_next_start_and_child_grants_at_once() {
        let new = BASE
            .replace(
                "name = \"db\"\ncomponent = \"probe\"",
                "name = \"db\"\ncomponent = \"probe\"\nenv = { REGION = \"eu\" }\nhttp_outgoing = [\"api.example.com\"]\nlog_rate = { burst = 10 }",
            )
            .replace(
                "dynamic = { max_children = 10 }",
                "dynamic = { max_children = 10 }\nchild_grants = { keyvalue = [\"orders\"] }",
            );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "~ child root/db: grants none -> [env: REGION; http_outgoing: api.example.com], \
                 log_rate 100 lines/s, burst 1000 -> 100 lines/s, burst 10 (at its next start)",
                "~ supervisor root/pool: child_grants none -> [keyvalue: orders] (no restart)",
            ]
        );
    }

    #[test]
    fn a_nested_supervisor_changes_its_strategy_and_its_settings_as_a_child() {
        let new = BASE.replace(
            "name = \"workers\"\nstrategy = \"one_for_all\"",
            "name = \"workers\"\nstrategy = \"rest_for_one\"\nrestart = \"transient\"\nauto_shutdown = \"any_significant\"",
        );
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "~ child root/workers: restart permanent -> transient (from now on)",
                "~ supervisor root/workers: strategy one_for_all -> rest_for_one, \
                 auto_shutdown never -> any_significant (no restart)",
            ]
        );
    }

    #[test]
    fn what_cannot_be_applied_to_a_running_tree_names_the_line_and_field_of_the_file() {
        let cases = [
            (
                BASE.replace("name = \"root\"", "name = \"top\""),
                "dir/tree.toml:7: supervisor.name: the running root supervisor is \"root\"",
            ),
            (
                format!("[node]\nmax_instances = 50\n{BASE}"),
                "dir/tree.toml:2: node.max_instances: counted from the tree -> 50: the instance pool is sized",
            ),
            (
                format!("[node]\nfast_traps = true\n{BASE}"),
                "dir/tree.toml:2: node.fast_traps: false -> true: the engine is built",
            ),
            (
                BASE.replace(
                    "name = \"workers\"\nstrategy = \"one_for_all\"\n\n[[supervisor.children.children]]\nname = \"w1\"\ncomponent = \"cache\"",
                    "name = \"workers\"\ndynamic = {}",
                ),
                "dir/tree.toml:21: supervisor.children[2].dynamic: root/workers runs as a static supervisor: it cannot turn dynamic in place",
            ),
            (
                BASE.replace("dynamic = { max_children = 10 }", "strategy = \"one_for_one\""),
                "dir/tree.toml:27: supervisor.children[3]: root/pool runs as a dynamic supervisor: it cannot turn static in place",
            ),
        ];
        for (new, expect) in cases {
            let err = plan(BASE, &new, &[]).unwrap_err().to_string();
            assert!(err.starts_with(expect), "expected {expect:?}, got {err:?}");
        }
    }

    #[test]
    fn a_component_with_the_same_content_under_another_file_is_not_swapped() {
        let new = BASE.replace("probe = \"probe.wasm\"", "probe = \"v1/probe.wasm\"");
        let (plan, _, _) = plan(BASE, &new, &[]).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "~ component probe: file dir/probe.wasm -> dir/v1/probe.wasm (same content: nothing to swap)"
            ]
        );
    }
}
