//! What the host gives every guest (`host` in the contract): its name,
//! calls and casts to other children by name, asking to stop, and the
//! contract's two shared types, [`ExitReason`] and [`CallError`].

use std::fmt;

use crate::__bindings::plain::arbor::supervised::{host, types};

/// Why a child stops: what [`stop`] asks for and what
/// [`Actor::terminate`](crate::Actor::terminate) is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// A normal, expected exit: `transient` children are not restarted.
    Normal,
    /// An orderly stop ordered by the supervisor or the host.
    Shutdown,
    /// An abnormal exit with a description: `transient` children are restarted.
    Error(String),
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Error(why) => write!(f, "error: {why}"),
        }
    }
}

impl From<types::ExitReason> for ExitReason {
    fn from(reason: types::ExitReason) -> Self {
        match reason {
            types::ExitReason::Normal => ExitReason::Normal,
            types::ExitReason::Shutdown => ExitReason::Shutdown,
            types::ExitReason::Error(why) => ExitReason::Error(why),
        }
    }
}

impl From<&ExitReason> for types::ExitReason {
    fn from(reason: &ExitReason) -> Self {
        match reason {
            ExitReason::Normal => types::ExitReason::Normal,
            ExitReason::Shutdown => types::ExitReason::Shutdown,
            ExitReason::Error(why) => types::ExitReason::Error(why.clone()),
        }
    }
}

/// Why a [`call`] or [`cast`] (or a timer, [`send_after`](crate::send_after))
/// did not reach its target or get an answer. It displays as the
/// contract's case and its text, `CASE` or `CASE: TEXT` (`self-call`,
/// `no-such-name: orders`), as the Python and JavaScript scaffolds' modules
/// write their call errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No child of that name is registered in the host.
    NoSuchName(String),
    /// The target stopped (or was not restarted) before it answered.
    Stopped(String),
    /// The target did not answer within the call timeout.
    Timeout,
    /// The target crashed while handling this message.
    Crashed(String),
    /// The target's `handle` returned `Err` with this text: a reply, the
    /// target keeps running.
    Rejected(String),
    /// A child may not call itself: it would wait for its own reply forever
    /// ([`cast_self`] is allowed).
    SelfCall,
    /// The caller may not call this target (`may_call` in the tree file).
    Denied(String),
    /// The message is larger than the host or the target's mailbox accepts
    /// (the limit, in bytes).
    TooLarge(u64),
    /// The target's mailbox is full: the message was not queued. Drop it,
    /// retry later, or slow down.
    MailboxFull(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoSuchName(name) => write!(f, "no-such-name: {name}"),
            CallError::Stopped(why) => write!(f, "stopped: {why}"),
            CallError::Timeout => f.write_str("timeout"),
            CallError::Crashed(why) => write!(f, "crashed: {why}"),
            CallError::Rejected(why) => write!(f, "rejected: {why}"),
            CallError::SelfCall => f.write_str("self-call"),
            CallError::Denied(why) => write!(f, "denied: {why}"),
            CallError::TooLarge(limit) => write!(f, "too-large: {limit}"),
            CallError::MailboxFull(why) => write!(f, "mailbox-full: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<types::CallError> for CallError {
    fn from(error: types::CallError) -> Self {
        match error {
            types::CallError::NoSuchName(name) => CallError::NoSuchName(name),
            types::CallError::Stopped(why) => CallError::Stopped(why),
            types::CallError::Timeout => CallError::Timeout,
            types::CallError::Crashed(why) => CallError::Crashed(why),
            types::CallError::Rejected(why) => CallError::Rejected(why),
            types::CallError::SelfCall => CallError::SelfCall,
            types::CallError::Denied(why) => CallError::Denied(why),
            types::CallError::TooLarge(limit) => CallError::TooLarge(limit),
            types::CallError::MailboxFull(why) => CallError::MailboxFull(why),
        }
    }
}

/// The registered name of this child.
pub fn self_name() -> String {
    host::self_name()
}

/// Sends `message` to the child named `target` and waits for its reply (at
/// most the call timeout, 5 s unless the tree file says otherwise). The
/// target's `Err` comes back as [`CallError::Rejected`].
pub fn call(target: &str, message: &[u8]) -> Result<Vec<u8>, CallError> {
    host::call(target, message).map_err(CallError::from)
}

/// Queues `message` for the child named `target` without waiting. A full
/// mailbox fails at once with [`CallError::MailboxFull`].
pub fn cast(target: &str, message: &[u8]) -> Result<(), CallError> {
    host::cast(target, message).map_err(CallError::from)
}

/// Queues `message` for this child itself: it is handled after the current
/// callback returns, like Erlang's `self() ! Msg`.
pub fn cast_self(message: &[u8]) -> Result<(), CallError> {
    cast(&self_name(), message)
}

/// Asks the host to stop this child with `reason` once the current callback
/// returns (its `terminate` then runs).
pub fn stop(reason: ExitReason) {
    host::stop(&types::ExitReason::from(&reason));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_errors_read_as_text_naming_the_case() {
        assert_eq!(
            CallError::NoSuchName("a".into()).to_string(),
            "no-such-name: a"
        );
        assert_eq!(CallError::TooLarge(16).to_string(), "too-large: 16");
        assert_eq!(
            CallError::MailboxFull("x".into()).to_string(),
            "mailbox-full: x"
        );
        assert_eq!(CallError::SelfCall.to_string(), "self-call");
    }

    #[test]
    fn exit_reasons_cross_to_the_contract_and_back_unchanged() {
        for reason in [
            ExitReason::Normal,
            ExitReason::Shutdown,
            ExitReason::Error("boom".into()),
        ] {
            assert_eq!(ExitReason::from(types::ExitReason::from(&reason)), reason);
        }
    }
}
