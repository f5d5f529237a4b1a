//! A worker's side of poison messages (`poison = { after = N }`): what
//! becomes of a call or cast whose `handle` crashed the instance.
//!
//! Without `poison`, the message is answered with the crash and dropped,
//! as OTP does. With it, the message is kept at the head of the mailbox,
//! with its reply channel, and delivered again to the fresh instance
//! before anything queued; its caller keeps waiting. Once it has crashed
//! the child `after` times in a row it goes to the host's dead-letter
//! store instead, its caller gets [`CallError::DeadLettered`], and the
//! next instance goes on with the next message. Each of those crashes is
//! still a crash: the supervisor restarts the child as usual and counts it
//! against its intensity. HTTP requests are never held: a client that saw
//! its connection fail cannot be answered by a later attempt.

use tokio::sync::oneshot;

use super::Task;
use crate::dead_letters::NewLetter;
use crate::events::MessageKind;
use crate::mailbox::{CallError, Envelope, Reply};

impl Task {
    /// The call (`reply` set) or cast `message` crashed the instance with
    /// `detail`: answer it with the crash, hold it for the next instance,
    /// or dead-letter it.
    pub(super) fn crashed_on(
        &mut self,
        message: Vec<u8>,
        reply: Option<oneshot::Sender<Reply>>,
        detail: &str,
    ) {
        let Some(poison) = self.mailbox.poison() else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(CallError::Crashed(detail.to_string())));
            }
            return;
        };
        let crashes = poison.crashes_before() + 1;
        let path = self.instance.store.data().path();
        if crashes < poison.after {
            tracing::info!(
                child = path,
                "the message that crashed it goes again to its next instance first \
                 (crash {crashes} in a row; dead-lettered at {})",
                poison.after
            );
            let envelope = match reply {
                Some(reply) => Envelope::Call { message, reply },
                None => Envelope::Cast { message },
            };
            poison.hold(envelope, crashes);
            return;
        }
        let kind = if reply.is_some() {
            MessageKind::Call
        } else {
            MessageKind::Cast
        };
        let id = poison.letters.add(NewLetter {
            path,
            kind,
            message,
            attempts: crashes,
            detail,
        });
        if let Some(reply) = reply {
            // The caller may have given up (timeout): nothing to do then.
            let _ = reply.send(Err(CallError::DeadLettered {
                id,
                attempts: crashes,
                detail: detail.to_string(),
            }));
        }
    }
}
