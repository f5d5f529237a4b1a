//! Mailboxes: the queue in front of each worker, and what a caller gets back.
//!
//! A mailbox belongs to the child's place in the tree, not to an instance:
//! the supervisor keeps the receiving end while the child is down and hands
//! it to each new instance, so messages queued behind a crash reach the fresh
//! instance. Every `call` carries a reply channel; a reply is never dropped
//! in silence: the instance answers, or the host answers with a
//! [`CallError`] saying why it could not.

use tokio::sync::{mpsc, oneshot};

/// Largest message the host accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Why a call got no reply from its target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No child of that name is registered.
    #[error("no child named {0:?}")]
    NoSuchName(String),
    /// The name is a supervisor's: only workers take messages.
    #[error("{0:?} is a supervisor; only workers take messages")]
    NotAWorker(String),
    /// The target stopped, or is not being restarted.
    #[error("{0}")]
    Stopped(String),
    /// No reply within the call timeout.
    #[error("no reply within the call timeout")]
    Timeout,
    /// The target crashed while handling this message.
    #[error("the child crashed handling the message: {0}")]
    Crashed(String),
    /// The target's `handle` returned `err`.
    #[error("the child answered with an error: {0}")]
    Rejected(String),
    /// A child called itself.
    #[error("a child may not call itself")]
    SelfCall,
    /// `may_call` does not allow this target.
    #[error("not allowed to call {0:?} (may_call)")]
    Denied(String),
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// The reply to a call.
pub type Reply = Result<Vec<u8>, CallError>;

/// One message in a mailbox.
#[derive(Debug)]
pub enum Envelope {
    /// A message whose sender waits for the reply.
    Call {
        /// The message bytes.
        message: Vec<u8>,
        /// Where the reply goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A message nobody waits for.
    Cast {
        /// The message bytes.
        message: Vec<u8>,
    },
}

impl Envelope {
    /// Answers the sender (a cast has nobody to answer).
    pub fn answer(self, reply: Reply) {
        if let Envelope::Call { reply: tx, .. } = self {
            // The caller may have given up (timeout): nothing to do then.
            let _ = tx.send(reply);
        }
    }

    /// The message bytes.
    pub fn message(&self) -> &[u8] {
        match self {
            Envelope::Call { message, .. } | Envelope::Cast { message } => message,
        }
    }
}

/// The sending side of a mailbox, held by the registry.
pub type MailboxSender = mpsc::UnboundedSender<Envelope>;
/// The receiving side, held by the child's place or its running instance.
pub type MailboxReceiver = mpsc::UnboundedReceiver<Envelope>;

/// A new, empty mailbox.
pub fn mailbox() -> (MailboxSender, MailboxReceiver) {
    mpsc::unbounded_channel()
}

/// Closes a mailbox for good: later sends fail at once, and every message
/// still queued is answered with `Stopped(why)`.
pub fn close_mailbox(mut rx: MailboxReceiver, why: &str) {
    rx.close();
    while let Ok(envelope) = rx.try_recv() {
        envelope.answer(Err(CallError::Stopped(why.to_string())));
    }
}

/// Checks a message against [`MAX_MESSAGE_BYTES`].
pub fn check_size(message: &[u8]) -> Result<(), CallError> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(CallError::TooLarge {
            size: message.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_a_mailbox_answers_every_queued_call() {
        let (tx, rx) = mailbox();
        let (reply_tx, reply_rx) = oneshot::channel();
        tx.send(Envelope::Call {
            message: b"x".to_vec(),
            reply: reply_tx,
        })
        .unwrap();
        close_mailbox(rx, "gone");
        assert_eq!(
            reply_rx.await.unwrap(),
            Err(CallError::Stopped("gone".into()))
        );
        assert!(tx.send(Envelope::Cast { message: vec![] }).is_err());
    }

    #[test]
    fn oversized_messages_are_refused_with_their_size() {
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(
            matches!(check_size(&big), Err(CallError::TooLarge { size, .. }) if size == MAX_MESSAGE_BYTES + 1)
        );
        assert!(check_size(b"ok").is_ok());
    }
}
