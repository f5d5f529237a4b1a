//! A guest's lines in the host's log: its `host.log` messages and what it
//! writes to stdout and stderr, each line tagged with the child's path.
//!
//! Stdout and stderr are line-buffered: a line reaches the log when its
//! newline is written (a line longer than [`MAX_LINE_BYTES`] is split
//! there), and a partial last line when the instance ends. Every line a
//! child produces, by any of the three ways, passes one token bucket per
//! instance ([`LogRate`], the tree file's `log_rate`): past it, lines are
//! dropped and counted, and the count is logged as one line as soon as the
//! rate lets a line through again, or when the instance ends. A guest thus
//! cannot flood the host's log, and never learns that it was cut (its
//! writes succeed).
//!
//! The bucket and the buffers ([`LogGate`]) are made when the guest first
//! logs or writes: a child that never does pays nothing for them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::body::Bytes;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::batch_writer::clip;

/// Longest line a guest writes whole, in bytes. A line is queued in host
/// memory until stderr takes it; a guest must not decide its size. 64 KiB
/// keeps any real diagnostic (a JSON document, a backtrace) intact.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// How fast a child's lines may reach the host's log: `lines_per_sec` on
/// average, `burst` at once (a token bucket that starts full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRate {
    /// Lines per second, sustained.
    pub lines_per_sec: u32,
    /// Lines at once, after a quiet spell.
    pub burst: u32,
}

/// The default: far more than a healthy child logs, far less than a loop
/// that logs on every iteration can produce.
impl Default for LogRate {
    fn default() -> Self {
        LogRate {
            lines_per_sec: 100,
            burst: 1000,
        }
    }
}

/// The largest `lines_per_sec` and `burst` a tree file may set.
pub const MAX_LOG_RATE: u32 = 1_000_000;

impl std::fmt::Display for LogRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} lines/s, burst {}", self.lines_per_sec, self.burst)
    }
}

/// Which output a guest wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// `wasi:cli/stdout`: logged at `info`.
    Stdout,
    /// `wasi:cli/stderr`: logged at `warn`.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One instance's way into the host's log: the rate limit and the partial
/// lines of stdout and stderr.
pub(crate) struct LogGate {
    path: Arc<str>,
    state: Mutex<GateState>,
}

struct GateState {
    rate: LogRate,
    /// Lines that may pass now (up to `burst`).
    tokens: f64,
    refilled: Instant,
    /// Lines dropped since the last report.
    dropped: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl GateState {
    /// Whether one more line may pass; reports the lines dropped before it.
    fn admit(&mut self, path: &str) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let burst = f64::from(self.rate.burst);
        self.tokens = (self.tokens + elapsed * f64::from(self.rate.lines_per_sec)).min(burst);
        if self.tokens < 1.0 {
            self.dropped += 1;
            return false;
        }
        self.tokens -= 1.0;
        self.report_dropped(path);
        true
    }

    fn report_dropped(&mut self, path: &str) {
        if self.dropped == 0 {
            return;
        }
        let dropped = std::mem::take(&mut self.dropped);
        tracing::warn!(
            target: "arbor::guest",
            child = path,
            dropped,
            "{dropped} lines from this child dropped: over its log_rate of {}",
            self.rate
        );
    }

    fn buffer(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }
}

impl LogGate {
    /// A full bucket for the child at `path`.
    pub fn new(path: Arc<str>, rate: LogRate) -> LogGate {
        LogGate {
            path,
            state: Mutex::new(GateState {
                rate,
                tokens: f64::from(rate.burst),
                refilled: Instant::now(),
                dropped: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `host.log`: one line, cut to [`MAX_LINE_BYTES`], if the rate allows.
    pub fn log(&self, level: tracing::Level, message: &str) {
        if !self.state().admit(&self.path) {
            return;
        }
        let path = &*self.path;
        let message = clip(message, MAX_LINE_BYTES);
        match level {
            tracing::Level::TRACE => {
                tracing::trace!(target: "arbor::guest", child = path, "{message}")
            }
            tracing::Level::DEBUG => {
                tracing::debug!(target: "arbor::guest", child = path, "{message}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "arbor::guest", child = path, "{message}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "arbor::guest", child = path, "{message}")
            }
            _ => tracing::error!(target: "arbor::guest", child = path, "{message}"),
        }
    }

    /// Bytes the guest wrote to `stream`: each complete line is logged (if
    /// the rate allows), the rest waits for its newline.
    pub fn write(&self, stream: Stream, mut bytes: &[u8]) {
        let mut state = self.state();
        while !bytes.is_empty() {
            let room = MAX_LINE_BYTES - state.buffer(stream).len();
            let (take, ends_line) = match bytes[..bytes.len().min(room)]
                .iter()
                .position(|&b| b == b'\n')
            {
                Some(newline) => (newline + 1, true),
                None if bytes.len() >= room => (room, true),
                None => (bytes.len(), false),
            };
            state.buffer(stream).extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if ends_line {
                let line = std::mem::take(state.buffer(stream));
                self.emit(&mut state, stream, &line);
            }
        }
    }

    fn emit(&self, state: &mut GateState, stream: Stream, line: &[u8]) {
        if !state.admit(&self.path) {
            return;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let path = &*self.path;
        let name = stream.name();
        match stream {
            Stream::Stdout => {
                tracing::info!(target: "arbor::guest", child = path, stream = name, "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "arbor::guest", child = path, stream = name, "{text}")
            }
        }
    }
}

impl Drop for LogGate {
    /// The instance ended: its partial lines and the count of dropped ones
    /// still reach the log.
    fn drop(&mut self) {
        let mut state = self.state();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(state.buffer(stream));
            if !rest.is_empty() {
                self.emit(&mut state, stream, &rest);
            }
        }
        state.report_dropped(&self.path);
    }
}

/// A guest's `wasi:cli/stdout` or `stderr`: every write goes to the gate
/// at once, so the guest never waits and its writes never fail.
pub(crate) struct GuestOutput {
    gate: Arc<LogGate>,
    stream: Stream,
}

impl GuestOutput {
    pub fn new(gate: Arc<LogGate>, stream: Stream) -> GuestOutput {
        GuestOutput { gate, stream }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.gate.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_passes_its_burst_then_drops_and_counts_until_it_refills() {
        let gate = LogGate::new(
            Arc::from("t"),
            LogRate {
                lines_per_sec: 10,
                burst: 5,
            },
        );
        let mut state = gate.state();
        let passed = (0..20).filter(|_| state.admit("t")).count();
        assert_eq!(passed, 5);
        assert_eq!(state.dropped, 15);
        // A tenth of a second later, one token is back: the line passes
        // and the count is reported (and reset).
        state.refilled -= std::time::Duration::from_millis(110);
        assert!(state.admit("t"));
        assert_eq!(state.dropped, 0);
    }

    #[test]
    fn output_is_split_into_lines_and_the_partial_rest_waits() {
        let gate = LogGate::new(Arc::from("t"), LogRate::default());
        gate.write(Stream::Stdout, b"one\ntwo\r\nthr");
        let state = gate.state();
        assert_eq!(state.stdout, b"thr");
        // Two lines were logged: two tokens spent.
        assert_eq!(state.tokens.round() as u32, LogRate::default().burst - 2);
    }

    #[test]
    fn a_line_without_a_newline_is_split_at_the_line_limit() {
        let gate = LogGate::new(Arc::from("t"), LogRate::default());
        gate.write(Stream::Stderr, &vec![b'x'; MAX_LINE_BYTES * 2 + 10]);
        let state = gate.state();
        assert_eq!(state.stderr.len(), 10);
        assert_eq!(state.tokens.round() as u32, LogRate::default().burst - 2);
    }
}
