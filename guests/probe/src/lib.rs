//! The probe: Arbor's multi-behaviour test guest.
//!
//! Every message names one behaviour, so a single component exercises the
//! whole contract:
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `bytes HEX` | replies the bytes HEX spells (`bytes 00ff` replies 0x00 0xff: a reply that is not UTF-8) |
//! | `count` | replies how many `count` messages this instance has seen (fresh state shows a restart) |
//! | `crash` | panics with `crash requested`: the SDK's panic hook ends the instance through `host.crash`, with no trap (the crash's detail is `panic: crash requested (at probe/src/lib.rs:LINE:COL)`) |
//! | `trap` | executes `unreachable` at once (a hardware trap, without the panic machinery) |
//! | `crash-times N GATE` | traps the first N times it is handled, counting in child GATE (which outlives this instance): while GATE holds fewer than N notes `crashed`, adds one and traps; then adds the note `survived` to GATE and replies `survived N` (a message that crashes N times, then succeeds) |
//! | `fail TEXT` | returns `err(TEXT)`: a business error, not a crash |
//! | `exit normal` / `exit error TEXT` | replies `bye`, then stops with that reason |
//! | `sleep MS` | waits MS milliseconds on the WASI clock, replies `slept` |
//! | `loop` | spins forever (only the host's deadline ends it) |
//! | `reply-bytes N` | replies N bytes of `x` (past the host's reply limit: a hostile reply) |
//! | `call NAME MSG` | replies with the reply of child NAME to MSG |
//! | `cast NAME MSG` | casts MSG to NAME, replies `sent` |
//! | `cast-many N NAME MSG` | casts MSG to NAME N times in a row, replies `S sent`, or `S sent, F failed: ERROR` with the first error |
//! | `note X` / `notes` / `forget` | records X / replies the notes joined by `,` / clears them |
//! | `name` | replies this child's registered name |
//! | `repeat-call N NAME MSG` | calls NAME with MSG N times, replies the elapsed nanoseconds |
//! | `grow MB` | allocates and keeps MB MiB more (past the memory limit: a trap), replies the total kept |
//! | `overflow` | recurses without end, each frame on the guest's shadow stack in linear memory (a trap when that stack runs out of memory below it) |
//! | `overflow-native` | recurses without end in wasm locals only (a trap when wasm's own call stack, the host's `max_wasm_stack`, runs out) |
//! | `log-many N SIZE` | logs N info lines of SIZE bytes (`log-many I xxx...`, I from 0), replies `logged N` |
//! | `pad N` | keeps a padding of N bytes (`x` repeated) in the state it hands over, replies `padded N` (makes a large snapshot) |
//! | `version` | replies this build's label: `v1`, or `v2` for the v2 build |
//! | `from-version` | replies the `from-version` its last `restore` got, or `none` |
//! | `spawn SUP NAME COMPONENT RESTART [ARGS]` | `children.start-child` under SUP (RESTART: `permanent`, `transient` or `temporary`; ARGS, the rest of the line, are `init`'s args), replies `started NAME`; an error is `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case (`already-started: NAME`, `max-children: N`, `denied: SUP`, ...) |
//! | `stop-child SUP NAME` | `children.stop-child`, replies `stopped`, errors as `spawn` |
//! | `cast-self MSG` | casts MSG to itself, replies `sent` |
//! | `after MS TARGET MSG` | `timers.send-after`: MSG is cast to TARGET in MS ms, replies `timer ID` |
//! | `cancel ID` | `timers.cancel-timer`, replies `true` (it was pending) or `false` |
//!
//! It is written with the Rust guest SDK (`guests/sdk`, `arbor-guest`) and
//! exported `with handover`, so it targets the newest contract's world
//! `supervised-with-handover` (`wit/arbor.wit`, 0.2.3), as the Python and
//! JavaScript probes do; the C
//! probe stays on 0.1.0, so the conformance suite runs both versions side by
//! side.
//!
//! **Handover.** `snapshot` hands over `{"count": N, "notes": [..], "pad":
//! "xxx.."}` (the `count` counter, the notes, the padding) as JSON, the same
//! format in every language's probe, so a child's state can move between
//! languages; `restore` takes it (a missing field takes its default, an
//! unknown one is ignored; JSON it cannot read is `err("cannot read the
//! state: ...")`). Memory kept by `grow` is not handed over.
//!
//! **Two versions.** `guests/probe_v2` builds this same file with the cargo
//! feature `v2`, a second version to hot swap to: `version` replies `v2`,
//! `count` replies `v2 N` instead of `N`, and two init args act only there:
//! `v2_trap_init` (trap in `init`) and `v2_refuse_restore` (`restore`
//! returns `err("refused by v2_refuse_restore")`). The v1 build reads and
//! ignores them, so a child started with them runs until swapped to v2.
//!
//! `init` takes JSON args: `fail_init` (return `err`), `trap_init` (trap),
//! `ignore_init` (answer `ignore`: start nothing),
//! `init_sleep_ms` (sleep in `init`, e.g. past its deadline),
//! `terminate_sleep_ms` (sleep in `terminate`), `trap_terminate` (trap in
//! `terminate`), `init_loop` / `terminate_loop` (spin forever in `init` /
//! `terminate`: only the host's deadline ends them), `report_to` (cast `note terminated:NAME:REASON` to that child
//! from `terminate`), `init_gate` (fail `init` while that child holds the note
//! `fail-init`, or hang in `init` until the host's deadline while it holds
//! `hang-init`, or answer `ignore` while it holds `ignore-init`: lets a test
//! make restarts fail, fail slowly, or be ignored), `init_cast_self` (cast
//! that message to itself from `init`: the seed's `send(self(), process)`).

use std::borrow::Cow;
use std::time::Duration;

use arbor_guest::{
    Actor, CallError, ChildError, ChildSpec, ExitReason, Handover, Init, Level, Restart, TimerId,
};

/// Whether this is the v2 build (`guests/probe_v2`): what a hot swap test
/// tells the two versions apart by.
const V2: bool = cfg!(feature = "v2");
/// What `version` replies.
const VERSION: &str = if V2 { "v2" } else { "v1" };

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Args {
    fail_init: bool,
    trap_init: bool,
    ignore_init: bool,
    terminate_sleep_ms: u64,
    trap_terminate: bool,
    report_to: Option<String>,
    init_gate: Option<String>,
    init_sleep_ms: u64,
    /// Cast this message to itself from `init`.
    init_cast_self: Option<String>,
    /// Spin forever in `init`.
    init_loop: bool,
    /// Spin forever in `terminate`.
    terminate_loop: bool,
    /// v2 only: trap in `init` (a swap to v2 that fails to start).
    v2_trap_init: bool,
    /// v2 only: `restore` refuses the state (a swap to v2 that fails to restore).
    v2_refuse_restore: bool,
}

/// The state of one probe instance, kept by the SDK between callbacks.
#[derive(Default)]
struct Probe {
    args: Args,
    counted: u64,
    notes: Vec<String>,
    /// Memory kept by `grow`.
    kept: Vec<Vec<u8>>,
    /// Kept by `pad`: makes the handed-over state as large as a test needs.
    pad: String,
    /// The `from-version` of the last `restore`.
    restored_from: Option<String>,
}

/// The state `snapshot` hands over and `restore` takes, as JSON; the Python
/// and JavaScript probes read and write the same. Borrowed when written, so
/// a large `pad` is not copied before it is serialised.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Snapshot<'a> {
    count: u64,
    notes: Cow<'a, [String]>,
    pad: Cow<'a, str>,
}

/// Recursion the optimiser cannot turn into a loop: each frame keeps a
/// buffer alive across the call.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[depth as usize % 64]
}

/// Spins until the host's deadline drops the instance.
fn spin() -> ! {
    let mut spins: u64 = 0;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

/// Recursion whose frames live in wasm locals, not linear memory: the
/// result is combined after the call in a way LLVM cannot turn into a loop.
fn descend(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    descend(n + 1).wrapping_mul(3).wrapping_add(n)
}

/// `bytes HEX`: lets a test get a reply of any bytes, not only text.
fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits: {hex}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .filter(|pair| pair.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("not hex: {hex}"))
        })
        .collect()
}

/// Casts `msg` to `name` `n` times without stopping at errors; says how many
/// were queued and the first error.
fn cast_many(n: u64, name: &str, msg: &[u8]) -> String {
    let (mut sent, mut failed, mut first_error) = (0u64, 0u64, None);
    for _ in 0..n {
        match arbor_guest::cast(name, msg) {
            Ok(()) => sent += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| describe(&e));
            }
        }
    }
    match first_error {
        None => format!("{sent} sent"),
        Some(error) => format!("{sent} sent, {failed} failed: {error}"),
    }
}

/// A call error as the probe's replies have always spelt it (`no such
/// name: X`, `mailbox full: TEXT`, ...); the tests read these words.
fn describe(error: &CallError) -> String {
    match error {
        CallError::NoSuchName(name) => format!("no such name: {name}"),
        CallError::Stopped(why) => format!("stopped: {why}"),
        CallError::Timeout => "timeout".to_string(),
        CallError::Crashed(why) => format!("crashed: {why}"),
        CallError::Rejected(why) => format!("rejected: {why}"),
        CallError::SelfCall => "self-call".to_string(),
        CallError::Denied(why) => format!("denied: {why}"),
        CallError::TooLarge(limit) => format!("too large: limit {limit} bytes"),
        CallError::MailboxFull(why) => format!("mailbox full: {why}"),
    }
}

/// `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case: the
/// SDK's `Display` of a `ChildError`.
fn describe_child_error(error: &ChildError) -> String {
    error.to_string()
}

/// `spawn SUP NAME COMPONENT RESTART [ARGS]`.
fn spawn(rest: &str) -> Result<String, String> {
    let mut parts = rest.splitn(5, ' ');
    let mut next = || parts.next().unwrap_or("");
    let (supervisor, name, component, restart) = (next(), next(), next(), next());
    let args = next();
    let restart = match restart {
        "permanent" => Restart::Permanent,
        "transient" => Restart::Transient,
        "temporary" => Restart::Temporary,
        other => return Err(format!("bad restart type: {other}")),
    };
    let spec = ChildSpec::new(name, component)
        .args(args.as_bytes())
        .restart(restart);
    let name = arbor_guest::start_child(supervisor, &spec).map_err(|e| describe_child_error(&e))?;
    Ok(format!("started {name}"))
}

fn reason_text(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Normal => "normal".to_string(),
        ExitReason::Shutdown => "shutdown".to_string(),
        ExitReason::Error(text) => format!("error {text}"),
    }
}

impl Actor for Probe {
    fn init(args: &[u8]) -> Result<Init<Self>, String> {
        let args: Args = if args.is_empty() {
            Args::default()
        } else {
            serde_json::from_slice(args).map_err(|e| format!("bad probe args: {e}"))?
        };
        if args.init_sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.init_sleep_ms));
        }
        if args.init_loop {
            spin();
        }
        if args.trap_init {
            panic!("trap_init was set");
        }
        if V2 && args.v2_trap_init {
            panic!("v2_trap_init was set");
        }
        if args.fail_init {
            return Err("fail_init was set".to_string());
        }
        if args.ignore_init {
            return Ok(Init::Ignore);
        }
        if let Some(gate) = &args.init_gate {
            let notes = arbor_guest::call(gate, b"notes").map_err(|e| describe(&e))?;
            let notes = String::from_utf8_lossy(&notes).into_owned();
            if notes.split(',').any(|n| n == "fail-init") {
                return Err(format!("{gate} holds the note fail-init"));
            }
            if notes.split(',').any(|n| n == "hang-init") {
                std::thread::sleep(Duration::from_secs(3600));
            }
            if notes.split(',').any(|n| n == "ignore-init") {
                return Ok(Init::Ignore);
            }
        }
        if let Some(message) = &args.init_cast_self {
            arbor_guest::cast_self(message.as_bytes()).map_err(|e| describe(&e))?;
        }
        Ok(Init::Running(Probe {
            args,
            ..Probe::default()
        }))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(message).map_err(|_| "message is not UTF-8".to_string())?;
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match verb {
            "ping" => "pong".to_string(),
            "bytes" => return decode_hex(rest),
            "count" => {
                self.counted += 1;
                if V2 {
                    format!("v2 {}", self.counted)
                } else {
                    self.counted.to_string()
                }
            }
            "crash" => panic!("crash requested"),
            "crash-times" => {
                let (n, gate) = rest.split_once(' ').unwrap_or((rest, ""));
                let n: usize = n.parse().map_err(|_| format!("bad count: {rest}"))?;
                let notes = arbor_guest::call(gate, b"notes").map_err(|e| describe(&e))?;
                let crashed = String::from_utf8_lossy(&notes)
                    .split(',')
                    .filter(|note| *note == "crashed")
                    .count();
                if crashed < n {
                    arbor_guest::call(gate, b"note crashed").map_err(|e| describe(&e))?;
                    panic!("crash-times: crash {} of {n}", crashed + 1);
                }
                arbor_guest::call(gate, b"note survived").map_err(|e| describe(&e))?;
                format!("survived {n}")
            }
            "trap" => core::arch::wasm32::unreachable(),
            "fail" => return Err(rest.to_string()),
            "exit" => {
                let reason = match rest.split_once(' ').unwrap_or((rest, "")) {
                    ("normal", _) => ExitReason::Normal,
                    ("shutdown", _) => ExitReason::Shutdown,
                    ("error", why) => ExitReason::Error(why.to_string()),
                    _ => return Err(format!("unknown exit reason: {rest}")),
                };
                arbor_guest::stop(reason);
                "bye".to_string()
            }
            "sleep" => {
                let ms: u64 = rest.parse().map_err(|_| format!("bad sleep: {rest}"))?;
                std::thread::sleep(Duration::from_millis(ms));
                "slept".to_string()
            }
            "loop" => spin(),
            "reply-bytes" => {
                let n: usize = rest.parse().map_err(|_| format!("bad size: {rest}"))?;
                return Ok(vec![b'x'; n]);
            }
            "call" => {
                let (name, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                let reply = arbor_guest::call(name, msg.as_bytes()).map_err(|e| describe(&e))?;
                String::from_utf8_lossy(&reply).into_owned()
            }
            "cast" => {
                let (name, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                arbor_guest::cast(name, msg.as_bytes()).map_err(|e| describe(&e))?;
                "sent".to_string()
            }
            "cast-many" => {
                let mut parts = rest.splitn(3, ' ');
                let n: u64 = parts
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| format!("bad count: {rest}"))?;
                let name = parts.next().unwrap_or("");
                let msg = parts.next().unwrap_or("").as_bytes();
                cast_many(n, name, msg)
            }
            "log-many" => {
                let (n, size) = rest.split_once(' ').unwrap_or((rest, ""));
                let n: u64 = n.parse().map_err(|_| format!("bad count: {rest}"))?;
                let size: usize = size.parse().map_err(|_| format!("bad size: {rest}"))?;
                for i in 0..n {
                    let mut line = format!("log-many {i} ");
                    line.extend(std::iter::repeat_n('x', size.saturating_sub(line.len())));
                    arbor_guest::log(Level::Info, &line);
                }
                format!("logged {n}")
            }
            "note" => {
                self.notes.push(rest.to_string());
                "noted".to_string()
            }
            "notes" => self.notes.join(","),
            "forget" => {
                self.notes.clear();
                "forgotten".to_string()
            }
            "name" => arbor_guest::self_name(),
            "pad" => {
                let n: usize = rest.parse().map_err(|_| format!("bad size: {rest}"))?;
                self.pad = "x".repeat(n);
                format!("padded {n}")
            }
            "version" => VERSION.to_string(),
            "spawn" => spawn(rest)?,
            "stop-child" => {
                let (supervisor, name) = rest.split_once(' ').unwrap_or((rest, ""));
                arbor_guest::stop_child(supervisor, name).map_err(|e| describe_child_error(&e))?;
                "stopped".to_string()
            }
            "cast-self" => {
                arbor_guest::cast_self(rest.as_bytes()).map_err(|e| describe(&e))?;
                "sent".to_string()
            }
            "after" => {
                let mut parts = rest.splitn(3, ' ');
                let ms: u64 = parts
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| format!("bad delay: {rest}"))?;
                let target = parts.next().unwrap_or("");
                let msg = parts.next().unwrap_or("").as_bytes();
                let id = arbor_guest::send_after(target, msg, Duration::from_millis(ms))
                    .map_err(|e| describe(&e))?;
                format!("timer {id}")
            }
            "cancel" => {
                let id: u64 = rest.parse().map_err(|_| format!("bad timer id: {rest}"))?;
                arbor_guest::cancel_timer(TimerId::from(id)).to_string()
            }
            "from-version" => self
                .restored_from
                .clone()
                .unwrap_or_else(|| "none".to_string()),
            "grow" => {
                let mb: usize = rest.parse().map_err(|_| format!("bad size: {rest}"))?;
                self.kept.push(vec![1u8; mb << 20]);
                let total: usize = self.kept.iter().map(Vec::len).sum();
                (total >> 20).to_string()
            }
            "overflow" => recurse(1).to_string(),
            "overflow-native" => descend(std::hint::black_box(0)).to_string(),
            "repeat-call" => {
                // `repeat-call N NAME MSG`: N calls in a row; replies the
                // elapsed nanoseconds (WASI monotonic clock), for benchmarks.
                let mut parts = rest.splitn(3, ' ');
                let n: u64 = parts
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| format!("bad count: {rest}"))?;
                let name = parts.next().unwrap_or("");
                let msg = parts.next().unwrap_or("").as_bytes();
                let started = std::time::Instant::now();
                for _ in 0..n {
                    arbor_guest::call(name, msg).map_err(|e| describe(&e))?;
                }
                started.elapsed().as_nanos().to_string()
            }
            _ => return Err(format!("unknown message: {text}")),
        };
        Ok(reply.into_bytes())
    }

    fn terminate(&mut self, reason: ExitReason) {
        arbor_guest::info!("terminate: {}", reason_text(&reason));
        if let Some(target) = &self.args.report_to {
            let note = format!(
                "note terminated:{}:{}",
                arbor_guest::self_name(),
                reason_text(&reason)
            );
            let _ = arbor_guest::cast(target, note.as_bytes());
        }
        if self.args.terminate_sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.args.terminate_sleep_ms));
        }
        if self.args.trap_terminate {
            panic!("trap_terminate was set");
        }
        if self.args.terminate_loop {
            spin();
        }
    }
}

impl Handover for Probe {
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        let snapshot = Snapshot {
            count: self.counted,
            notes: Cow::Borrowed(&self.notes),
            pad: Cow::Borrowed(&self.pad),
        };
        serde_json::to_vec(&snapshot).map_err(|e| format!("cannot write the state: {e}"))
    }

    fn restore(&mut self, state: &[u8], from_version: &str) -> Result<(), String> {
        if V2 && self.args.v2_refuse_restore {
            return Err("refused by v2_refuse_restore".to_string());
        }
        let snapshot: Snapshot =
            serde_json::from_slice(state).map_err(|e| format!("cannot read the state: {e}"))?;
        self.counted = snapshot.count;
        self.notes = snapshot.notes.into_owned();
        self.pad = snapshot.pad.into_owned();
        self.restored_from = Some(from_version.to_string());
        Ok(())
    }
}

arbor_guest::export!(Probe with handover);
