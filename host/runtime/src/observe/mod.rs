//! The observer: what a running host shows about itself without asking its
//! supervisors anything. It reads what they publish ([`crate::supervisor::inspect`])
//! and the counters the runtime keeps ([`stats`]); nothing here calls into
//! guest code or waits on a supervisor.
//!
//! - [`stats`]: counters per supervisor and component, kept as things happen;
//! - [`metrics`]: those counters and the live tree in Prometheus text format;
//! - [`snapshot`]: the live tree with what only the observer shows;
//! - [`why`]: each child's last exits and the decisions on them;
//! - [`feed`]: the event stream numbered for pages;
//! - [`actions`]: what guards the page's actions;
//! - [`server`]: the HTTP routes and the page (`page/`, plain HTML, script
//!   and style embedded in the binary).

pub mod actions;
pub mod feed;
pub mod metrics;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod why;
