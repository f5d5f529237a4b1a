//! Arbor's Rust guest SDK: a supervised guest is a struct and its methods.
//!
//! Implement [`Actor`] for the type that holds a child's state (`init`
//! makes it, `handle` serves each message, `terminate` runs on an orderly
//! stop), and [`Handover`] too if its state should survive a hot swap; then
//! [`export!`] it. The SDK builds against the contract `arbor:supervised@0.2.3`
//! (`wit/arbor.wit`) and wraps what the host offers: [`log`] and
//! [`info!`]-style macros, [`self_name`], [`call`], [`cast`], [`cast_self`],
//! [`stop`], [`crash`], children ([`start_child`], [`stop_child`]) and timers
//! ([`send_after`], [`cancel_timer`]), with typed errors ([`CallError`],
//! [`ChildError`]). With the cargo feature `serde` (on by default),
//! [`typed`] adds messages and calls of serde types, JSON on the wire. A
//! component that also exports something else (an HTTP child's
//! `wasi:http/incoming-handler`) reaches the actor's state with [`state`].
//!
//! A panic anywhere in a guest is a crash: the host drops the instance and
//! its state, and its supervisor decides whether a fresh one starts. The
//! SDK's panic hook reports the panic's message and location to the host
//! ([`crash`], contract 0.2.3's `host.crash`), which ends the instance with
//! that text as the crash's detail and without a hardware trap.
//!
//! ```no_run
//! use arbor_guest::{Actor, ExitReason, Handover, Init};
//!
//! /// A counter: `ping` answers `pong`, `count` counts, `crash` crashes.
//! struct Counter {
//!     seen: u64,
//! }
//!
//! impl Actor for Counter {
//!     fn init(_args: &[u8]) -> Result<Init<Self>, String> {
//!         arbor_guest::info!("{} starting", arbor_guest::self_name());
//!         Ok(Init::Running(Counter { seen: 0 }))
//!     }
//!
//!     fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
//!         match message {
//!             b"ping" => Ok(b"pong".to_vec()),
//!             b"count" => {
//!                 self.seen += 1;
//!                 Ok(self.seen.to_string().into_bytes())
//!             }
//!             b"crash" => panic!("crash requested"),
//!             other => Err(format!("unknown message: {}", String::from_utf8_lossy(other))),
//!         }
//!     }
//!
//!     fn terminate(&mut self, reason: ExitReason) {
//!         arbor_guest::info!("stopping: {reason}");
//!     }
//! }
//!
//! /// The count moves to the new version in a hot swap.
//! impl Handover for Counter {
//!     fn snapshot(&self) -> Result<Vec<u8>, String> {
//!         Ok(self.seen.to_string().into_bytes())
//!     }
//!
//!     fn restore(&mut self, state: &[u8], _from_version: &str) -> Result<(), String> {
//!         let text = std::str::from_utf8(state).map_err(|e| e.to_string())?;
//!         self.seen = text.parse().map_err(|e| format!("bad state {text:?}: {e}"))?;
//!         Ok(())
//!     }
//! }
//!
//! arbor_guest::export!(Counter with handover);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`:
//! `cargo build --release --target wasm32-wasip2`.

#![warn(missing_docs)]

#[doc(hidden)]
#[path = "bindings.rs"]
pub mod __bindings;
mod actor;
mod children;
mod crash;
mod export;
mod host;
mod log;
mod timers;
#[cfg(feature = "serde")]
pub mod typed;

pub use actor::{Actor, Handover, Init};
pub use children::{ChildError, ChildSpec, Grants, Restart, start_child, stop_child};
pub use crash::crash;
pub use export::state;
pub use host::{CallError, ExitReason, call, cast, cast_self, self_name, stop};
pub use log::{Level, log};
pub use timers::{TimerId, cancel_timer, send_after};

/// What [`export!`] expands to; not API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::Export;
}
