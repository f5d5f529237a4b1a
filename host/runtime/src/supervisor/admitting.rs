//! The grants of a child added at run time (`start_child` from Rust,
//! `arbor ctl start-child`, a guest's `start-child-with-grants`): host
//! directories resolved against the tree file's directory, as the file's
//! are, and every grant checked against the supervisor's `child_grants`.
//! A request that reaches further is refused whole before anything
//! starts, naming the grant. A subtree's workers are checked the same way,
//! and its own supervisors' `child_grants` must fit too.

use std::path::Path;
use std::sync::Arc;

use crate::grants::ChildGrants;
use crate::grants::request::resolve_dirs_of;
use crate::spec::ChildSpec;
use crate::supervisor::driver::Supervisor;
use crate::supervisor::protocol::ChildCommandError;

impl Supervisor {
    /// `spec` with its grants resolved, if they fit within `child_grants`.
    pub(super) fn admit_grants(&self, mut spec: ChildSpec) -> Result<ChildSpec, ChildCommandError> {
        let ceiling = self.spec.child_grants.as_deref();
        admit(ceiling, &self.spec.name, &self.shared.base, &mut spec)?;
        Ok(spec)
    }
}

fn admit(
    ceiling: Option<&ChildGrants>,
    supervisor: &str,
    base: &Path,
    spec: &mut ChildSpec,
) -> Result<(), ChildCommandError> {
    match spec {
        ChildSpec::Worker(worker) => {
            if let Some(grants) = &worker.grants {
                let resolved = resolve_dirs_of(grants, base)?;
                ChildGrants::admits(ceiling, supervisor, Some(&resolved), &worker.keyvalue)?;
                worker.grants = (!resolved.is_empty()).then(|| Arc::new(resolved));
            } else {
                ChildGrants::admits(ceiling, supervisor, None, &worker.keyvalue)?;
            }
        }
        ChildSpec::Supervisor(nested) => {
            if let Some(inner) = &nested.child_grants {
                ChildGrants::admits_ceiling(ceiling, supervisor, inner)?;
            }
            for child in &mut nested.children {
                admit(ceiling, supervisor, base, child)?;
            }
        }
    }
    Ok(())
}
