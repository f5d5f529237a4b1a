//! What the host gives every guest: the per-child `Store` data and the
//! `arbor:supervised/host` functions (`log`, `self-name`, `call`, `cast`,
//! `stop`).
//!
//! A guest sees nothing of the machine: its WASI context inherits no files,
//! environment or stdio, and its memory is capped by a [`StoreLimits`].

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::batch_writer::clip;
use crate::bindings::arbor::supervised::{host, types};
use crate::bindings::{Level, WitCallError, WitExitReason};
use crate::mailbox::CallError;
use crate::registry::Registry;
use crate::spec::WorkerSpec;

/// Longest guest `log` message written whole, in bytes. A log line is queued
/// in host memory until stderr takes it; a guest must not decide its size.
/// 64 KiB keeps any real diagnostic (a JSON document, a backtrace) intact.
pub const MAX_LOG_MESSAGE_BYTES: usize = 64 << 10;

/// The data of one child's `Store`: dropped with it on every restart.
pub struct ChildState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    name: Arc<str>,
    path: Arc<str>,
    registry: Registry,
    call_timeout: Duration,
    may_call: Option<Arc<[String]>>,
    /// Set by `host.stop`: the child exits once the current callback returns.
    pub(crate) stop_request: Option<WitExitReason>,
}

impl ChildState {
    /// Fresh state for an instance of `spec` at `path`.
    pub fn new(spec: &WorkerSpec, path: Arc<str>, registry: Registry) -> ChildState {
        ChildState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(spec.max_memory_bytes)
                .instances(64)
                .build(),
            name: Arc::from(spec.name.as_str()),
            path,
            registry,
            call_timeout: spec.call_timeout,
            may_call: spec.may_call.as_deref().map(Arc::from),
            stop_request: None,
        }
    }

    /// The child's path in the tree.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    fn allowed(&self, target: &str) -> Result<(), CallError> {
        match &self.may_call {
            Some(list) if !list.iter().any(|n| n == target) => {
                Err(CallError::Denied(target.to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl WasiView for ChildState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn to_wit(error: CallError) -> WitCallError {
    match error {
        // The contract has no case of its own for this: `rejected`, with a
        // text that says the mailbox is full and names the target.
        full @ CallError::MailboxFull { .. } => WitCallError::Rejected(full.to_string()),
        CallError::NoSuchName(n) | CallError::NotAWorker(n) => WitCallError::NoSuchName(n),
        CallError::Stopped(why) => WitCallError::Stopped(why),
        CallError::Timeout => WitCallError::Timeout,
        CallError::Crashed(why) => WitCallError::Crashed(why),
        CallError::Rejected(why) => WitCallError::Rejected(why),
        CallError::SelfCall => WitCallError::SelfCall,
        CallError::Denied(n) => WitCallError::Denied(n),
        CallError::TooLarge { limit, .. } => WitCallError::TooLarge(limit as u64),
    }
}

impl types::Host for ChildState {}

impl host::Host for ChildState {
    async fn log(&mut self, level: Level, message: String) {
        let path = &*self.path;
        let message = clip(&message, MAX_LOG_MESSAGE_BYTES);
        match level {
            Level::Trace => tracing::trace!(target: "arbor::guest", child = path, "{message}"),
            Level::Debug => tracing::debug!(target: "arbor::guest", child = path, "{message}"),
            Level::Info => tracing::info!(target: "arbor::guest", child = path, "{message}"),
            Level::Warn => tracing::warn!(target: "arbor::guest", child = path, "{message}"),
            Level::Error => tracing::error!(target: "arbor::guest", child = path, "{message}"),
        }
    }

    async fn self_name(&mut self) -> String {
        self.name.to_string()
    }

    async fn call(&mut self, target: String, message: Vec<u8>) -> Result<Vec<u8>, WitCallError> {
        self.allowed(&target).map_err(to_wit)?;
        self.registry
            .call(Some(&self.name), &target, message, self.call_timeout)
            .await
            .map_err(to_wit)
    }

    async fn cast(&mut self, target: String, message: Vec<u8>) -> Result<(), WitCallError> {
        self.allowed(&target).map_err(to_wit)?;
        self.registry.cast(&target, message).map_err(to_wit)
    }

    async fn stop(&mut self, reason: WitExitReason) {
        self.stop_request = Some(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_mailbox_reaches_guests_as_rejected_naming_the_target() {
        let full = CallError::MailboxFull {
            target: "sleeper".into(),
            limit: crate::mailbox::MailboxLimit::Messages(8),
        };
        match to_wit(full) {
            WitCallError::Rejected(text) => assert_eq!(
                text,
                "the mailbox of \"sleeper\" is full: limit of 8 messages (mailbox_capacity)"
            ),
            other => panic!("expected rejected, got {other:?}"),
        }
    }
}
