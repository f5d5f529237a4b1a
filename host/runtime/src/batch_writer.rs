//! A writer thread fed in batches, for the event stream and the log.
//!
//! Callers hand over bytes and return; one thread writes and flushes whole
//! batches. A caller never wakes that thread and never waits for it: the
//! bytes go into a lock-free queue (`std::sync::mpsc`, whose `send` takes no
//! lock while no receiver blocks, and this one never does), and the thread
//! finds them on its own by polling: every [`POLL`] while lines keep
//! coming, every [`IDLE_POLL`] once [`QUIET_POLLS`] polls in a row found
//! nothing. A scheduler thread that reports a restart therefore pays for
//! neither a futex wake (on this kind of VM it costs more than the restart
//! itself) nor a lock the writer holds. The price is latency: a line written
//! after a quiet spell reaches its output up to [`IDLE_POLL`] later. Only
//! [`BatchWriter::wait_written`] and dropping the last handle wake the thread,
//! and neither is on a restart's path.
//!
//! A slow reader never blocks a scheduler thread either, and it cannot make
//! the host grow without limit (guests choose what they log): the queue holds
//! at most [`Overflow::max_pending`] bytes. A line that does not fit is
//! dropped and counted, never silently: once the batch ahead of it is
//! written, the writer writes one line saying how many were dropped.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::Thread;
use std::time::Duration;

/// How often a busy writer thread looks for more.
pub(crate) const POLL: Duration = Duration::from_millis(1);
/// Empty polls before the thread polls at [`IDLE_POLL`].
pub(crate) const QUIET_POLLS: u32 = 20;
/// How often an idle writer thread looks for more: the most a line waits
/// after a quiet spell. The engine's epoch thread already ticks every 5 ms,
/// so this adds no wake-up of a kind the host does not have.
pub(crate) const IDLE_POLL: Duration = Duration::from_millis(10);
/// Default bound on the bytes queued for a writer: some seconds of a busy
/// log on a slow terminal, and a fixed cost next to the host's other memory.
/// A batch being written may hold as much again.
pub const DEFAULT_MAX_PENDING: usize = 8 << 20;

/// `text` cut to at most `max` bytes (on a character boundary) plus a
/// marker saying how many bytes were cut, so a reader knows it is partial.
/// For text a guest chooses (log messages, exit details): one such line must
/// neither crowd out the rest of a writer's queue nor be dropped whole.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let kept = text.floor_char_boundary(max);
    let cut = text.len() - kept;
    Cow::Owned(format!("{}... [{cut} more bytes cut]", &text[..kept]))
}

/// What a writer does when its output cannot keep up.
pub struct Overflow {
    /// Most bytes queued at once; a line that does not fit is dropped.
    pub max_pending: usize,
    /// The line (newline included) that reports `n` dropped lines.
    pub notice: Box<dyn Fn(u64) -> String + Send>,
}

impl Overflow {
    /// Drops past `max_pending` bytes and reports with `notice`.
    pub fn new(max_pending: usize, notice: impl Fn(u64) -> String + Send + 'static) -> Overflow {
        Overflow {
            max_pending,
            notice: Box::new(notice),
        }
    }

    /// For a text log: [`DEFAULT_MAX_PENDING`], and the notice
    /// `N log lines dropped: the log writer could not keep up`.
    pub fn log_lines() -> Overflow {
        Overflow::new(DEFAULT_MAX_PENDING, |n| {
            format!("{n} log lines dropped: the log writer could not keep up\n")
        })
    }
}

/// What goes through the queue.
enum Item {
    /// One line (or several) to write.
    Bytes(Vec<u8>),
    /// Answered once every byte queued before it is written.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The counts both ends share, beside the queue.
struct Shared {
    /// Bytes in the queue (taken out of it by the thread, not yet written,
    /// no longer count).
    pending: AtomicUsize,
    /// Lines dropped since the last report.
    dropped: AtomicU64,
    max_pending: usize,
}

/// The sending end: feeds the queue; when dropped (the last [`BatchWriter`]
/// is gone) the thread writes what is left and ends.
struct Feed {
    items: Sender<Item>,
    shared: Arc<Shared>,
    /// The writer thread, to wake it for a flush or the close.
    thread: Thread,
}

impl Feed {
    /// Queues `bytes` as one line if it fits, else counts it dropped. One
    /// atomic add, and the channel's lock-free send: nothing here waits for
    /// the writer thread or wakes it.
    fn append(&self, bytes: Vec<u8>) {
        let len = bytes.len();
        let before = self.shared.pending.fetch_add(len, Ordering::Relaxed);
        if before + len > self.shared.max_pending {
            self.shared.pending.fetch_sub(len, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.items.send(Item::Bytes(bytes)).is_err() {
            // The thread is gone (it panicked): nothing will write these.
            self.shared.pending.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Disconnect the queue (the thread ends once it has drained it),
        // then wake the thread so the last lines do not wait for its poll.
        let (closed, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.items, closed));
        self.thread.unpark();
    }
}

/// What the thread took from the queue in one go.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Lines dropped because the queue was full.
    dropped: u64,
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    /// Every handle is gone: write this batch and end.
    closed: bool,
}

impl Batch {
    fn is_idle(&self) -> bool {
        self.bytes.is_empty() && self.dropped == 0 && self.flushes.is_empty() && !self.closed
    }
}

/// Takes everything queued now.
fn take(items: &Receiver<Item>, shared: &Shared) -> Batch {
    let mut batch = Batch::default();
    loop {
        match items.try_recv() {
            Ok(Item::Bytes(bytes)) => {
                shared.pending.fetch_sub(bytes.len(), Ordering::Relaxed);
                if batch.bytes.is_empty() {
                    batch.bytes = bytes;
                } else {
                    batch.bytes.extend_from_slice(&bytes);
                }
            }
            Ok(Item::Flush(done)) => batch.flushes.push(done),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                batch.closed = true;
                break;
            }
        }
    }
    // Read after the queue is drained: a line dropped for want of room was
    // dropped behind the lines taken here, so its notice follows them.
    batch.dropped = shared.dropped.swap(0, Ordering::Relaxed);
    batch
}

/// Writes a batch, then the notice of the lines dropped behind it.
fn write_batch(out: &mut dyn Write, batch: &Batch, overflow: &Overflow) -> std::io::Result<()> {
    out.write_all(&batch.bytes)?;
    if batch.dropped > 0 {
        out.write_all((overflow.notice)(batch.dropped).as_bytes())?;
    }
    out.flush()
}

/// The thread's loop: poll, write, answer flushes, until closed.
fn run(
    items: Receiver<Item>,
    shared: Arc<Shared>,
    mut out: Box<dyn Write + Send>,
    overflow: Overflow,
) {
    let mut broken = false;
    let mut quiet_polls = 0;
    loop {
        let batch = take(&items, &shared);
        if batch.is_idle() {
            quiet_polls = (quiet_polls + 1).min(QUIET_POLLS);
            // Woken early only by a flush or the close.
            std::thread::park_timeout(if quiet_polls < QUIET_POLLS {
                POLL
            } else {
                IDLE_POLL
            });
            continue;
        }
        quiet_polls = 0;
        let work = !batch.bytes.is_empty() || batch.dropped > 0;
        if work && !broken {
            broken = write_batch(&mut out, &batch, &overflow).is_err();
        }
        for done in batch.flushes {
            let _ = done.send(());
        }
        if batch.closed {
            return;
        }
    }
}

/// A handle to a writer thread; clones share it. `write` only queues.
#[derive(Clone)]
pub struct BatchWriter {
    feed: Arc<Feed>,
}

impl BatchWriter {
    /// Starts a thread named `name` that writes to `out`, queueing at most
    /// what `overflow` allows. Once a write to `out` fails, later bytes are
    /// dropped (a closed pipe must not stop the host).
    pub fn spawn(
        name: &str,
        out: Box<dyn Write + Send>,
        overflow: Overflow,
    ) -> std::io::Result<BatchWriter> {
        let shared = Arc::new(Shared {
            pending: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            max_pending: overflow.max_pending,
        });
        let (items, queue) = std::sync::mpsc::channel();
        let counts = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || run(queue, counts, out, overflow))?
            .thread()
            .clone();
        Ok(BatchWriter {
            feed: Arc::new(Feed {
                items,
                shared,
                thread,
            }),
        })
    }

    /// Queues `bytes`, counted as one line: when they do not fit in the
    /// queue they are dropped whole and reported later.
    pub fn append(&self, bytes: &[u8]) {
        self.feed.append(bytes.to_vec());
    }

    /// [`BatchWriter::append`] for bytes the caller no longer needs: no copy.
    pub fn append_owned(&self, bytes: Vec<u8>) {
        self.feed.append(bytes);
    }

    /// Waits until everything queued so far is written. Wakes the thread:
    /// not for a scheduler thread's hot path.
    pub fn wait_written(&self) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if self.feed.items.send(Item::Flush(done_tx)).is_err() {
            return;
        }
        self.feed.thread.unpark();
        let _ = done_rx.recv();
    }
}

/// Each `write` is one line (tracing writes one event per call). A line
/// dropped because the queue is full still counts as written: dropping is the
/// policy, and the dropped count is reported in the output.
impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    /// Does not wait: the thread flushes each batch it writes. Use
    /// [`BatchWriter::wait_written`] to wait.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;

    /// A writer whose bytes the test can read (the events tests use it too).
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// An output whose writes block until the test opens it: a reader that
    /// cannot keep up. Each write first says it has started.
    struct Stalled {
        out: Captured,
        started: std::sync::mpsc::Sender<()>,
        open: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.started.send(());
            let (open, opened) = &*self.open;
            let mut open = open.lock().unwrap();
            while !*open {
                open = opened.wait(open).unwrap();
            }
            self.out.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A writer on a stalled output, its captured text, a receiver told when
    /// each write starts, and the switch that opens the output.
    fn stalled(
        max_pending: usize,
    ) -> (
        BatchWriter,
        Captured,
        std::sync::mpsc::Receiver<()>,
        impl Fn(),
    ) {
        let out = Captured::default();
        let (started, writes) = std::sync::mpsc::channel();
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let stalled = Stalled {
            out: out.clone(),
            started,
            open: open.clone(),
        };
        let overflow = Overflow::new(max_pending, |n| format!("{n} dropped\n"));
        let writer = BatchWriter::spawn("test-writer", Box::new(stalled), overflow).unwrap();
        let open_it = move || {
            *open.0.lock().unwrap() = true;
            open.1.notify_all();
        };
        (writer, out, writes, open_it)
    }

    #[test]
    fn a_full_queue_drops_whole_lines_and_says_how_many_once_the_batch_ahead_is_written() {
        let (writer, out, writes, open) = stalled(10);
        writer.append(b"a\n");
        // The thread has taken "a" and is stuck writing it: the queue is empty.
        writes.recv().unwrap();
        for _ in 0..5 {
            writer.append(b"bb\n");
        }
        // 3 lines of 3 bytes fit in 10; the 4th and 5th do not.
        open();
        writer.wait_written();
        assert_eq!(out.text(), "a\nbb\nbb\nbb\n2 dropped\n");
        // Room again: lines are queued, and the count starts over.
        writer.append(b"c\n");
        writer.wait_written();
        assert_eq!(out.text(), "a\nbb\nbb\nbb\n2 dropped\nc\n");
    }

    #[test]
    fn dropped_lines_are_reported_even_when_nothing_is_written_after_them() {
        let (writer, out, _writes, open) = stalled(4);
        open();
        // Long enough for the thread to poll slowly: its next poll must
        // find the drop alone.
        std::thread::sleep(POLL * (QUIET_POLLS + 10));
        writer.append(b"longer than the queue\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.text() != "1 dropped\n" {
            assert!(std::time::Instant::now() < deadline, "{:?}", out.text());
            std::thread::sleep(POLL);
        }
    }

    #[test]
    fn the_log_notice_says_how_many_lines_and_why() {
        assert_eq!(
            (Overflow::log_lines().notice)(3),
            "3 log lines dropped: the log writer could not keep up\n"
        );
    }

    #[test]
    fn clip_cuts_long_text_with_a_marker_saying_how_much() {
        let long = "x".repeat(1000);
        assert_eq!(clip(&long, 10), "xxxxxxxxxx... [990 more bytes cut]");
        assert_eq!(clip("short", 10), "short");
        // "é" is two bytes: a cut at 3 keeps the first whole and cuts the second.
        assert_eq!(clip("éé", 3), "é... [2 more bytes cut]");
    }

    #[test]
    fn bytes_arrive_in_order_and_wait_written_waits_for_them_even_after_the_thread_slept() {
        let out = Captured::default();
        let writer =
            BatchWriter::spawn("test-writer", Box::new(out.clone()), Overflow::log_lines())
                .unwrap();
        for i in 0..100 {
            writer.append(format!("{i}\n").as_bytes());
        }
        writer.wait_written();
        assert_eq!(out.text().lines().count(), 100);
        // Long enough for the thread to poll slowly: the next write must
        // still be found.
        std::thread::sleep(POLL * (QUIET_POLLS + 10));
        writer.append(b"late\n");
        writer.wait_written();
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 101);
        assert_eq!((lines[0], lines[99], lines[100]), ("0", "99", "late"));
    }

    #[test]
    fn dropping_the_last_handle_writes_what_is_queued_and_ends_the_thread() {
        let out = Captured::default();
        let writer =
            BatchWriter::spawn("test-writer", Box::new(out.clone()), Overflow::log_lines())
                .unwrap();
        let clone = writer.clone();
        writer.append(b"one\n");
        drop(writer);
        clone.append(b"two\n");
        drop(clone);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.text() != "one\ntwo\n" {
            assert!(std::time::Instant::now() < deadline, "{:?}", out.text());
            std::thread::sleep(POLL);
        }
        // The thread holds the only other reference to the output; once it
        // ended, ours is the last.
        while Arc::strong_count(&out.0) > 1 {
            assert!(std::time::Instant::now() < deadline, "thread still running");
            std::thread::sleep(POLL);
        }
    }
}
