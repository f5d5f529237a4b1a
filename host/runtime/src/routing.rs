//! How a name reaches a mailbox: the path every `call` and `cast` takes,
//! from a guest (`host.call`) or from Rust (`NodeHandle::call`); and how a
//! guest's `children.start-child` / `stop-child` reach a supervisor by name.
//!
//! A child's host state knows only a [`Router`], not the registry behind
//! it, so the guest-facing layer does not depend on supervisors, and a name
//! could one day resolve to a mailbox on another machine without the call
//! path changing shape. Sending and waiting are the same for every router
//! ([`call`], [`cast`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::mailbox::{CallError, Envelope, MailboxSender, Reply, check_size};
use crate::spec::WorkerSpec;

/// What a guest's start or stop of a child comes to, once the supervisor
/// answered (or did not).
pub(crate) type ChildOrder<T> = Pin<Box<dyn Future<Output = Result<T, ChildError>> + Send>>;

/// Resolves names: to mailboxes for messages, to supervisors for starting
/// and stopping children.
pub(crate) trait Router: Send + Sync {
    /// The mailbox of the worker `target`, or why there is none.
    fn resolve(&self, target: &str) -> Result<MailboxSender, CallError>;

    /// Queues `envelope` in the mailbox of the worker `target`. A router
    /// that holds its senders may send through its own (the registry does):
    /// a clone of the sender made and dropped per message is four atomic
    /// operations on the call round trip.
    fn send(&self, target: &str, envelope: Envelope) -> Result<(), CallError> {
        self.resolve(target)?
            .send(envelope)
            .map_err(|e| e.for_target(target))
    }

    /// Starts `spec` under the supervisor `supervisor`; resolves to the
    /// child's name once its `init` has run.
    fn start_child(&self, supervisor: &str, spec: WorkerSpec) -> ChildOrder<String>;

    /// Stops the child `name` of the supervisor `supervisor`.
    fn stop_child(&self, supervisor: &str, name: &str) -> ChildOrder<()>;
}

/// Why a guest's `start-child` or `stop-child` failed: the cases of the
/// contract's `children.child-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildError {
    /// The name is taken in the host.
    #[error("the name {0:?} is already in use")]
    AlreadyStarted(String),
    /// The supervisor holds its `max_children` already.
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    /// No such key in `[components]`.
    #[error("unknown component {0:?}")]
    UnknownComponent(String),
    /// The caller's `may_start` does not name this supervisor.
    #[error("not allowed to start or stop children under {0:?} (may_start)")]
    Denied(String),
    /// A grant asked for is wider than the supervisor's `child_grants`
    /// (the text names it); the contract's `denied` too.
    #[error("denied: {0}")]
    GrantDenied(String),
    /// No supervisor of that name runs.
    #[error("no supervisor named {0:?} is running")]
    NoSuchSupervisor(String),
    /// The supervisor has no child of that name.
    #[error("no child named {0:?} under this supervisor")]
    NoSuchChild(String),
    /// The name is not a valid child name.
    #[error("invalid child name: {0}")]
    InvalidName(String),
    /// The child's `init` failed or trapped, or the supervisor refused it
    /// for another reason (the text says which).
    #[error("{0}")]
    StartFailed(String),
    /// The child's `init` answered `ignore`.
    #[error("the child's init answered ignore: nothing runs")]
    Ignored,
    /// The supervisor did not answer in time.
    #[error("the supervisor did not answer in time")]
    Timeout,
}

/// Waits at most `timeout` for `order`: a supervisor busy starting the
/// caller itself (a child ordering its own supervisor from `init`) must not
/// hold the caller forever.
pub(crate) async fn within<T>(timeout: Duration, order: ChildOrder<T>) -> Result<T, ChildError> {
    tokio::time::timeout(timeout, order)
        .await
        .unwrap_or(Err(ChildError::Timeout))
}

/// Sends `message` to `target` and waits up to `timeout` for the reply.
/// `from` is the calling child's name, if a child is calling. A caller
/// outside the scheduler threads spins up to `spin` for the reply first.
pub(crate) async fn call(
    router: &dyn Router,
    from: Option<&str>,
    target: &str,
    message: Vec<u8>,
    timeout: Duration,
    spin: Duration,
) -> Reply {
    if from == Some(target) {
        return Err(CallError::SelfCall);
    }
    let answer = send_call(router, target, message)?;
    reply_within(target, answer, timeout, spin).await
}

/// [`call`] from a guest, which always waits on its scheduler thread: the
/// timeout is noted with the thread's sweeper ([`crate::deadlines`]), not
/// armed as a timer of its own.
pub(crate) async fn call_on_thread(
    router: &dyn Router,
    from: &str,
    target: &str,
    message: Vec<u8>,
    timeout: Duration,
) -> Reply {
    if from == target {
        return Err(CallError::SelfCall);
    }
    let answer = send_call(router, target, message)?;
    let answered = crate::deadlines::within(timeout, answer).await;
    settle(target, answered.map(Result::ok).map_err(|_| ()))
}

/// Queues `message` for `target` as a call; the receiver gets its reply.
pub(crate) fn send_call(
    router: &dyn Router,
    target: &str,
    message: Vec<u8>,
) -> Result<oneshot::Receiver<Reply>, CallError> {
    check_size(&message)?;
    let (reply, answer) = oneshot::channel();
    // A full mailbox refuses at once: the queue must not grow, and
    // waiting for room would hold the caller for nothing it asked.
    router.send(target, Envelope::Call { message, reply })?;
    Ok(answer)
}

/// Waits up to `timeout` for the reply of a call queued for `target`,
/// spinning up to `spin` first when off the scheduler threads.
pub(crate) async fn reply_within(
    target: &str,
    answer: oneshot::Receiver<Reply>,
    timeout: Duration,
    spin: Duration,
) -> Reply {
    let answered =
        tokio::time::timeout(timeout, crate::scheduler::wait_off_scheduler(answer, spin)).await;
    settle(target, answered.map_err(|_| ()))
}

/// The reply to a call queued for `target`, from what its wait came to:
/// `Err(())` when the timeout passed first, `Ok(None)` when the reply's
/// sender was dropped.
fn settle(target: &str, answered: Result<Option<Reply>, ()>) -> Reply {
    match answered {
        Err(()) => Err(CallError::Timeout),
        // The instance holding the message was dropped (killed).
        Ok(None) => Err(CallError::Stopped(format!(
            "{target} stopped before it answered"
        ))),
        Ok(Some(reply)) => reply,
    }
}

/// Queues `message` for `target` without waiting. Unlike [`call`], a cast
/// to oneself is allowed (nobody waits, so it cannot deadlock).
pub(crate) fn cast(router: &dyn Router, target: &str, message: Vec<u8>) -> Result<(), CallError> {
    check_size(&message)?;
    router.send(target, Envelope::Cast { message })
}
