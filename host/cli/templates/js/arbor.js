// arbor.js: small conveniences over the Arbor contract (0.2.3) for a
// JavaScript guest. Everything here is a thin wrapper of the
// `arbor:supervised/*@0.2.3` imports; use those directly for anything it
// does not cover (raw bytes, for one).
//
// - JSON messages: `decode(message)` reads what a caller sent (throws if
//   it is not UTF-8 JSON); `reply(value)` is `handle`'s `ok`
//   with `value` as JSON, `refuse(text)` its `err` (an error reply, not a
//   crash); `encode(value)` gives the bytes.
// - `call(name, value)`: JSON in, JSON out. `cast(name, value)`,
//   `castSelf(value)` (always allowed, even from `init`).
// - `startChild(supervisor, name, component, { args, restart })` and
//   `stopChild(supervisor, name)`: only under the supervisors this child's
//   `may_start` in the tree file names.
// - `sendAfter(target, value, ms)` returns a timer id (a BigInt);
//   `cancelTimer(id)` says whether it was still pending.
// - `selfName()`; `log.trace|debug|info|warn|error(text)`.
// - `reportingCrashes({ init, handle, terminate })`: the exports, each
//   ending the instance through `crash(text)` (contract 0.2.3's
//   `host.crash`) when an error escapes it, with the error's name, message
//   and place as the crash's detail; without it the error traps and the
//   crash says only "wasm trap: unreachable". `crash(text)` ends the
//   instance at once, from anywhere.
//
// A failed `call`, `cast` or `sendAfter` throws a `CallError`, a failed
// `startChild` or `stopChild` a `ChildError`: `.case` is the contract's case
// name ('no-such-name', 'self-call', 'max-children', ...), `.value` its
// payload or undefined, and `.message` reads `case` or `case: value`. They
// are `Error`s: left uncaught, they trap (let it crash); to answer the caller
// instead, `return refuse(e.message)`.

import { log as hostLog, selfName, call as hostCall, cast as hostCast, crash } from 'arbor:supervised/host@0.2.3';
import { startChild as hostStartChild, stopChild as hostStopChild } from 'arbor:supervised/children@0.2.3';
import { sendAfter as hostSendAfter, cancelTimer as hostCancelTimer } from 'arbor:supervised/timers@0.2.3';

export { selfName, crash };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/// A host function's typed error: `case` (kebab-case) and `value`.
export class ArborError extends Error {
  constructor(error) {
    super(error.val === undefined ? error.tag : `${error.tag}: ${error.val}`);
    this.case = error.tag;
    this.value = error.val;
  }
}

/// A `call-error`: the target did not get or answer the message.
export class CallError extends ArborError {}

/// A `child-error`: the child was not started or stopped.
export class ChildError extends ArborError {}

/// Runs a host function; its `err` (thrown by the bindings with a
/// `payload`) becomes an `ErrorClass`.
function typed(ErrorClass, fn) {
  try {
    return fn();
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, 'payload')) throw new ErrorClass(e.payload);
    throw e;
  }
}

/// The JSON value a caller sent (throws if it is not UTF-8 JSON).
export function decode(message) {
  return JSON.parse(decoder.decode(message));
}

/// `value` as JSON bytes (undefined as `null`: JSON has no undefined).
export function encode(value) {
  return encoder.encode(JSON.stringify(value === undefined ? null : value));
}

/// `handle`'s answer: `value` as JSON.
export function reply(value) {
  return { tag: 'ok', val: encode(value) };
}

/// `handle`'s (or `init`'s) error answer: the caller gets `text`, the child
/// keeps running.
export function refuse(text) {
  return { tag: 'err', val: String(text) };
}

/// Sends `value` to `name`, waits for its reply and decodes it.
export function call(name, value) {
  return decode(typed(CallError, () => hostCall(name, encode(value))));
}

/// Queues `value` for `name` without waiting.
export function cast(name, value) {
  typed(CallError, () => hostCast(name, encode(value)));
}

/// Queues `value` for this child: handled after the current message.
export function castSelf(value) {
  cast(selfName(), value);
}

/// Starts `component` as `name` under `supervisor` and waits for its
/// `init`. `args`: a Uint8Array as it is, any other value as JSON
/// (undefined: none); `restart`: 'permanent', 'transient' or 'temporary'.
export function startChild(supervisor, name, component, { args, restart = 'permanent' } = {}) {
  const bytes = args === undefined ? new Uint8Array() : args instanceof Uint8Array ? args : encode(args);
  const spec = { name, component, args: bytes, restart };
  return typed(ChildError, () => hostStartChild(supervisor, spec));
}

/// Stops `name` under `supervisor` in order and waits until it has.
export function stopChild(supervisor, name) {
  typed(ChildError, () => hostStopChild(supervisor, name));
}

/// Casts `value` to `target` in `ms` milliseconds; returns the timer's id.
/// The timer dies with this instance (a crash or a restart cancels it).
export function sendAfter(target, value, ms) {
  return typed(CallError, () => hostSendAfter(target, encode(value), BigInt(ms)));
}

/// True if the timer was pending and now will not fire.
export function cancelTimer(id) {
  return hostCancelTimer(BigInt(id));
}

/// One line in the host's log at each level.
export const log = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (text) => hostLog(level, String(text))]),
);

/// `Name: message (at FRAME)`, FRAME the innermost of the error's stack.
function crashText(error) {
  if (!(error instanceof Error)) return `uncaught: ${String(error)}`;
  const frame = (error.stack || '').split('\n').find((line) => line.trim() !== '');
  return frame ? `${error.name}: ${error.message} (at ${frame.trim()})` : `${error.name}: ${error.message}`;
}

/// The functions of `exports`, each ending the instance through `crash`
/// (which does not return) when it throws, or when the promise it returns
/// rejects: a crash with the error's text, without a trap.
export function reportingCrashes(exports) {
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
