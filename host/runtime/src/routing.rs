//! How a name reaches a mailbox: the path every `call` and `cast` takes,
//! from a guest (`host.call`) or from Rust (`NodeHandle::call`).
//!
//! A child's host state knows only a [`Router`], not the registry behind
//! it, so the guest-facing layer does not depend on supervisors, and a name
//! could one day resolve to a mailbox on another machine without the call
//! path changing shape. Sending and waiting are the same for every router
//! ([`call`], [`cast`]).

use std::time::Duration;

use tokio::sync::oneshot;

use crate::mailbox::{CallError, Envelope, MailboxSender, Reply, check_size};

/// Resolves names to mailboxes.
pub(crate) trait Router: Send + Sync {
    /// The mailbox of the worker `target`, or why there is none.
    fn resolve(&self, target: &str) -> Result<MailboxSender, CallError>;
}

/// Sends `message` to `target` and waits up to `timeout` for the reply.
/// `from` is the calling child's name, if a child is calling.
pub(crate) async fn call(
    router: &dyn Router,
    from: Option<&str>,
    target: &str,
    message: Vec<u8>,
    timeout: Duration,
) -> Reply {
    if from == Some(target) {
        return Err(CallError::SelfCall);
    }
    check_size(&message)?;
    let mailbox = router.resolve(target)?;
    let (reply, answer) = oneshot::channel();
    // A full mailbox refuses at once: the queue must not grow, and
    // waiting for room would hold the caller for nothing it asked.
    mailbox
        .send(Envelope::Call { message, reply })
        .map_err(|e| e.for_target(target))?;
    match tokio::time::timeout(timeout, answer).await {
        Err(_) => Err(CallError::Timeout),
        // The instance holding the message was dropped (killed).
        Ok(Err(_)) => Err(CallError::Stopped(format!(
            "{target} stopped before it answered"
        ))),
        Ok(Ok(reply)) => reply,
    }
}

/// Queues `message` for `target` without waiting. Unlike [`call`], a cast
/// to oneself is allowed (nobody waits, so it cannot deadlock).
pub(crate) fn cast(router: &dyn Router, target: &str, message: Vec<u8>) -> Result<(), CallError> {
    check_size(&message)?;
    router
        .resolve(target)?
        .send(Envelope::Cast { message })
        .map_err(|e| e.for_target(target))
}
