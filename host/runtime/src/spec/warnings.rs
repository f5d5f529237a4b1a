//! Tree files that are valid but will not do what they say: warnings, not
//! errors, since a tree may mean them. `arbor check` prints them and `arbor
//! run` logs them.

use crate::spec::{ChildSpec, SupervisorSpec, TreeSpec};
use crate::vocab::RestartType;

impl TreeSpec {
    /// What in this tree is valid but will not work as written, one line
    /// each, as `FILE:LINE: FIELD: what` (the form of a [`crate::SpecError`]).
    pub fn warnings(&self) -> Vec<String> {
        let mut found = Vec::new();
        poison_beyond_intensity(self, &self.root, "supervisor", &mut found);
        found
    }
}

/// A worker whose `poison.after` exceeds its supervisor's `max_restarts`:
/// every crash on a poison message is a restart, so the supervisor gives
/// up (and the tree above decides) before the message is set aside.
fn poison_beyond_intensity(
    tree: &TreeSpec,
    supervisor: &SupervisorSpec,
    at: &str,
    found: &mut Vec<String>,
) {
    let intensity = supervisor.intensity;
    for (i, child) in supervisor.children.iter().enumerate() {
        let child_at = format!("{at}.children[{i}]");
        match child {
            ChildSpec::Worker(worker) => {
                let Some(poison) = worker.poison else {
                    continue;
                };
                // A temporary worker is never restarted: nothing is redelivered.
                if worker.restart == RestartType::Temporary
                    || poison.after <= intensity.max_restarts
                {
                    continue;
                }
                let field = format!("{child_at}.poison.after");
                found.push(format!(
                    "{}:{}: {field}: a message that crashes {:?} every time is set aside after {} \
                     crashes, but its supervisor {:?} gives up after {} restarts in {} s: raise \
                     the supervisor's max_restarts to {} or lower after",
                    tree.source.display(),
                    tree.line_of(&field),
                    worker.name,
                    poison.after,
                    supervisor.name,
                    intensity.max_restarts,
                    intensity.max_seconds.as_secs_f64(),
                    poison.after,
                ));
            }
            ChildSpec::Supervisor(nested) => {
                poison_beyond_intensity(tree, nested, &child_at, found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::TreeSpec;

    fn warnings(body: &str) -> Vec<String> {
        let text = format!("[components]\nprobe = \"probe.wasm\"\n\n{body}");
        TreeSpec::parse(std::path::Path::new("dir/tree.toml"), &text)
            .expect("valid tree")
            .warnings()
    }

    #[test]
    fn poison_after_beyond_the_supervisors_max_restarts_is_warned_with_its_line() {
        let found = warnings(
            "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"sub\"\n\
             max_restarts = 2\n\n[[supervisor.children.children]]\nname = \"w\"\n\
             component = \"probe\"\npoison = { after = 5 }\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].ends_with(
                "dir/tree.toml:11: supervisor.children[0].children[0].poison.after: a message that crashes \
                 \"w\" every time is set aside after 5 crashes, but its supervisor \"sub\" gives \
                 up after 2 restarts in 5 s: raise the supervisor's max_restarts to 5 or lower after"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn poison_within_the_intensity_or_on_a_temporary_worker_is_not_warned() {
        // The default `after` (3) fits the default intensity (3 in 5 s).
        let defaults = "[supervisor]\nname = \"root\"\n\n[[supervisor.children]]\nname = \"w\"\n\
                        component = \"probe\"\npoison = {}\n";
        assert_eq!(warnings(defaults), Vec::<String>::new());
        let temporary = "[supervisor]\nname = \"root\"\nmax_restarts = 1\n\n\
                         [[supervisor.children]]\nname = \"w\"\ncomponent = \"probe\"\n\
                         restart = \"temporary\"\npoison = { after = 4 }\n";
        assert_eq!(warnings(temporary), Vec::<String>::new());
    }
}
