//! The dead-letter store: messages that crashed a worker `poison.after`
//! times in a row, set aside so the worker can go on with the next one.
//!
//! One store per host, in memory, bounded by entries and by message bytes
//! ([`DeadLetterLimits`]): a message that keeps crashing its child should
//! not be lost, but a store that grows without bound would let a guest that
//! crashes on every message fill host memory. Past a bound the oldest
//! letters are dropped, and counted ([`DeadLetterList::dropped`]). Each
//! letter added is also a `message_dead_lettered` event.
//!
//! The store only keeps letters; what puts them here is the worker's side
//! of poison handling (`child::poison`), and what sends one back to its
//! child is [`crate::node::NodeHandle::redeliver`]. A child without
//! `poison` never touches it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};

use crate::events::{DeadLetterDetail, EventSink, MessageKind};
use crate::vocab::{ExitReason, last_name};

/// Default bound on the letters a host keeps.
///
/// Each letter is a message that crashed its child `poison.after` times: a
/// healthy system has none, and a few thousand already say that something
/// is badly wrong. 10,000 keeps the evidence of a long incident.
pub const DEFAULT_MAX_LETTERS: usize = 10_000;
/// Default bound on the message bytes the letters hold: the default
/// `mailbox_max_mb` of one child, so the store costs the host at most what
/// one full mailbox does (four messages of the largest size).
pub const DEFAULT_MAX_LETTER_BYTES: usize = 64 << 20;

/// How much the store keeps before it drops its oldest letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterLimits {
    /// Most letters kept (the newest letter is always kept).
    pub max_letters: usize,
    /// Most message bytes kept (the newest letter is kept even if it alone
    /// is larger).
    pub max_bytes: usize,
}

impl Default for DeadLetterLimits {
    fn default() -> Self {
        DeadLetterLimits {
            max_letters: DEFAULT_MAX_LETTERS,
            max_bytes: DEFAULT_MAX_LETTER_BYTES,
        }
    }
}

/// One message in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unique in the host, increasing: `arbor ctl redeliver ID`.
    pub id: u64,
    /// The child's name (what a redelivery is sent to).
    pub child: String,
    /// The child's path in the tree when it crashed.
    pub path: String,
    /// Call or cast.
    pub kind: MessageKind,
    /// The message, byte for byte (base64 on the wire, as a call's reply).
    #[serde(with = "wire_bytes")]
    pub message: Vec<u8>,
    /// How many times in a row it crashed the child.
    pub attempts: u32,
    /// Why the last instance ended (a crash: a trap or its deadline).
    pub reason: ExitReason,
    /// The last crash, as `child_terminated` reported it.
    pub detail: String,
    /// When it was stored: milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The same time as UTC text (RFC 3339, milliseconds).
    pub time: String,
}

/// The letters of a listing, oldest first, and how many the store dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterList {
    /// The letters, oldest first.
    pub letters: Vec<DeadLetter>,
    /// Letters dropped since the host started to keep within the bounds
    /// (of every child, not only those listed).
    pub dropped: u64,
}

/// What a poisoned worker hands the store.
pub(crate) struct NewLetter<'a> {
    pub path: &'a str,
    pub kind: MessageKind,
    pub message: Vec<u8>,
    pub attempts: u32,
    pub detail: &'a str,
}

struct Letters {
    letters: VecDeque<DeadLetter>,
    bytes: usize,
    next_id: u64,
    dropped: u64,
}

/// The host's dead-letter store. Shared by every poisoned worker (it is
/// touched only when a message is dead-lettered, listed or redelivered).
pub struct DeadLetters {
    limits: DeadLetterLimits,
    events: EventSink,
    letters: Mutex<Letters>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// An empty store within `limits` that reports each letter to `events`.
    pub fn new(limits: DeadLetterLimits, events: EventSink) -> Self {
        DeadLetters {
            limits,
            events,
            letters: Mutex::new(Letters {
                letters: VecDeque::new(),
                bytes: 0,
                next_id: 1,
                dropped: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Letters> {
        // A panic while holding the lock leaves the queue intact.
        self.letters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `letter`, dropping the oldest ones past the bounds, and
    /// emits its `message_dead_lettered` event; returns its id.
    pub(crate) fn add(&self, letter: NewLetter<'_>) -> u64 {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let bytes = letter.message.len();
        let mut store = self.lock();
        let id = store.next_id;
        store.next_id += 1;
        let detail = DeadLetterDetail {
            id,
            kind: letter.kind,
            attempts: letter.attempts,
            bytes: bytes as u64,
        };
        store.bytes += bytes;
        store.letters.push_back(DeadLetter {
            id,
            child: last_name(letter.path).to_string(),
            path: letter.path.to_string(),
            kind: letter.kind,
            message: letter.message,
            attempts: letter.attempts,
            reason: ExitReason::Crash,
            detail: letter.detail.to_string(),
            unix_ms,
            time: utc_text(unix_ms),
        });
        let dropped = store.trim(self.limits);
        // Under the lock: whoever reads the event finds the letter listed.
        self.events
            .emit_dead_letter(letter.path, detail, letter.detail);
        drop(store);
        tracing::warn!(
            child = letter.path,
            "a {} crashed it {} times in a row: moved to the dead-letter store as {id} \
             (`arbor ctl dead-letters`); the last crash: {}",
            letter.kind.as_str(),
            letter.attempts,
            letter.detail
        );
        if dropped > 0 {
            tracing::warn!(
                "the dead-letter store is full ({} letters, {} MiB at most): dropped its {dropped} oldest",
                self.limits.max_letters,
                self.limits.max_bytes >> 20
            );
        }
        id
    }

    /// The letters of the child `child` (its name or its path), or all
    /// when `None`, oldest first.
    pub fn list(&self, child: Option<&str>) -> DeadLetterList {
        let store = self.lock();
        DeadLetterList {
            letters: store
                .letters
                .iter()
                .filter(|l| child.is_none_or(|c| l.child == c || l.path == c))
                .cloned()
                .collect(),
            dropped: store.dropped,
        }
    }

    /// Removes and returns the letter `id`.
    pub(crate) fn take(&self, id: u64) -> Option<DeadLetter> {
        let mut store = self.lock();
        let at = store.letters.iter().position(|l| l.id == id)?;
        let letter = store.letters.remove(at)?;
        store.bytes -= letter.message.len();
        Some(letter)
    }

    /// Puts back a letter [`Self::take`] removed (its send failed), in
    /// its place by id; the bounds apply as to a new one.
    pub(crate) fn put_back(&self, letter: DeadLetter) {
        let mut store = self.lock();
        let at = store.letters.partition_point(|l| l.id < letter.id);
        store.bytes += letter.message.len();
        store.letters.insert(at, letter);
        store.trim(self.limits);
    }
}

impl Letters {
    /// Drops the oldest letters until the store is within `limits`,
    /// keeping the newest whatever its size; returns how many it dropped.
    fn trim(&mut self, limits: DeadLetterLimits) -> u64 {
        let mut dropped = 0;
        while self.letters.len() > 1
            && (self.letters.len() > limits.max_letters || self.bytes > limits.max_bytes)
        {
            let oldest = self.letters.pop_front().expect("more than one letter");
            self.bytes -= oldest.message.len();
            dropped += 1;
        }
        self.dropped += dropped;
        dropped
    }
}

/// `unix_ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc_text(unix_ms: u64) -> String {
    let (days, ms_of_day) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (the well-known
/// days-to-civil conversion over 400-year eras).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DeadLetter {
    /// The message as a table shows it: its text, escaped and cut to
    /// `max` characters, or its size when it is not UTF-8.
    pub fn preview(&self, max: usize) -> String {
        match std::str::from_utf8(&self.message) {
            Ok(text) => {
                let escaped = text.escape_debug().to_string();
                cut(&escaped, max)
            }
            Err(_) => format!("({} bytes, not UTF-8)", self.message.len()),
        }
    }
}

/// `text` cut to `max` characters, with `...` when it was longer.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

impl DeadLetterList {
    /// The letters as a text table, one a line (what `arbor ctl
    /// dead-letters` prints), and a line saying how many were dropped.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.letters.is_empty() {
            out.push_str("no dead letters\n");
        } else {
            let rows: Vec<[String; 7]> = self
                .letters
                .iter()
                .map(|l| {
                    [
                        l.id.to_string(),
                        l.path.clone(),
                        l.time.clone(),
                        l.kind.as_str().to_string(),
                        l.attempts.to_string(),
                        cut(&format!("{}: {}", l.reason, l.detail), 60),
                        l.preview(40),
                    ]
                })
                .collect();
            let header = [
                "ID", "CHILD", "TIME", "KIND", "ATTEMPTS", "REASON", "MESSAGE",
            ]
            .map(str::to_string);
            let mut widths = [0; 7];
            for row in std::iter::once(&header).chain(&rows) {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                let mut line = String::new();
                for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                    if i + 1 == row.len() {
                        line.push_str(cell);
                    } else {
                        let _ = write!(line, "{cell:width$}  ");
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        if self.dropped > 0 {
            let _ = writeln!(
                out,
                "{} older letters were dropped to keep the store within its bounds",
                self.dropped
            );
        }
        out
    }
}

/// Message bytes as `{"base64": "..."}`, the wire form of a call's reply.
mod wire_bytes {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Wire {
        base64: String,
    }

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            base64: BASE64_STANDARD.encode(bytes),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        BASE64_STANDARD
            .decode(wire.base64)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(path: &str, message: &[u8]) -> NewLetter<'static> {
        NewLetter {
            path: Box::leak(path.to_string().into_boxed_str()),
            kind: MessageKind::Call,
            message: message.to_vec(),
            attempts: 3,
            detail: "wasm trap: unreachable",
        }
    }

    fn ids(list: &DeadLetterList) -> Vec<u64> {
        list.letters.iter().map(|l| l.id).collect()
    }

    #[test]
    fn a_full_store_drops_its_oldest_letters_and_counts_them() {
        let limits = DeadLetterLimits {
            max_letters: 3,
            max_bytes: 1 << 20,
        };
        let store = DeadLetters::new(limits, EventSink::new());
        for i in 0..5u8 {
            store.add(letter("root/w", &[i]));
        }
        let list = store.list(None);
        assert_eq!(ids(&list), [3, 4, 5]);
        assert_eq!(list.dropped, 2);
        assert_eq!(list.letters[0].message, [2]);
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_but_keeps_the_newest_however_large() {
        let limits = DeadLetterLimits {
            max_letters: 100,
            max_bytes: 10,
        };
        let store = DeadLetters::new(limits, EventSink::new());
        store.add(letter("root/w", &[0; 4]));
        store.add(letter("root/w", &[0; 4]));
        store.add(letter("root/w", &[0; 4]));
        assert_eq!(ids(&store.list(None)), [2, 3]);
        store.add(letter("root/w", &[0; 50]));
        let list = store.list(None);
        assert_eq!(ids(&list), [4]);
        assert_eq!(list.dropped, 3);
    }

    #[test]
    fn each_letter_is_an_event_and_listed_by_name_or_path() {
        let sink = EventSink::new();
        let mut events = sink.subscribe();
        let store = DeadLetters::new(DeadLetterLimits::default(), sink);
        let a = store.add(letter("root/sub/a", b"crash"));
        store.add(letter("root/b", b"x"));
        let event = events.try_recv().unwrap();
        assert_eq!(event.event, crate::EventKind::MessageDeadLettered);
        assert_eq!(event.path, "root/sub/a");
        assert_eq!(event.reason, Some(ExitReason::Crash));
        assert_eq!(event.detail.as_deref(), Some("wasm trap: unreachable"));
        let detail = event.dead_letter.unwrap();
        assert_eq!((detail.id, detail.attempts, detail.bytes), (a, 3, 5));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "message_dead_lettered");
        assert_eq!(json["dead_letter"]["kind"], "call");
        assert_eq!(ids(&store.list(Some("a"))), [a]);
        assert_eq!(ids(&store.list(Some("root/sub/a"))), [a]);
        assert_eq!(store.list(Some("nobody")).letters, []);
        assert_eq!(store.list(None).letters[0].child, "a");
    }

    #[test]
    fn a_letter_taken_and_put_back_keeps_its_place() {
        let store = DeadLetters::new(DeadLetterLimits::default(), EventSink::new());
        for _ in 0..3 {
            store.add(letter("root/w", b"m"));
        }
        let two = store.take(2).unwrap();
        assert_eq!(store.take(2), None, "taken once");
        assert_eq!(ids(&store.list(None)), [1, 3]);
        store.put_back(two);
        assert_eq!(ids(&store.list(None)), [1, 2, 3]);
    }

    #[test]
    fn a_letter_crosses_the_wire_byte_for_byte() {
        let store = DeadLetters::new(DeadLetterLimits::default(), EventSink::new());
        store.add(letter("root/w", &[0x00, 0xff]));
        let list = store.list(None);
        let wire = serde_json::to_string(&list).unwrap();
        assert!(wire.contains(r#""message":{"base64":"AP8="}"#), "{wire}");
        let back: DeadLetterList = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_text(1_780_000_123_456), "2026-05-28T20:28:43.456Z");
    }

    #[test]
    fn the_table_shows_one_letter_a_line_with_its_message_cut() {
        let store = DeadLetters::new(DeadLetterLimits::default(), EventSink::new());
        store.add(letter("root/w", b"crash"));
        store.add(letter("root/w", &"x".repeat(100).into_bytes()));
        store.add(letter("root/w", &[0xff, 0xfe]));
        let table = store.list(None).render();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("ID  CHILD"), "{table}");
        assert!(lines[1].starts_with("1   root/w"), "{table}");
        assert!(
            lines[1].ends_with("call  3         crash: wasm trap: unreachable  crash"),
            "{table}"
        );
        assert!(
            lines[2].ends_with(&format!("{}...", "x".repeat(37))),
            "{table}"
        );
        assert!(lines[3].ends_with("(2 bytes, not UTF-8)"), "{table}");
        assert_eq!(DeadLetterList::default().render(), "no dead letters\n");
    }
}
