//! What the command tests share: the probe component and tree-file text.

use std::time::Duration;

/// How long any single wait may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The probe guest component.
pub fn probe() -> &'static str {
    arbor_guest_artifacts::PROBE
}

/// A tree file text with `[components] probe = <the probe>` prepended.
pub fn tree(body: &str) -> String {
    format!("[components]\nprobe = {:?}\n\n{body}", probe())
}
