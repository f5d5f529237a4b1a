//! "Why did this restart": for each child, the last few exits and the
//! decisions its supervisor made on them, and the chain up through its
//! supervisors (a child at generation 1 under a restarted supervisor
//! started because that supervisor did: its story is the supervisor's).
//!
//! A supervisor records an entry when it decides on an exit, on every
//! child the decision touches (the one that failed, and the siblings a
//! `one_for_all` or `rest_for_one` restart took down with it), so each
//! child's current generation can say where it came from. Entries are kept
//! per place, at most [`KEPT`]: recording costs an exit a few small
//! allocations and an uncontended lock, and a host that never asks keeps
//! only those few entries per child.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::vocab::ExitReason;

/// Entries kept per child, oldest dropped first.
pub const KEPT: usize = 4;

/// The longest message excerpt kept (bytes of the message, shown lossily).
pub const MESSAGE_EXCERPT: usize = 200;

/// An exit and the decision made on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyEntry {
    /// Microseconds since the host started (as events' `t_us`).
    pub t_us: u64,
    /// The exit that set the decision off.
    pub cause: Cause,
    /// What the supervisor did.
    pub decision: DecisionRecord,
}

/// The exit a decision was made on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The child that exited (this child, or a sibling).
    pub path: String,
    /// Its generation when it exited.
    pub generation: u64,
    /// Why it exited.
    pub reason: ExitReason,
    /// The trap, the error, ...
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// The message it was handling when it crashed, if it was handling one
    /// (cut at [`MESSAGE_EXCERPT`] bytes).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// A supervisor's decision on one exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The supervisor.
    pub supervisor: String,
    /// Its strategy then.
    pub strategy: String,
    /// `restart`, `keep_stopped`, `forget` or `give_up`.
    pub action: String,
    /// Siblings it stopped first (reverse start order).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stopped: Vec<String>,
    /// Children it restarted (start order).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub restarted: Vec<String>,
    /// Restarts inside the intensity window after this decision.
    pub restarts_in_window: u64,
    /// The intensity: at most this many restarts...
    pub max_restarts: u32,
    /// ...within this many seconds.
    pub max_seconds: f64,
}

/// One child's kept entries.
#[derive(Debug, Default)]
pub(crate) struct History {
    entries: Mutex<VecDeque<WhyEntry>>,
    /// The message being handled when the instance crashed, set by the
    /// worker on its crash path only and taken by the supervisor.
    crash_message: Mutex<Option<String>>,
}

impl History {
    pub fn push(&self, entry: WhyEntry) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn entries(&self) -> Vec<WhyEntry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.iter().cloned().collect()
    }

    pub fn set_crash_message(&self, message: &[u8]) {
        let cut = &message[..message.len().min(MESSAGE_EXCERPT)];
        let mut text = String::from_utf8_lossy(cut).into_owned();
        if message.len() > MESSAGE_EXCERPT {
            text.push_str(&format!(
                "... [{} more bytes]",
                message.len() - MESSAGE_EXCERPT
            ));
        }
        *self.crash_message.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    pub fn take_crash_message(&self) -> Option<String> {
        self.crash_message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// One place on the way from the root to the child asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Its path.
    pub path: String,
    /// Its generation now.
    pub generation: u64,
    /// Its kept entries, oldest first.
    pub history: Vec<WhyEntry>,
}

/// The answer to `arbor ctl why NAME`: the child's entries, then each
/// supervisor above it, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Why {
    /// The child.
    pub child: Link,
    /// Its supervisors up to (not including) the root, nearest first.
    pub supervisors: Vec<Link>,
}

impl fmt::Display for WhyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cause;
        write!(
            f,
            "  at {:.3} s: {} (generation {}) exited: {}",
            self.t_us as f64 / 1e6,
            c.path,
            c.generation,
            c.reason
        )?;
        if let Some(detail) = &c.detail {
            write!(f, " ({detail})")?;
        }
        writeln!(f)?;
        if let Some(message) = &c.message {
            writeln!(f, "    while handling {message:?}")?;
        }
        let d = &self.decision;
        write!(
            f,
            "    {} ({}) decided: {}",
            d.supervisor, d.strategy, d.action
        )?;
        if !d.stopped.is_empty() {
            write!(f, "; stopped {}", d.stopped.join(", "))?;
        }
        if !d.restarted.is_empty() {
            write!(f, "; restarted {}", d.restarted.join(", "))?;
        }
        writeln!(
            f,
            "; {} of {} restarts in {} s",
            d.restarts_in_window, d.max_restarts, d.max_seconds
        )
    }
}

fn write_link(f: &mut fmt::Formatter<'_>, link: &Link, empty: &str) -> fmt::Result {
    writeln!(f, "{} (generation {})", link.path, link.generation)?;
    if link.history.is_empty() {
        writeln!(f, "  {empty}")?;
    }
    for entry in &link.history {
        write!(f, "{entry}")?;
    }
    Ok(())
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_link(
            f,
            &self.child,
            "no exit recorded since its supervisor started it",
        )?;
        for sup in &self.supervisors {
            write_link(f, sup, "no exit recorded")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t_us: u64) -> WhyEntry {
        WhyEntry {
            t_us,
            cause: Cause {
                path: "root/a".into(),
                generation: 1,
                reason: ExitReason::Crash,
                detail: Some("wasm trap".into()),
                message: Some("crash".into()),
            },
            decision: DecisionRecord {
                supervisor: "root".into(),
                strategy: "one_for_all".into(),
                action: "restart".into(),
                stopped: vec!["root/b".into()],
                restarted: vec!["root/a".into(), "root/b".into()],
                restarts_in_window: 1,
                max_restarts: 3,
                max_seconds: 5.0,
            },
        }
    }

    #[test]
    fn a_history_keeps_the_last_few_entries() {
        let history = History::default();
        for t in 0..10 {
            history.push(entry(t));
        }
        let kept: Vec<u64> = history.entries().iter().map(|e| e.t_us).collect();
        assert_eq!(kept, [6, 7, 8, 9]);
    }

    #[test]
    fn a_crash_message_is_cut_and_taken_once() {
        let history = History::default();
        history.set_crash_message(&[b'x'; 300]);
        let text = history.take_crash_message().unwrap();
        assert!(text.ends_with("... [100 more bytes]"), "{text}");
        assert_eq!(history.take_crash_message(), None);
    }

    #[test]
    fn an_entry_reads_as_the_crash_then_the_decision() {
        let text = entry(1_500_000).to_string();
        assert_eq!(
            text,
            "  at 1.500 s: root/a (generation 1) exited: crash (wasm trap)\n    \
             while handling \"crash\"\n    \
             root (one_for_all) decided: restart; stopped root/b; restarted root/a, root/b; \
             1 of 3 restarts in 5 s\n"
        );
    }
}
