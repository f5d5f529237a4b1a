//! A writer thread fed in batches, for the event stream and the log.
//!
//! Callers append bytes to a queue and return; one thread writes and
//! flushes whole batches. While writes keep coming the thread polls every
//! [`POLL`] instead of being woken, so a scheduler thread that reports a
//! restart never pays for waking another thread: a futex wake on this kind
//! of VM costs more than the restart itself. After [`QUIET_POLLS`] empty
//! polls the thread sleeps, and the next write wakes it. A slow reader
//! never blocks a scheduler thread either: the queue grows instead.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often a busy writer thread looks for more.
pub(crate) const POLL: Duration = Duration::from_millis(1);
/// Empty polls before the thread sleeps until woken.
pub(crate) const QUIET_POLLS: u32 = 20;

struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    /// Answered once every byte queued before them is written.
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    sleeping: bool,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the queue with `add`, waking the thread only if it sleeps.
    fn push(&self, add: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        add(&mut state);
        if state.sleeping {
            state.sleeping = false;
            self.ready.notify_one();
        }
    }

    /// Waits for work; returns the queued bytes and flush requests, and
    /// whether every handle is gone.
    fn take(&self) -> (Vec<u8>, Vec<std::sync::mpsc::Sender<()>>, bool) {
        let mut quiet_polls = 0;
        let mut state = self.lock();
        while state.bytes.is_empty() && state.flushes.is_empty() && !state.closed {
            if quiet_polls < QUIET_POLLS {
                drop(state);
                std::thread::sleep(POLL);
                quiet_polls += 1;
                state = self.lock();
            } else {
                state.sleeping = true;
                state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
                state.sleeping = false;
                quiet_polls = 0;
            }
        }
        (
            std::mem::take(&mut state.bytes),
            std::mem::take(&mut state.flushes),
            state.closed,
        )
    }
}

/// Closes the queue when the last [`BatchWriter`] is dropped, so the thread
/// writes what is left and ends.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.push(|state| state.closed = true);
    }
}

/// A handle to a writer thread; clones share it. `write` only queues.
#[derive(Clone)]
pub struct BatchWriter {
    closer: Arc<Closer>,
}

impl BatchWriter {
    /// Starts a thread named `name` that writes to `out`. Once a write to
    /// `out` fails, later bytes are dropped (a closed pipe must not stop the
    /// host).
    pub fn spawn(name: &str, mut out: Box<dyn Write + Send>) -> std::io::Result<BatchWriter> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        });
        let feed = queue.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut broken = false;
                loop {
                    let (bytes, flushes, closed) = feed.take();
                    if !bytes.is_empty() && !broken {
                        broken = out.write_all(&bytes).and_then(|_| out.flush()).is_err();
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                    if closed {
                        return;
                    }
                }
            })?;
        Ok(BatchWriter {
            closer: Arc::new(Closer(queue)),
        })
    }

    /// Queues `bytes`.
    pub fn append(&self, bytes: &[u8]) {
        self.closer
            .0
            .push(|state| state.bytes.extend_from_slice(bytes));
    }

    /// Waits until everything queued so far is written.
    pub fn wait_written(&self) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        self.closer.0.push(|state| state.flushes.push(done_tx));
        let _ = done_rx.recv();
    }
}

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
mod tests {
    use super::*;

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

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

    #[test]
    fn bytes_arrive_in_order_and_wait_written_waits_for_them_even_after_the_thread_slept() {
        let out = Captured::default();
        let writer = BatchWriter::spawn("test-writer", Box::new(out.clone())).unwrap();
        for i in 0..100 {
            writer.append(format!("{i}\n").as_bytes());
        }
        writer.wait_written();
        assert_eq!(out.text().lines().count(), 100);
        // Long enough for the thread to stop polling and sleep: the next
        // write must wake it.
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
        let writer = BatchWriter::spawn("test-writer", Box::new(out.clone())).unwrap();
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
