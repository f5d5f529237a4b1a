//! Changing a running tree to match a changed tree file (`arbor ctl
//! apply`, OTP's release upgrade as one command):
//!
//! - [`plan`]: what differs and in which order it is carried out, computed
//!   without touching anything (what `--dry-run` prints); `changes`: which
//!   settings differ; `show`: how a plan reads; `edit`: the remembered tree
//!   kept in step with each step carried out;
//! - [`apply`]: carrying the plan out on a running host, and rolling its
//!   swaps back when a step fails.

pub mod apply;
mod changes;
mod edit;
pub mod plan;
mod show;
