//! Messages sent later (Erlang's `send_after/3` and `cancel_timer/1`):
//! [`send_after`], [`cancel_timer`] and the [`TimerId`] that names a pending
//! timer. A timer belongs to the instance that set it: a crash or restart
//! cancels it, a hot swap keeps it.

use std::fmt;
use std::time::Duration;

use crate::__bindings::plain::arbor::supervised::timers;
use crate::CallError;

/// Names a pending timer, unique within the instance that set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(u64);

impl TimerId {
    /// The id as a number, to put in a message.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A timer id read back from a message (what [`TimerId::get`] gave).
impl From<u64> for TimerId {
    fn from(id: u64) -> Self {
        TimerId(id)
    }
}

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Casts `message` to `target` (this child's own name included) after
/// `delay` (whole milliseconds; longer than `u64::MAX` ms waits that long).
/// Checked when set: `may_call`, the message size, at most 100,000 pending
/// timers per child. When it fires it is a cast: a full mailbox or a name
/// that no longer exists drops it, with a warning in the host's log.
pub fn send_after(target: &str, message: &[u8], delay: Duration) -> Result<TimerId, CallError> {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    timers::send_after(target, message, ms)
        .map(TimerId)
        .map_err(CallError::from)
}

/// Cancels a pending timer: `true` if it was pending and will not fire,
/// `false` if it already fired, was cancelled, or was never set.
pub fn cancel_timer(timer: TimerId) -> bool {
    timers::cancel_timer(timer.0)
}
