//! The event stream: what happened in the tree, in order, as JSON lines.
//!
//! Every supervisor and child reports through one [`EventSink`]. The sink
//! stamps each event with microseconds since the host started and hands it,
//! under one lock so the order is the order things happened, to its outputs:
//! JSON-line writers (a file or stdout, written in batches by a dedicated
//! thread that polls for them, so a slow reader never blocks a scheduler
//! thread and emitting an event never wakes a thread: see
//! [`crate::batch_writer`]) and in-process subscribers (tests, the control
//! plane).
//!
//! A reader that cannot keep up must not grow the host: a writer queues at
//! most [`DEFAULT_MAX_PENDING`] bytes and a bounded [`Subscription`] a fixed
//! number of events. Past that, events are dropped for that output only,
//! counted, and reported in its stream by an `events_dropped` event once
//! there is room. Unbounded [`EventSink::subscribe`] is for readers in the
//! host's own process that keep up (tests, embedders).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

use crate::batch_writer::{BatchWriter, DEFAULT_MAX_PENDING, Overflow, clip};
use crate::vocab::ExitReason;

/// Longest `detail` an event carries whole, in bytes. Details hold text a
/// guest chooses (an `init` error, an exit reason); a longer one is cut with
/// a marker, so that one event cannot fill a reader's queue.
pub const MAX_DETAIL_BYTES: usize = 64 << 10;

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
    /// The restart of the child at `path` waits out a backoff delay
    /// (`backoff` in the tree file); `detail` says how long. Its siblings
    /// that its strategy restarts with it wait with it.
    ChildRestartDelayed,
    /// A worker's `init` answered `ignore` (at a start, a restart or a
    /// `restart-child`): nothing runs and nothing failed. The child is not
    /// running from now on, as after a `child_terminated`; a static
    /// supervisor keeps its place, stopped.
    ChildIgnored,
    /// This output could not keep up: `dropped` events before this one were
    /// not delivered to it. `path` is empty (no child is meant); `t_us` is no
    /// earlier than the last event dropped.
    EventsDropped,
    /// A hot swap of the worker at `path` began: its in-flight message has
    /// finished and it takes no other until the swap commits or fails.
    /// `swap` has the versions.
    SwapStarted,
    /// The worker runs the new version from its next message on; its
    /// probation begins. `swap` has the versions, the phase durations and
    /// the state's size.
    SwapCommitted,
    /// The swap failed and the worker runs the old version: before the
    /// commit (`swap.phase` says where: `snapshot`, `instantiate`, `init`,
    /// `restore`; the old instance went on untouched) or by a crash within
    /// the probation (`swap.phase` is `probation`; the crash is then
    /// handled by the supervisor as any other, and its restart runs the old
    /// version with the pre-swap state). `detail` says why.
    SwapRolledBack,
    /// A message crashed the worker at `path` `poison.after` times in a row
    /// and was moved to the dead-letter store ([`crate::dead_letters`]);
    /// `dead_letter` has its id, kind, attempts and size, `reason` and
    /// `detail` the last crash. Its `child_terminated` follows.
    MessageDeadLettered,
}

/// Whether a message was a call (its sender waits for the reply) or a cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Its sender waits for the reply.
    Call,
    /// Nobody waits for it.
    Cast,
}

impl MessageKind {
    /// `call` or `cast`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Call => "call",
            MessageKind::Cast => "cast",
        }
    }
}

/// The message a `message_dead_lettered` event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterDetail {
    /// Its id in the dead-letter store (`arbor ctl redeliver ID`).
    pub id: u64,
    /// Call or cast.
    pub kind: MessageKind,
    /// How many times in a row it crashed the worker.
    pub attempts: u32,
    /// The message's size in bytes (the bytes are in the store, not here).
    pub bytes: u64,
}

/// The versions and timings of a hot swap, on `swap_*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapDetail {
    /// The version the worker ran (content hash).
    pub from: String,
    /// The version it was swapped to.
    pub to: String,
    /// The file the old version came from.
    pub from_file: String,
    /// The file the new version came from.
    pub to_file: String,
    /// How long its in-flight message kept the swap waiting, microseconds.
    pub drain_us: u64,
    /// From the end of the drain to the commit, microseconds: how long the
    /// worker took no message.
    pub unavailable_us: u64,
    /// The snapshot's size, when the state was handed over.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state_bytes: Option<u64>,
    /// Where a rolled-back swap failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phase: Option<String>,
}

impl SwapDetail {
    pub(crate) fn from_report(report: &crate::swap::SwapReport, phase: Option<&str>) -> Self {
        SwapDetail {
            from: report.from.clone(),
            to: report.to.clone(),
            from_file: report.from_file.clone(),
            to_file: report.to_file.clone(),
            drain_us: report.drain_us,
            unavailable_us: report.unavailable_us,
            state_bytes: match report.state {
                crate::swap::StateHandover::Moved { bytes } => Some(bytes),
                _ => None,
            },
            phase: phase.map(str::to_string),
        }
    }
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
    pub reason: Option<ExitReason>,
    /// Free text (the trap, the error, `max_restarts`, ...), at most
    /// [`MAX_DETAIL_BYTES`] and a marker.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// How many events were dropped (`events_dropped` only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dropped: Option<u64>,
    /// Versions and timings (`swap_*` events only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub swap: Option<SwapDetail>,
    /// The message (`message_dead_lettered` only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dead_letter: Option<DeadLetterDetail>,
}

impl Event {
    /// The `events_dropped` event reporting `n` events lost by one output.
    fn drop_report(t_us: u64, n: u64) -> Event {
        Event {
            t_us,
            detail: Some(format!("{n} events dropped: the reader could not keep up")),
            dropped: Some(n),
            ..Event::unstamped(EventKind::EventsDropped, "")
        }
    }

    /// An event of `kind` at `path` with nothing else set, stamped when
    /// it is emitted.
    fn unstamped(kind: EventKind, path: &str) -> Event {
        Event {
            t_us: 0,
            event: kind,
            path: path.to_string(),
            generation: None,
            reason: None,
            detail: None,
            dropped: None,
            swap: None,
            dead_letter: None,
        }
    }

    /// The event as one JSON line.
    fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("events serialize");
        line.push('\n');
        line
    }
}

enum Output {
    Lines(BatchWriter),
    Channel(mpsc::UnboundedSender<Event>),
    Bounded(BoundedOutput),
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

    /// Writes every later event to `writer` as one JSON line, from a
    /// thread of its own ([`BatchWriter`]). At most [`DEFAULT_MAX_PENDING`]
    /// bytes wait for a slow `writer`; events past that are dropped and an
    /// `events_dropped` line says how many.
    pub fn add_writer(&self, writer: Box<dyn Write + Send>) {
        let start = self.inner.start;
        let overflow = Overflow::new(DEFAULT_MAX_PENDING, move |n| {
            Event::drop_report(start.elapsed().as_micros() as u64, n).line()
        });
        let lines = BatchWriter::spawn("arbor-events", writer, overflow)
            .expect("spawn the event writer thread");
        self.lock().push(Output::Lines(lines));
    }

    /// The instant `t_us` counts from.
    pub fn origin(&self) -> Instant {
        self.inner.start
    }

    /// Every later event is also sent to the returned receiver, however
    /// far behind it falls: for readers in this process that keep up.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(Output::Channel(tx));
        rx
    }

    /// Every later event is also queued for the returned subscription, up to
    /// `capacity` events; past that they are dropped for it and counted, and
    /// it reads an `events_dropped` event once it has room. For readers the
    /// host does not control (the control socket's `events` stream).
    pub fn subscribe_bounded(&self, capacity: usize) -> Subscription {
        let queue = Arc::new(SubscriptionQueue {
            capacity,
            state: Mutex::new(SubscriptionState::default()),
            ready: Notify::new(),
        });
        self.lock()
            .push(Output::Bounded(BoundedOutput(queue.clone())));
        Subscription { queue }
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
        reason: Option<ExitReason>,
        detail: Option<&str>,
    ) {
        self.emit_event(Event {
            generation,
            reason,
            detail: detail.map(str::to_string),
            ..Event::unstamped(event, path)
        });
    }

    /// Emits a `swap_*` event with its versions and timings.
    pub(crate) fn emit_swap(
        &self,
        event: EventKind,
        path: &str,
        swap: SwapDetail,
        detail: Option<&str>,
    ) {
        self.emit_event(Event {
            detail: detail.map(str::to_string),
            swap: Some(swap),
            ..Event::unstamped(event, path)
        });
    }

    /// Emits `message_dead_lettered` for `letter`, whose last crash was
    /// `detail`.
    pub(crate) fn emit_dead_letter(&self, path: &str, letter: DeadLetterDetail, detail: &str) {
        self.emit_event(Event {
            reason: Some(ExitReason::Crash),
            detail: Some(detail.to_string()),
            dead_letter: Some(letter),
            ..Event::unstamped(EventKind::MessageDeadLettered, path)
        });
    }

    /// Stamps `event` and hands it to every output, under the lock so the
    /// stamps are in the order of the stream; a long detail is cut here.
    fn emit_event(&self, mut event: Event) {
        let mut outputs = self.lock();
        event.t_us = self.inner.start.elapsed().as_micros() as u64;
        if let Some(detail) = &mut event.detail
            && detail.len() > MAX_DETAIL_BYTES
        {
            *detail = clip(detail, MAX_DETAIL_BYTES).into_owned();
        }
        let mut writers = outputs
            .iter()
            .filter(|o| matches!(o, Output::Lines(_)))
            .count();
        let mut line = (writers > 0).then(|| event.line());
        outputs.retain(|output| match output {
            Output::Lines(writer) => {
                // The last writer takes the line itself: no copy.
                writers -= 1;
                match (writers, line.take()) {
                    (0, Some(last)) => writer.append_owned(last.into_bytes()),
                    (_, Some(shared)) => {
                        writer.append(shared.as_bytes());
                        line = Some(shared);
                    }
                    (_, None) => {}
                }
                true
            }
            Output::Channel(tx) => tx.send(event.clone()).is_ok(),
            Output::Bounded(BoundedOutput(queue)) => queue.offer(&event),
        });
    }

    /// Waits until the writers have written everything emitted so far.
    pub fn flush(&self) {
        let writers: Vec<BatchWriter> = self
            .lock()
            .iter()
            .filter_map(|o| match o {
                Output::Lines(writer) => Some(writer.clone()),
                Output::Channel(_) | Output::Bounded(_) => None,
            })
            .collect();
        for writer in writers {
            writer.wait_written();
        }
    }
}

/// The queue of one bounded subscription, shared with the sink.
struct SubscriptionQueue {
    capacity: usize,
    state: Mutex<SubscriptionState>,
    /// Woken for each event queued and when the sink goes away.
    ready: Notify,
}

#[derive(Default)]
struct SubscriptionState {
    events: VecDeque<Event>,
    /// Events dropped since the last report, and the stamp of the last one.
    dropped: u64,
    last_dropped_t_us: u64,
    /// The sink is gone: nothing more will come.
    sink_gone: bool,
    /// The reader is gone: stop queueing.
    reader_gone: bool,
}

impl SubscriptionQueue {
    fn lock(&self) -> MutexGuard<'_, SubscriptionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `event`, or counts it dropped when the queue is full. Events
    /// dropped earlier are reported first, so the report sits where they
    /// were. Returns whether the reader still wants events.
    fn offer(&self, event: &Event) -> bool {
        let mut state = self.lock();
        if state.reader_gone {
            return false;
        }
        if state.events.len() >= self.capacity {
            state.dropped += 1;
            state.last_dropped_t_us = event.t_us;
            return true;
        }
        if let Some(report) = state.take_report() {
            state.events.push_back(report);
        }
        state.events.push_back(event.clone());
        drop(state);
        self.ready.notify_one();
        true
    }
}

impl SubscriptionState {
    /// The `events_dropped` event for drops not reported yet.
    fn take_report(&mut self) -> Option<Event> {
        let n = std::mem::take(&mut self.dropped);
        (n > 0).then(|| Event::drop_report(self.last_dropped_t_us, n))
    }

    /// The next event for the reader: a queued one, else the report of
    /// drops behind them (the queue is empty: there is room now).
    fn next(&mut self) -> Option<Event> {
        self.events.pop_front().or_else(|| self.take_report())
    }
}

/// The sink's end of a bounded subscription: tells the reader when the sink
/// is gone, so its `recv` ends.
struct BoundedOutput(Arc<SubscriptionQueue>);

impl Drop for BoundedOutput {
    fn drop(&mut self) {
        self.0.lock().sink_gone = true;
        self.0.ready.notify_one();
    }
}

/// The reader's end of [`EventSink::subscribe_bounded`].
pub struct Subscription {
    queue: Arc<SubscriptionQueue>,
}

impl Subscription {
    /// The next event, waiting for one; `None` once the sink is gone and
    /// every event is read. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            // A wake-up between this check and the wait is kept by `Notify`.
            {
                let mut state = self.queue.lock();
                if let Some(event) = state.next() {
                    return Some(event);
                }
                if state.sink_gone {
                    return None;
                }
            }
            self.queue.ready.notified().await;
        }
    }

    /// The next event if one is ready now.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.queue.lock().next()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.queue.lock().reader_gone = true;
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
            Some(ExitReason::Crash),
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
        assert!(json.get("dropped").is_none());
        let b = serde_json::to_value(rx.try_recv().unwrap()).unwrap();
        assert_eq!(b["event"], "child_restarted");
        assert_eq!(b["generation"], 2);
        assert!(b["t_us"].as_u64().unwrap() >= json["t_us"].as_u64().unwrap());
    }

    fn restarted(sink: &EventSink, generation: u64) {
        sink.emit(
            EventKind::ChildRestarted,
            "root/b",
            Some(generation),
            None,
            None,
        );
    }

    /// The generation of a restart event, or the count of a drop report.
    fn read(sub: &mut Subscription) -> Option<String> {
        sub.try_recv().map(|e| match e.event {
            EventKind::EventsDropped => format!("dropped {}", e.dropped.unwrap()),
            _ => format!("g{}", e.generation.unwrap()),
        })
    }

    #[test]
    fn a_bounded_subscription_not_read_keeps_its_capacity_and_then_says_how_many_it_dropped() {
        let sink = EventSink::new();
        let mut sub = sink.subscribe_bounded(2);
        for g in 1..=5 {
            restarted(&sink, g);
        }
        assert_eq!(sub.queue.lock().events.len(), 2, "the queue stays bounded");
        assert_eq!(read(&mut sub).as_deref(), Some("g1"));
        assert_eq!(read(&mut sub).as_deref(), Some("g2"));
        assert_eq!(read(&mut sub).as_deref(), Some("dropped 3"));
        assert_eq!(read(&mut sub), None);
        restarted(&sink, 6);
        assert_eq!(
            read(&mut sub).as_deref(),
            Some("g6"),
            "one report, then events again"
        );
        assert_eq!(read(&mut sub), None);
    }

    #[test]
    fn a_drop_report_sits_where_the_events_were_dropped() {
        let sink = EventSink::new();
        let mut sub = sink.subscribe_bounded(2);
        for g in 1..=3 {
            restarted(&sink, g);
        }
        assert_eq!(read(&mut sub).as_deref(), Some("g1"));
        restarted(&sink, 4);
        let rest: Vec<String> = std::iter::from_fn(|| read(&mut sub)).collect();
        assert_eq!(rest, ["g2", "dropped 1", "g4"]);
    }

    #[test]
    fn a_drop_report_serializes_with_its_count_and_an_empty_path() {
        let json = serde_json::to_value(Event::drop_report(7, 3)).unwrap();
        assert_eq!(json["event"], "events_dropped");
        assert_eq!(json["dropped"], 3);
        assert_eq!(json["path"], "");
        assert_eq!(
            json["detail"],
            "3 events dropped: the reader could not keep up"
        );
        assert!(Event::drop_report(7, 3).line().ends_with("}\n"));
    }

    #[tokio::test]
    async fn a_bounded_subscription_waits_for_events_and_ends_with_the_sink() {
        let sink = EventSink::new();
        let mut sub = sink.subscribe_bounded(4);
        let emitter = sink.clone();
        let later = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            restarted(&emitter, 1);
        });
        assert_eq!(sub.recv().await.unwrap().generation, Some(1));
        later.await.unwrap();
        drop(sink);
        assert!(sub.recv().await.is_none());
    }

    #[test]
    fn a_dropped_subscription_is_forgotten_by_the_sink() {
        let sink = EventSink::new();
        drop(sink.subscribe_bounded(1));
        restarted(&sink, 1);
        assert!(sink.lock().is_empty());
    }

    #[test]
    fn a_long_detail_is_cut_with_a_marker() {
        let sink = EventSink::new();
        let mut rx = sink.subscribe();
        let long = "e".repeat(MAX_DETAIL_BYTES + 10);
        sink.emit(
            EventKind::ChildTerminated,
            "root/b",
            None,
            None,
            Some(&long),
        );
        let detail = rx.try_recv().unwrap().detail.unwrap();
        assert_eq!(
            detail.len(),
            MAX_DETAIL_BYTES + "... [10 more bytes cut]".len()
        );
        assert!(detail.ends_with("e... [10 more bytes cut]"));
    }

    use crate::batch_writer::tests::Captured;

    #[test]
    fn every_writer_gets_every_line_in_order() {
        // The last writer is handed the line itself, the others a copy.
        let sink = EventSink::new();
        let (first, second) = (Captured::default(), Captured::default());
        sink.add_writer(Box::new(first.clone()));
        sink.add_writer(Box::new(second.clone()));
        for generation in 1..=3 {
            sink.emit(
                EventKind::ChildRestarted,
                "root/a",
                Some(generation),
                None,
                None,
            );
        }
        sink.flush();
        for out in [first, second] {
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            let generations: Vec<u64> = text
                .lines()
                .map(|line| {
                    serde_json::from_str::<Event>(line)
                        .unwrap()
                        .generation
                        .unwrap()
                })
                .collect();
            assert_eq!(generations, [1, 2, 3]);
        }
    }
}
