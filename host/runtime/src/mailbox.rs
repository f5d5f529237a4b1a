//! Mailboxes: the queue in front of each worker, and what a caller gets back.
//!
//! A mailbox belongs to the child's place in the tree, not to an instance:
//! the supervisor keeps the receiving end while the child is down and hands
//! it to each new instance, so messages queued behind a crash reach the fresh
//! instance. Every `call` carries a reply channel; a reply is never dropped
//! in silence: the instance answers, or the host answers with a
//! [`CallError`] saying why it could not.
//!
//! A mailbox is bounded by message count and by queued bytes
//! ([`MailboxLimits`]): a guest that casts in a loop to a busy child would
//! otherwise grow host memory without limit, past any `max_memory_mb`. A
//! send that does not fit fails at once with [`CallError::MailboxFull`];
//! nothing waits for room, so a sender never blocks its scheduler thread.
//! The counters live in the mailbox (shared by both ends), so they travel
//! with it from one instance to the next. Its bounds can change while it is
//! in use (`arbor ctl apply`): messages already queued past a lowered bound
//! stay, and sends are refused until the queue is back under it.
//!
//! A worker with `poison` in the tree file also keeps, in its receiving end,
//! the message that crashed its last instance ([`PoisonSlot`]): it is
//! delivered again before anything queued, so it survives the restart as
//! the queue does. A mailbox without `poison` holds an empty pointer.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::dead_letters::DeadLetters;
use crate::http::exchange::HttpExchange;

/// Largest message the host accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Default bound on the messages queued for one worker (`mailbox_capacity`).
///
/// A healthy worker's queue stays near empty; one that holds thousands of
/// messages is overloaded (OTP's rule of thumb for a process). With the
/// default 5 s call timeout, a backlog of 10,000 is handled in time only if
/// each `handle` takes under 0.5 ms: a deeper queue would mostly hold calls
/// whose callers already gave up. It still absorbs bursts: a fast `handle`
/// (~1 us) drains it in ~10 ms.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 10_000;
/// Default bound on the message bytes queued for one worker (`mailbox_max_mb`).
///
/// The same as the default `max_memory_mb`: a child's queue costs the host at
/// most what the child may use itself. That is four messages of the largest
/// size ([`MAX_MESSAGE_BYTES`]), or 10,000 of 6.5 KiB on average. A count
/// bound alone would let 10,000 messages of 16 MiB through (160 GiB).
pub const DEFAULT_MAILBOX_MAX_BYTES: usize = 64 << 20;
/// The largest `mailbox_capacity` accepted (larger settings are lowered to it).
pub const MAX_MAILBOX_CAPACITY: usize = 1_000_000;
/// The largest `mailbox_max_mb` accepted, in bytes (larger settings are lowered to it).
pub const MAX_MAILBOX_BYTES: usize = 4096 << 20;

/// How much one mailbox may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// Most messages queued (a message being handled no longer counts).
    pub capacity: usize,
    /// Most message bytes queued.
    pub max_bytes: usize,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        MailboxLimits {
            capacity: DEFAULT_MAILBOX_CAPACITY,
            max_bytes: DEFAULT_MAILBOX_MAX_BYTES,
        }
    }
}

/// The bound a full mailbox reached, as the tree file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxLimit {
    /// `mailbox_capacity`: this many messages are queued.
    Messages(usize),
    /// `mailbox_max_mb`: the message would take the queued bytes past this many.
    Bytes(usize),
}

impl fmt::Display for MailboxLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailboxLimit::Messages(n) => write!(f, "limit of {n} messages (mailbox_capacity)"),
            MailboxLimit::Bytes(n) => write!(f, "limit of {n} bytes (mailbox_max_mb)"),
        }
    }
}

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
    /// The message crashed the target `poison.after` times in a row and was
    /// moved to the dead-letter store; the target goes on with the next one.
    #[error(
        "the message crashed the child {attempts} times in a row and was moved to the \
         dead-letter store as {id} (`arbor ctl dead-letters`); the last crash: {detail}"
    )]
    DeadLettered {
        /// Its id in the store (`arbor ctl redeliver ID`).
        id: u64,
        /// How many times in a row it crashed the target.
        attempts: u32,
        /// The last crash.
        detail: String,
    },
    /// The target's `handle` returned `err`.
    #[error("the child answered with an error: {0}")]
    Rejected(String),
    /// A child called itself.
    #[error("a child may not call itself")]
    SelfCall,
    /// `may_call` does not allow this target.
    #[error("not allowed to call {0:?} (may_call)")]
    Denied(String),
    /// The target's mailbox holds as much as it may: the message was not
    /// queued. Retrying later may succeed; the target is not told.
    #[error("the mailbox of {target:?} is full: {limit}")]
    MailboxFull {
        /// The target's name.
        target: String,
        /// Which bound it reached.
        limit: MailboxLimit,
    },
    /// The message exceeds [`MAX_MESSAGE_BYTES`], or all the target's
    /// mailbox may hold (`mailbox_max_mb`).
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl CallError {
    /// The status an HTTP client gets for this error: 503 when the child
    /// could not take the request (stopped, full, no answer in time), 500
    /// when it failed on it.
    pub fn http_status(&self) -> hyper::StatusCode {
        use hyper::StatusCode;
        match self {
            CallError::Stopped(_)
            | CallError::Timeout
            | CallError::MailboxFull { .. }
            | CallError::NoSuchName(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
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
    /// An HTTP request for a child that serves HTTP ([`crate::http`]).
    /// Boxed: an envelope's size is every mailbox's block size.
    Http(Box<HttpExchange>),
}

impl Envelope {
    /// Answers the sender (a cast has nobody to answer; an HTTP request
    /// gets the error's [`CallError::http_status`]).
    pub fn answer(self, reply: Reply) {
        match self {
            Envelope::Call { reply: tx, .. } => {
                // The caller may have given up (timeout): nothing to do then.
                let _ = tx.send(reply);
            }
            Envelope::Cast { .. } => {}
            Envelope::Http(exchange) => {
                if let Err(error) = reply {
                    exchange
                        .responder
                        .fail(error.http_status(), &error.to_string());
                }
            }
        }
    }

    /// The message bytes (none for an HTTP request: its body streams from
    /// the client and is not held in the queue).
    pub fn message(&self) -> &[u8] {
        match self {
            Envelope::Call { message, .. } | Envelope::Cast { message } => message,
            Envelope::Http(_) => &[],
        }
    }
}

/// A worker's poison-message handling (`poison` in the tree file), kept in
/// its mailbox's receiving end so it lasts across restarts as the queue does.
#[derive(Debug)]
pub(crate) struct PoisonSlot {
    /// Crashes in a row that move a message to the store.
    pub after: u32,
    /// Where it goes then.
    pub letters: Arc<DeadLetters>,
    /// The message that crashed the last instance and how many times in a
    /// row it has: delivered before anything queued.
    held: Option<(Envelope, u32)>,
    /// How many times in a row the message being handled now has crashed
    /// the child before (0 for a message fresh from the queue).
    crashes_before: u32,
}

impl PoisonSlot {
    /// How many times in a row the message being handled now had crashed
    /// the child before this delivery.
    pub fn crashes_before(&self) -> u32 {
        self.crashes_before
    }

    /// Keeps `envelope`, which has crashed the child `crashes` times in a
    /// row, for the next instance to take first.
    pub fn hold(&mut self, envelope: Envelope, crashes: u32) {
        self.held = Some((envelope, crashes));
    }

    /// The held message, if any, noting its crashes for the delivery.
    fn redeliver(&mut self) -> Option<Envelope> {
        let (envelope, crashes) = self.held.take()?;
        self.crashes_before = crashes;
        Some(envelope)
    }
}

/// The room left in one mailbox, shared by its two ends.
///
/// Both counts sit in one atomic word (messages in the high bits, bytes in
/// the low [`BYTES_BITS`]), so a send costs one load and one
/// compare-exchange and a receive one subtraction, with no lock on the call
/// round trip. A send reserves before it queues and never overshoots the
/// limits, so neither field can overflow into the other.
#[derive(Debug)]
struct Room {
    /// The bounds, each an atomic of its own so they can change while
    /// senders run (a relaxed load each: a send racing a change may see
    /// either bound, which is all a bound promises).
    capacity: AtomicUsize,
    max_bytes: AtomicUsize,
    queued: AtomicU64,
}

/// Bits of [`Room::queued`] that count bytes; the message count sits above.
const BYTES_BITS: u32 = 40;
const BYTES_MASK: u64 = (1 << BYTES_BITS) - 1;
const ONE_MESSAGE: u64 = 1 << BYTES_BITS;
// Both fields hold their largest bound.
const _: () = assert!(
    MAX_MAILBOX_BYTES as u64 <= BYTES_MASK && MAX_MAILBOX_CAPACITY as u64 <= u64::MAX >> BYTES_BITS
);

impl Room {
    fn new(limits: MailboxLimits) -> Room {
        let room = Room {
            capacity: AtomicUsize::new(0),
            max_bytes: AtomicUsize::new(0),
            queued: AtomicU64::new(0),
        };
        room.set_limits(limits);
        room
    }

    /// New bounds (each lowered to its maximum if above), for the next sends.
    fn set_limits(&self, limits: MailboxLimits) {
        self.capacity
            .store(limits.capacity.min(MAX_MAILBOX_CAPACITY), Ordering::Relaxed);
        self.max_bytes
            .store(limits.max_bytes.min(MAX_MAILBOX_BYTES), Ordering::Relaxed);
    }

    fn limits(&self) -> MailboxLimits {
        MailboxLimits {
            capacity: self.capacity.load(Ordering::Relaxed),
            max_bytes: self.max_bytes.load(Ordering::Relaxed),
        }
    }

    /// Takes room for one message of `bytes`, or says which bound is reached.
    /// Relaxed is enough: the count orders nothing else (the channel carries
    /// the message itself).
    fn reserve(&self, bytes: usize) -> Result<(), SendError> {
        let MailboxLimits {
            capacity,
            max_bytes,
        } = self.limits();
        if bytes > max_bytes {
            return Err(SendError::TooLarge {
                size: bytes,
                limit: max_bytes,
            });
        }
        let fits = |queued: u64| {
            (queued >> BYTES_BITS) < capacity as u64
                && (queued & BYTES_MASK) + bytes as u64 <= max_bytes as u64
        };
        self.queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                fits(queued).then_some(queued + ONE_MESSAGE + bytes as u64)
            })
            .map(|_| ())
            .map_err(|queued| {
                SendError::Full(if (queued >> BYTES_BITS) >= capacity as u64 {
                    MailboxLimit::Messages(capacity)
                } else {
                    MailboxLimit::Bytes(max_bytes)
                })
            })
    }

    /// Gives back the room of a message that left the queue (or never got in).
    fn release(&self, bytes: usize) {
        self.queued
            .fetch_sub(ONE_MESSAGE + bytes as u64, Ordering::Relaxed);
    }

    /// Messages and bytes queued now.
    fn queued(&self) -> (u64, u64) {
        let queued = self.queued.load(Ordering::Relaxed);
        (queued >> BYTES_BITS, queued & BYTES_MASK)
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The mailbox holds as much as its limits allow.
    #[error("the mailbox is full: {0}")]
    Full(MailboxLimit),
    /// The message alone is more than the mailbox may ever hold.
    #[error("message of {size} bytes exceeds the mailbox's limit of {limit} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The mailbox's byte bound.
        limit: usize,
    },
    /// The mailbox was closed (the child stopped for good).
    #[error("the mailbox is closed")]
    Closed,
}

impl SendError {
    /// What the sender of a message to `target` is told.
    pub fn for_target(self, target: &str) -> CallError {
        match self {
            SendError::Full(limit) => CallError::MailboxFull {
                target: target.to_string(),
                limit,
            },
            SendError::TooLarge { size, limit } => CallError::TooLarge { size, limit },
            SendError::Closed => CallError::Stopped(format!("{target} is not running")),
        }
    }
}

/// The sending side of a mailbox, held by the registry. Clones share the queue.
#[derive(Debug, Clone)]
pub struct MailboxSender {
    tx: mpsc::UnboundedSender<Envelope>,
    room: Arc<Room>,
}

impl MailboxSender {
    /// Whether the mailbox was closed (its child stopped and is not being
    /// restarted): a send would fail.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Bounds the mailbox by `limits` from the next send on; what is queued
    /// stays queued.
    pub fn set_limits(&self, limits: MailboxLimits) {
        self.room.set_limits(limits);
    }

    /// Messages queued now (one relaxed load: for inspection).
    pub fn queued(&self) -> u64 {
        self.room.queued().0
    }

    /// Queues `envelope` if the mailbox has room; never waits.
    pub fn send(&self, envelope: Envelope) -> Result<(), SendError> {
        let bytes = envelope.message().len();
        self.room.reserve(bytes)?;
        self.tx.send(envelope).map_err(|_| {
            self.room.release(bytes);
            SendError::Closed
        })
    }
}

/// The receiving side, held by the child's place or its running instance.
/// Taking a message out frees its room.
#[derive(Debug)]
pub struct MailboxReceiver {
    rx: mpsc::UnboundedReceiver<Envelope>,
    room: Arc<Room>,
    /// Boxed: a worker without `poison` pays a pointer for it.
    poison: Option<Box<PoisonSlot>>,
}

impl MailboxReceiver {
    /// The next message, once there is one; `None` when the mailbox is
    /// closed and empty. A message held for redelivery comes first.
    /// Cancel-safe: a message is taken only when returned.
    pub async fn recv(&mut self) -> Option<Envelope> {
        if let Some(envelope) = self.poison.as_mut().and_then(|p| p.redeliver()) {
            return Some(envelope);
        }
        let envelope = self.rx.recv().await?;
        self.taken(&envelope);
        Some(envelope)
    }

    /// The next message if one is held or queued now.
    pub fn try_recv(&mut self) -> Option<Envelope> {
        if let Some(envelope) = self.poison.as_mut().and_then(|p| p.redeliver()) {
            return Some(envelope);
        }
        let envelope = self.rx.try_recv().ok()?;
        self.taken(&envelope);
        Some(envelope)
    }

    /// A message left the queue: its room is free, and it has crashed
    /// nothing yet.
    fn taken(&mut self, envelope: &Envelope) {
        self.room.release(envelope.message().len());
        if let Some(poison) = &mut self.poison {
            poison.crashes_before = 0;
        }
    }

    /// Turns poison handling on (`Some((after, store))`) or off for the
    /// next messages. A message held when it is turned off is still
    /// delivered first, and then handled as any other.
    pub(crate) fn set_poison(&mut self, poison: Option<(u32, Arc<DeadLetters>)>) {
        match (poison, &mut self.poison) {
            (Some((after, letters)), Some(slot)) => {
                slot.after = after;
                slot.letters = letters;
            }
            (Some((after, letters)), None) => {
                self.poison = Some(Box::new(PoisonSlot {
                    after,
                    letters,
                    held: None,
                    crashes_before: 0,
                }));
            }
            (None, Some(slot)) if slot.held.is_some() => slot.after = 0,
            (None, _) => self.poison = None,
        }
    }

    /// The poison handling of this mailbox, when on.
    pub(crate) fn poison(&mut self) -> Option<&mut PoisonSlot> {
        // `after` 0: turned off while a message was held (`set_poison`).
        self.poison.as_deref_mut().filter(|slot| slot.after > 0)
    }

    /// Refuses later sends; queued messages can still be taken.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

/// A new, empty mailbox bounded by `limits` (each lowered to
/// [`MAX_MAILBOX_CAPACITY`] / [`MAX_MAILBOX_BYTES`] if above).
pub fn mailbox(limits: MailboxLimits) -> (MailboxSender, MailboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Room::new(limits));
    (
        MailboxSender {
            tx,
            room: room.clone(),
        },
        MailboxReceiver {
            rx,
            room,
            poison: None,
        },
    )
}

/// Closes a mailbox for good: later sends fail at once, and every message
/// still queued is answered with `Stopped(why)`.
pub fn close_mailbox(mut rx: MailboxReceiver, why: &str) {
    rx.close();
    while let Some(envelope) = rx.try_recv() {
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

    #[test]
    fn an_http_request_does_not_make_every_envelope_larger() {
        // The queue allocates envelopes in blocks: a larger envelope is a
        // larger block in every mailbox, HTTP child or not.
        assert_eq!(
            std::mem::size_of::<Envelope>(),
            std::mem::size_of::<(Vec<u8>, oneshot::Sender<Reply>)>()
        );
    }

    #[test]
    fn a_mailbox_without_poison_pays_one_pointer_for_it() {
        // Held by every worker's place and task: per-child memory.
        assert_eq!(
            std::mem::size_of::<MailboxReceiver>(),
            std::mem::size_of::<(mpsc::UnboundedReceiver<Envelope>, Arc<Room>, usize)>()
        );
    }

    fn poisoned(after: u32) -> (MailboxSender, MailboxReceiver) {
        let (tx, mut rx) = mailbox(MailboxLimits::default());
        let events = crate::events::EventSink::new();
        let letters = Arc::new(DeadLetters::new(Default::default(), events));
        rx.set_poison(Some((after, letters)));
        (tx, rx)
    }

    #[tokio::test]
    async fn a_held_message_comes_before_the_queue_with_its_crashes_and_a_queued_one_with_none() {
        let (tx, mut rx) = poisoned(3);
        tx.send(cast(1)).unwrap();
        let first = rx.recv().await.unwrap();
        assert_eq!(rx.poison().unwrap().crashes_before(), 0);
        rx.poison().unwrap().hold(first, 2);
        let again = rx.recv().await.unwrap();
        assert_eq!(again.message(), [0]);
        assert_eq!(rx.poison().unwrap().crashes_before(), 2);
        tx.send(cast(2)).unwrap();
        assert_eq!(rx.recv().await.unwrap().message(), [0, 0]);
        assert_eq!(rx.poison().unwrap().crashes_before(), 0);
    }

    #[tokio::test]
    async fn closing_a_mailbox_answers_the_held_call_too() {
        let (_tx, mut rx) = poisoned(3);
        let (reply, answer) = oneshot::channel();
        let call = Envelope::Call {
            message: b"x".to_vec(),
            reply,
        };
        rx.poison().unwrap().hold(call, 1);
        close_mailbox(rx, "gone");
        assert_eq!(
            answer.await.unwrap(),
            Err(CallError::Stopped("gone".into()))
        );
    }

    #[tokio::test]
    async fn poison_turned_off_still_delivers_the_held_message_first() {
        let (tx, mut rx) = poisoned(3);
        rx.poison().unwrap().hold(cast(1), 1);
        tx.send(cast(2)).unwrap();
        rx.set_poison(None);
        assert!(rx.poison().is_none(), "off");
        assert_eq!(rx.recv().await.unwrap().message(), [0]);
        assert_eq!(rx.recv().await.unwrap().message(), [0, 0]);
        rx.set_poison(None);
        assert!(rx.poison.is_none(), "nothing held: nothing kept");
    }

    #[tokio::test]
    async fn closing_a_mailbox_answers_every_queued_call() {
        let (tx, rx) = mailbox(MailboxLimits::default());
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

    fn cast(bytes: usize) -> Envelope {
        Envelope::Cast {
            message: vec![0; bytes],
        }
    }

    fn limits(capacity: usize, max_bytes: usize) -> MailboxLimits {
        MailboxLimits {
            capacity,
            max_bytes,
        }
    }

    #[test]
    fn a_mailbox_at_its_message_count_refuses_until_a_message_leaves() {
        let (tx, mut rx) = mailbox(limits(3, 1 << 20));
        for _ in 0..3 {
            tx.send(cast(1)).unwrap();
        }
        assert_eq!(
            tx.send(cast(1)),
            Err(SendError::Full(MailboxLimit::Messages(3)))
        );
        assert_eq!(rx.room.queued(), (3, 3), "the refused message took no room");
        rx.try_recv().unwrap();
        tx.send(cast(1)).unwrap();
        assert_eq!(
            tx.send(cast(1)),
            Err(SendError::Full(MailboxLimit::Messages(3)))
        );
    }

    #[test]
    fn a_mailbox_at_its_byte_bound_refuses_what_does_not_fit_and_takes_what_does() {
        let (tx, mut rx) = mailbox(limits(100, 10));
        tx.send(cast(4)).unwrap();
        tx.send(cast(4)).unwrap();
        assert_eq!(
            tx.send(cast(4)),
            Err(SendError::Full(MailboxLimit::Bytes(10)))
        );
        tx.send(cast(2)).unwrap();
        assert_eq!(rx.room.queued(), (3, 10));
        rx.try_recv().unwrap();
        tx.send(cast(4)).unwrap();
        assert_eq!(rx.room.queued(), (3, 10));
    }

    #[tokio::test]
    async fn receiving_frees_the_room_of_each_message_taken() {
        let (tx, mut rx) = mailbox(limits(2, 100));
        tx.send(cast(30)).unwrap();
        tx.send(cast(20)).unwrap();
        rx.recv().await.unwrap();
        assert_eq!(rx.room.queued(), (1, 20));
        rx.recv().await.unwrap();
        assert_eq!(rx.room.queued(), (0, 0));
    }

    #[test]
    fn a_message_larger_than_the_whole_mailbox_is_too_large_not_full() {
        let (tx, _rx) = mailbox(limits(10, 8));
        assert_eq!(
            tx.send(cast(9)),
            Err(SendError::TooLarge { size: 9, limit: 8 })
        );
    }

    #[test]
    fn a_full_mailbox_names_its_target_and_the_setting_to_raise() {
        let full = SendError::Full(MailboxLimit::Messages(3)).for_target("w");
        assert_eq!(
            full,
            CallError::MailboxFull {
                target: "w".into(),
                limit: MailboxLimit::Messages(3)
            }
        );
        assert_eq!(
            full.to_string(),
            "the mailbox of \"w\" is full: limit of 3 messages (mailbox_capacity)"
        );
        let full = SendError::Full(MailboxLimit::Bytes(1 << 20)).for_target("w");
        assert!(
            full.to_string()
                .ends_with("limit of 1048576 bytes (mailbox_max_mb)")
        );
    }

    #[test]
    fn limits_above_the_maximum_are_lowered_to_it() {
        let (_tx, rx) = mailbox(limits(usize::MAX, usize::MAX));
        assert_eq!(
            rx.room.limits(),
            limits(MAX_MAILBOX_CAPACITY, MAX_MAILBOX_BYTES)
        );
    }

    #[test]
    fn lowered_limits_keep_what_is_queued_and_refuse_until_it_drains_below_them() {
        let (tx, mut rx) = mailbox(limits(10, 1 << 20));
        for _ in 0..3 {
            tx.send(cast(1)).unwrap();
        }
        tx.set_limits(limits(2, 1 << 20));
        assert_eq!(
            tx.send(cast(1)),
            Err(SendError::Full(MailboxLimit::Messages(2)))
        );
        assert_eq!(rx.room.queued(), (3, 3), "nothing queued was dropped");
        rx.try_recv().unwrap();
        rx.try_recv().unwrap();
        tx.send(cast(1)).unwrap();
        tx.set_limits(limits(10, 4));
        assert_eq!(
            tx.send(cast(3)),
            Err(SendError::Full(MailboxLimit::Bytes(4)))
        );
        tx.send(cast(2)).unwrap();
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
