//! The event stream: what happened in the tree, in order, as JSON lines.
//!
//! Every supervisor and child reports through one [`EventSink`]. The sink
//! stamps each event with microseconds since the host started and hands it,
//! under one lock so the order is the order things happened, to its outputs:
//! JSON-line writers (a file or stdout, written in batches by a dedicated
//! thread so a slow reader never blocks a scheduler thread, and so emitting
//! an event rarely wakes a thread) and in-process subscribers (tests, the
//! control plane).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::supervisor::state::ExitReason;

/// The kinds of event, spelled as in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A supervisor (the root included) finished starting its children.
    SupervisorStarted,
    /// A supervisor stopped (orderly, or gave up: detail `max_restarts`).
    SupervisorTerminated,
    /// A worker's first start completed (`init` returned `ok`).
    ChildStarted,
    /// A worker started again; `generation` counts its starts.
    ChildRestarted,
    /// A worker stopped; `reason` says why.
    ChildTerminated,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Microseconds since the host started.
    pub t_us: u64,
    /// What happened.
    pub event: EventKind,
    /// Slash-joined names from the root supervisor.
    pub path: String,
    /// The worker's start count (start and restart events).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation: Option<u64>,
    /// Why it stopped (terminate events): normal, shutdown, crash, error, killed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Free text (the trap, the error, `max_restarts`, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// JSON lines waiting for one writer thread.
///
/// The thread drains them in batches. While events keep coming it polls
/// every [`WRITER_POLL`], so the scheduler thread that emits an event never
/// pays for waking it: a futex wake on this kind of VM costs more than a
/// whole restart. After [`WRITER_QUIET_POLLS`] empty polls it sleeps, and the
/// next event wakes it.
struct LineQueue {
    state: Mutex<LineState>,
    ready: Condvar,
}

#[derive(Default)]
struct LineState {
    lines: String,
    /// Answered once every line queued before them is written.
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    sleeping: bool,
    closed: bool,
}

const WRITER_POLL: Duration = Duration::from_millis(1);
const WRITER_QUIET_POLLS: u32 = 20;

impl LineQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues with `add`, waking the writer only if it sleeps.
    fn push(&self, add: impl FnOnce(&mut LineState)) {
        let mut state = self.lock();
        add(&mut state);
        if state.sleeping {
            state.sleeping = false;
            self.ready.notify_one();
        }
    }

    /// Waits for work; returns the queued lines and flush requests, and
    /// whether the sink is gone.
    fn take(&self) -> (String, Vec<std::sync::mpsc::Sender<()>>, bool) {
        let mut quiet_polls = 0;
        let mut state = self.lock();
        while state.lines.is_empty() && state.flushes.is_empty() && !state.closed {
            if quiet_polls < WRITER_QUIET_POLLS {
                drop(state);
                std::thread::sleep(WRITER_POLL);
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
            std::mem::take(&mut state.lines),
            std::mem::take(&mut state.flushes),
            state.closed,
        )
    }
}

/// The sink's end of a writer: closing it lets the thread finish.
struct LineWriter(Arc<LineQueue>);

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.0.push(|state| state.closed = true);
    }
}

enum Output {
    Lines(LineWriter),
    Channel(mpsc::UnboundedSender<Event>),
}

struct Inner {
    start: Instant,
    outputs: Mutex<Vec<Output>>,
}

/// Where events go. Cheap to clone; all clones feed the same outputs.
#[derive(Clone)]
pub struct EventSink {
    inner: Arc<Inner>,
}

impl Default for EventSink {
    fn default() -> Self {
        EventSink::new()
    }
}

impl EventSink {
    /// A sink with no outputs yet; time zero is now.
    pub fn new() -> Self {
        EventSink {
            inner: Arc::new(Inner {
                start: Instant::now(),
                outputs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Writes every later event to `writer` as one JSON line; each batch
    /// is flushed as soon as it is written.
    pub fn add_writer(&self, mut writer: Box<dyn Write + Send>) {
        let queue = Arc::new(LineQueue {
            state: Mutex::new(LineState::default()),
            ready: Condvar::new(),
        });
        let lines = queue.clone();
        std::thread::Builder::new()
            .name("arbor-events".to_string())
            .spawn(move || {
                let mut broken = false;
                loop {
                    let (batch, flushes, closed) = lines.take();
                    if !batch.is_empty() && !broken {
                        broken = writer
                            .write_all(batch.as_bytes())
                            .and_then(|_| writer.flush())
                            .is_err();
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                    if closed {
                        return;
                    }
                }
            })
            .expect("spawn the event writer thread");
        self.lock().push(Output::Lines(LineWriter(queue)));
    }

    /// Every later event is also sent to the returned receiver.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(Output::Channel(tx));
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Output>> {
        // A panic elsewhere while holding the lock leaves the list intact.
        self.inner.outputs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event; `t_us` is taken here.
    pub fn emit(
        &self,
        event: EventKind,
        path: &str,
        generation: Option<u64>,
        reason: Option<&ExitReason>,
        detail: Option<&str>,
    ) {
        let mut outputs = self.lock();
        let event = Event {
            t_us: self.inner.start.elapsed().as_micros() as u64,
            event,
            path: path.to_string(),
            generation,
            reason: reason.map(|r| r.as_str().to_string()),
            detail: detail.map(str::to_string),
        };
        let needs_line = outputs.iter().any(|o| matches!(o, Output::Lines(_)));
        let line = needs_line.then(|| {
            let mut line = serde_json::to_string(&event).expect("events serialize");
            line.push('\n');
            line
        });
        outputs.retain(|output| match output {
            Output::Lines(writer) => {
                let line = line.as_deref().unwrap_or_default();
                writer.0.push(|state| state.lines.push_str(line));
                true
            }
            Output::Channel(tx) => tx.send(event.clone()).is_ok(),
        });
    }

    /// Waits until the writers have written everything emitted so far.
    pub fn flush(&self) {
        let queues: Vec<_> = self
            .lock()
            .iter()
            .filter_map(|o| match o {
                Output::Lines(writer) => Some(writer.0.clone()),
                Output::Channel(_) => None,
            })
            .collect();
        for queue in queues {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            queue.push(|state| state.flushes.push(done_tx));
            let _ = done_rx.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_the_documented_field_names() {
        let sink = EventSink::new();
        let mut rx = sink.subscribe();
        sink.emit(
            EventKind::ChildTerminated,
            "root/b",
            None,
            Some(&ExitReason::Crash),
            Some("wasm trap"),
        );
        sink.emit(EventKind::ChildRestarted, "root/b", Some(2), None, None);
        let a = rx.try_recv().unwrap();
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["event"], "child_terminated");
        assert_eq!(json["path"], "root/b");
        assert_eq!(json["reason"], "crash");
        assert_eq!(json["detail"], "wasm trap");
        assert!(json.get("generation").is_none());
        let b = serde_json::to_value(rx.try_recv().unwrap()).unwrap();
        assert_eq!(b["event"], "child_restarted");
        assert_eq!(b["generation"], 2);
        assert!(b["t_us"].as_u64().unwrap() >= json["t_us"].as_u64().unwrap());
    }

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_writer_gets_every_line_in_order_and_flush_waits_for_them_even_after_it_slept() {
        let sink = EventSink::new();
        let out = Shared::default();
        sink.add_writer(Box::new(out.clone()));
        for i in 0..100 {
            sink.emit(
                EventKind::ChildStarted,
                &format!("r/c{i}"),
                Some(1),
                None,
                None,
            );
        }
        sink.flush();
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .count(),
            100
        );
        // Long enough for the writer to stop polling and sleep: the next
        // event must wake it.
        std::thread::sleep(WRITER_POLL * (WRITER_QUIET_POLLS + 10));
        sink.emit(EventKind::ChildRestarted, "r/late", Some(2), None, None);
        sink.flush();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let paths: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().path)
            .collect();
        assert_eq!(paths.len(), 101);
        assert_eq!(paths[0], "r/c0");
        assert_eq!(paths[99], "r/c99");
        assert_eq!(paths[100], "r/late");
    }
}
