//! What the command tests share: the probe component and tree-file text.

use std::time::Duration;

/// How long any single wait may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The probe guest component.
pub fn probe() -> &'static str {
    arbor_guest_artifacts::PROBE
}

/// The probe's version as `ctl tree` shows it (`worker probe@VERSION`).
pub fn probe_version() -> String {
    let bytes = std::fs::read(probe()).expect("the probe component");
    arbor::engine::content_hash(&bytes)
}

/// A tree file text with `[components] probe = <the probe>` prepended.
pub fn tree(body: &str) -> String {
    format!("[components]\nprobe = {:?}\n\n{body}", probe())
}
