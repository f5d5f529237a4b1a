// The probe, in JavaScript: a port of Arbor's multi-behaviour test guest
// (guests/probe/src/lib.rs), built into a component with componentize-js.
//
// Every message names one behaviour:
//
// | message | behaviour |
// |---|---|
// | `ping` | replies `pong` |
// | `count` | replies how many `count` messages this instance has seen |
// | `crash` | throws an uncaught Error: the export's handler ends the instance through `host.crash`, with no trap (the crash's detail is `Error: crash requested (at ...)`) |
// | `fail TEXT` | returns `err(TEXT)`: a business error, not a crash |
// | `exit normal` / `exit shutdown` / `exit error TEXT` | replies `bye`, then stops with that reason |
// | `sleep MS` | waits MS milliseconds on the WASI clock, replies `slept` |
// | `loop` | spins forever (only the host's deadline ends it) |
// | `call NAME MSG` | replies with the reply of child NAME to MSG |
// | `cast NAME MSG` | casts MSG to NAME, replies `sent` |
// | `note X` / `notes` / `forget` | records X / replies the notes joined by `,` / clears them |
// | `name` | replies this child's registered name |
// | `pad N` | keeps a padding of N bytes (`x` repeated) in the state it hands over, replies `padded N` |
// | `version` | replies `v1` |
// | `from-version` | replies the `from-version` its last `restore` got, or `none` |
// | `spawn SUP NAME COMPONENT RESTART [ARGS]` | `children.start-child` under SUP (RESTART: `permanent`, `transient` or `temporary`; ARGS, the rest of the line, are `init`'s args), replies `started NAME`; an error is `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case (`already-started: NAME`, `max-children: N`, `denied: SUP`, ...) |
// | `stop-child SUP NAME` | `children.stop-child`, replies `stopped`, errors as `spawn` |
// | `cast-self MSG` | casts MSG to itself, replies `sent` |
// | `after MS TARGET MSG` | `timers.send-after`: MSG is cast to TARGET in MS ms, replies `timer ID` |
// | `cancel ID` | `timers.cancel-timer`, replies `true` (it was pending) or `false` |
//
// `init` takes JSON args: `fail_init`, `trap_init`, `ignore_init`,
// `terminate_sleep_ms`, `trap_terminate`, `report_to`, `init_gate` (as in the
// Rust probe; the gate's `fail-init` and `ignore-init` notes),
// `init_cast_self` (cast that message to itself from `init`).
//
// It targets contract 0.2.3, world `supervised-with-handover`: `snapshot` and
// `restore` hand over `{"count": N, "notes": [..], "pad": "xxx.."}` as JSON,
// the Rust probe's format, so a child's state moves between languages.
//
// componentize-js conventions this file relies on (see the generated bindings):
// - An export returning `result<T, E>` may return `{ tag: 'ok', val }` or
//   `{ tag: 'err', val }`; any other return value is taken as `ok`.
// - A value thrown from such an export becomes `err(value)` only if it is
//   not an `Error` (or carries an own `payload` property). A thrown `Error`
//   is re-thrown by the bindings and the component TRAPS. This file therefore
//   returns errors explicitly and throws an `Error` only to crash on purpose;
//   `reportingCrashes` catches whatever escapes an export first and ends the
//   instance through `host.crash` (contract 0.2.3) with the error's text and
//   place as the crash's detail: a crash all the same, without the trap.
// - An imported function returning `result<T, E>` returns T on `ok` and
//   throws a `ComponentError` whose `.payload` is E on `err`.
// - Variants are `{ tag: 'kebab-name', val }`; u64 is a BigInt.
// - Exports may be async: the bindings await them, running the event loop
//   (so `setTimeout` really waits, on wasi:clocks + wasi:io/poll).

import { log, selfName, call, cast, stop, crash } from 'arbor:supervised/host@0.2.3';
import { startChild, stopChild } from 'arbor:supervised/children@0.2.3';
import { sendAfter, cancelTimer } from 'arbor:supervised/timers@0.2.3';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lossyDecoder = new TextDecoder('utf-8');

const ok = (val) => ({ tag: 'ok', val });
const err = (val) => ({ tag: 'err', val });

// Module state. componentize-js evaluates the top level at build time (Wizer
// snapshot), so every fresh instance starts from exactly this state.
const state = {
  args: defaultArgs(),
  counted: 0,
  notes: [],
  // Kept by `pad`: makes the handed-over state as large as a test needs.
  pad: '',
  // The `from-version` of the last `restore`.
  restoredFrom: null,
};

function defaultArgs() {
  return {
    fail_init: false,
    trap_init: false,
    ignore_init: false,
    terminate_sleep_ms: 0,
    trap_terminate: false,
    report_to: null,
    init_gate: null,
    init_cast_self: null,
  };
}

/// A crash: an uncaught Error escapes the export (and `reportingCrashes`
/// ends the instance with it).
function trap(message) {
  throw new Error(message);
}

/// `Name: message (at FRAME)`, FRAME the innermost of the error's stack.
function crashText(error) {
  if (!(error instanceof Error)) return `uncaught: ${String(error)}`;
  const frame = (error.stack || '').split('\n').find((line) => line.trim() !== '');
  return frame ? `${error.name}: ${error.message} (at ${frame.trim()})` : `${error.name}: ${error.message}`;
}

/// The functions of `exports`, each ending the instance through
/// `host.crash` (which does not return) when it throws, or when the
/// promise it returns rejects.
function reportingCrashes(exports) {
  const wrapped = {};
  for (const [name, f] of Object.entries(exports)) {
    wrapped[name] = (...args) => {
      let out;
      try {
        out = f(...args);
      } catch (e) {
        crash(crashText(e));
      }
      return out instanceof Promise ? out.catch((e) => crash(crashText(e))) : out;
    };
  }
  return wrapped;
}

function describe(error) {
  switch (error.tag) {
    case 'no-such-name':
      return `no such name: ${error.val}`;
    case 'stopped':
      return `stopped: ${error.val}`;
    case 'timeout':
      return 'timeout';
    case 'crashed':
      return `crashed: ${error.val}`;
    case 'rejected':
      return `rejected: ${error.val}`;
    case 'self-call':
      return 'self-call';
    case 'denied':
      return `denied: ${error.val}`;
    case 'too-large':
      return `too large: limit ${error.val} bytes`;
    case 'mailbox-full':
      return `mailbox full: ${error.val}`;
    default:
      return `unknown call error: ${JSON.stringify(error)}`;
  }
}

function reasonText(reason) {
  switch (reason.tag) {
    case 'normal':
      return 'normal';
    case 'shutdown':
      return 'shutdown';
    case 'error':
      return `error ${reason.val}`;
    default:
      return String(reason.tag);
  }
}

/// `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case: the
/// bindings' variant tag is already the kebab-case name.
function describeChildError(error) {
  return error.val === undefined ? error.tag : `${error.tag}: ${error.val}`;
}

const RESTART_TYPES = ['permanent', 'transient', 'temporary'];

/// `spawn SUP NAME COMPONENT RESTART [ARGS]`: ARGS is the rest of the line,
/// spaces included. Gives `{ ok: reply }` or `{ error: text }`.
function spawn(rest) {
  const [supervisor, afterSup] = splitOnce(rest);
  const [name, afterName] = splitOnce(afterSup);
  const [component, afterComponent] = splitOnce(afterName);
  const [restart, args] = splitOnce(afterComponent);
  if (!RESTART_TYPES.includes(restart)) return { error: `bad restart type: ${restart}` };
  const spec = { name, component, args: encoder.encode(args), restart };
  const got = tryHost(() => startChild(supervisor, spec), describeChildError);
  return got.error !== undefined ? got : { ok: `started ${got.ok}` };
}

/// Runs an imported function that returns a `result`; gives
/// `{ ok: value }` or `{ error: describeError(the err payload) }`.
function tryHost(fn, describeError = describe) {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, 'payload')) {
      return { error: describeError(e.payload) };
    }
    throw e; // not a call-error: a bug, let it trap
  }
}

/// Rust's `str::split_once(' ')`, falling back to `(text, "")`.
function splitOnce(text) {
  const at = text.indexOf(' ');
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

const U64_MAX = 18446744073709551615n;

/// Rust's `str::parse::<u64>()`: optional `+`, ASCII digits, no overflow.
function parseU64(text) {
  if (!/^\+?[0-9]+$/.test(text)) return null;
  const n = BigInt(text);
  return n > U64_MAX ? null : n;
}

/// Waits `ms` milliseconds (a Number or BigInt) on the WASI monotonic clock:
/// StarlingMonkey's timers subscribe to wasi:clocks/monotonic-clock and block
/// in wasi:io/poll while the export's promise is pending.
async function sleep(ms) {
  let left = BigInt(ms);
  const chunk = 2147483647n; // setTimeout's largest delay
  while (left > 0n) {
    const step = left < chunk ? left : chunk;
    await new Promise((resolve) => setTimeout(resolve, Number(step)));
    left -= step;
  }
}

/// Parses the init args like serde with `#[serde(default)]`: missing fields
/// take their defaults, unknown fields are ignored, wrong types are errors.
function parseArgs(bytes) {
  const args = defaultArgs();
  if (bytes.length === 0) return { args };
  let value;
  try {
    value = JSON.parse(strictDecoder.decode(bytes));
  } catch (e) {
    return { error: `bad probe args: ${e && e.message ? e.message : e}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `bad probe args: invalid type: ${kind(value)}, expected struct Args` };
  }
  const fields = {
    fail_init: 'bool',
    trap_init: 'bool',
    ignore_init: 'bool',
    terminate_sleep_ms: 'u64',
    trap_terminate: 'bool',
    report_to: 'option<string>',
    init_gate: 'option<string>',
    init_cast_self: 'option<string>',
  };
  for (const [name, type] of Object.entries(fields)) {
    if (!Object.prototype.hasOwnProperty.call(value, name)) continue;
    const v = value[name];
    let good;
    switch (type) {
      case 'bool':
        good = typeof v === 'boolean';
        break;
      case 'u64':
        good = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
        break;
      case 'option<string>':
        good = v === null || typeof v === 'string';
        break;
    }
    if (!good) {
      const expected = { bool: 'a boolean', u64: 'u64', 'option<string>': 'a string' }[type];
      return { error: `bad probe args: invalid type: ${kind(v)}, expected ${expected} (field ${name})` };
    }
    args[name] = v;
  }
  return { args };
}

function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'sequence';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'boolean') return `boolean \`${v}\``;
  if (typeof v === 'number') return Number.isInteger(v) ? `integer \`${v}\`` : `floating point \`${v}\``;
  return typeof v;
}

function init(bytes) {
  const parsed = parseArgs(bytes);
  if (parsed.error !== undefined) return err(parsed.error);
  const args = parsed.args;
  if (args.trap_init) {
    trap('trap_init was set');
  }
  if (args.fail_init) {
    return err('fail_init was set');
  }
  if (args.ignore_init) {
    return ok('ignore');
  }
  if (args.init_gate !== null) {
    const gate = args.init_gate;
    const got = tryHost(() => call(gate, encoder.encode('notes')));
    if (got.error !== undefined) return err(got.error);
    const notes = lossyDecoder.decode(got.ok).split(',');
    if (notes.some((n) => n === 'fail-init')) {
      return err(`${gate} holds the note fail-init`);
    }
    if (notes.some((n) => n === 'ignore-init')) {
      return ok('ignore');
    }
  }
  if (args.init_cast_self !== null) {
    const sent = tryHost(() => cast(selfName(), encoder.encode(args.init_cast_self)));
    if (sent.error !== undefined) return err(sent.error);
  }
  state.args = args;
  return ok('running');
}

async function handle(message) {
  let text;
  try {
    text = strictDecoder.decode(message);
  } catch {
    return err('message is not UTF-8');
  }
  const [verb, rest] = splitOnce(text);
  let reply;
  switch (verb) {
    case 'ping':
      reply = 'pong';
      break;
    case 'count':
      state.counted += 1;
      reply = String(state.counted);
      break;
    case 'crash':
      trap('crash requested');
      break;
    case 'fail':
      return err(rest);
    case 'exit': {
      const [what, why] = splitOnce(rest);
      let reason;
      if (what === 'normal') reason = { tag: 'normal' };
      else if (what === 'shutdown') reason = { tag: 'shutdown' };
      else if (what === 'error') reason = { tag: 'error', val: why };
      else return err(`unknown exit reason: ${rest}`);
      stop(reason);
      reply = 'bye';
      break;
    }
    case 'sleep': {
      const ms = parseU64(rest);
      if (ms === null) return err(`bad sleep: ${rest}`);
      await sleep(ms);
      reply = 'slept';
      break;
    }
    case 'loop': {
      let spins = 0;
      for (;;) {
        spins = (spins + 1) | 0;
      }
    }
    case 'call': {
      const [name, msg] = splitOnce(rest);
      const got = tryHost(() => call(name, encoder.encode(msg)));
      if (got.error !== undefined) return err(got.error);
      reply = lossyDecoder.decode(got.ok);
      break;
    }
    case 'cast': {
      const [name, msg] = splitOnce(rest);
      const got = tryHost(() => cast(name, encoder.encode(msg)));
      if (got.error !== undefined) return err(got.error);
      reply = 'sent';
      break;
    }
    case 'note':
      state.notes.push(rest);
      reply = 'noted';
      break;
    case 'notes':
      reply = state.notes.join(',');
      break;
    case 'forget':
      state.notes = [];
      reply = 'forgotten';
      break;
    case 'name':
      reply = selfName();
      break;
    case 'pad': {
      // Rust's `usize` on wasm32: what the Rust probe accepts.
      const n = parseU64(rest);
      if (n === null || n > 4294967295n) return err(`bad size: ${rest}`);
      state.pad = 'x'.repeat(Number(n));
      reply = `padded ${n}`;
      break;
    }
    case 'version':
      reply = 'v1';
      break;
    case 'from-version':
      reply = state.restoredFrom ?? 'none';
      break;
    case 'spawn': {
      const got = spawn(rest);
      if (got.error !== undefined) return err(got.error);
      reply = got.ok;
      break;
    }
    case 'stop-child': {
      const [supervisor, name] = splitOnce(rest);
      const got = tryHost(() => stopChild(supervisor, name), describeChildError);
      if (got.error !== undefined) return err(got.error);
      reply = 'stopped';
      break;
    }
    case 'cast-self': {
      const got = tryHost(() => cast(selfName(), encoder.encode(rest)));
      if (got.error !== undefined) return err(got.error);
      reply = 'sent';
      break;
    }
    case 'after': {
      const [msText, targetMsg] = splitOnce(rest);
      const [target, msg] = splitOnce(targetMsg);
      const ms = parseU64(msText);
      if (ms === null) return err(`bad delay: ${rest}`);
      const got = tryHost(() => sendAfter(target, encoder.encode(msg), ms));
      if (got.error !== undefined) return err(got.error);
      reply = `timer ${got.ok}`;
      break;
    }
    case 'cancel': {
      const id = parseU64(rest);
      if (id === null) return err(`bad timer id: ${rest}`);
      reply = String(cancelTimer(id));
      break;
    }
    default:
      return err(`unknown message: ${text}`);
  }
  return ok(encoder.encode(reply));
}

async function terminate(reason) {
  const { terminate_sleep_ms: sleepMs, trap_terminate: trapIt, report_to: reportTo } = state.args;
  log('info', `terminate: ${reasonText(reason)}`);
  if (reportTo !== null) {
    const note = `note terminated:${selfName()}:${reasonText(reason)}`;
    try {
      cast(reportTo, encoder.encode(note));
    } catch {
      // like `let _ = host::cast(...)`: the outcome is ignored
    }
  }
  if (sleepMs > 0) {
    await sleep(sleepMs);
  }
  if (trapIt) {
    trap('trap_terminate was set');
  }
}

/// A string as JSON text, as JSON.stringify writes it. Only the characters
/// that need escaping go through JSON.stringify: on a long string
/// StarlingMonkey's JSON.stringify grows linear memory by ~60 bytes per
/// character (a 1 MiB `pad` took ~65 MiB, past the default 64 MiB limit),
/// where this takes about the string's size.
function quote(text) {
  return `"${text.replace(/["\\\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1))}"`;
}

/// The handed-over state, `{"count": N, "notes": [..], "pad": "xxx.."}`,
/// compact, as serde_json writes it in the Rust probe.
function snapshot() {
  const { counted, notes, pad } = state;
  const json = `{"count":${counted},"notes":[${notes.map(quote).join(',')}],"pad":${quote(pad)}}`;
  return ok(encoder.encode(json));
}

/// Reads a snapshot like serde with `#[serde(default)]` (as `parseArgs`
/// reads the args): a missing field defaults, an unknown one is ignored, a
/// wrong type or unreadable JSON refuses the state.
function restore(bytes, fromVersion) {
  const refuse = (why) => err(`cannot read the state: ${why}`);
  let value;
  try {
    value = JSON.parse(strictDecoder.decode(bytes));
  } catch (e) {
    return refuse(e && e.message ? e.message : e);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return refuse(`invalid type: ${kind(value)}, expected struct Snapshot`);
  }
  const has = (name) => Object.prototype.hasOwnProperty.call(value, name);
  const count = has('count') ? value.count : 0;
  const notes = has('notes') ? value.notes : [];
  const pad = has('pad') ? value.pad : '';
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    return refuse(`invalid type: ${kind(count)}, expected u64 (field count)`);
  }
  if (!Array.isArray(notes)) {
    return refuse(`invalid type: ${kind(notes)}, expected a sequence (field notes)`);
  }
  const bad = notes.find((n) => typeof n !== 'string');
  if (bad !== undefined) {
    return refuse(`invalid type: ${kind(bad)}, expected a string (field notes)`);
  }
  if (typeof pad !== 'string') {
    return refuse(`invalid type: ${kind(pad)}, expected a string (field pad)`);
  }
  state.counted = count;
  state.notes = notes;
  state.pad = pad;
  state.restoredFrom = fromVersion;
  return ok(undefined);
}

export const lifecycle = reportingCrashes({ init, handle, terminate });
export const handover = reportingCrashes({ snapshot, restore });
