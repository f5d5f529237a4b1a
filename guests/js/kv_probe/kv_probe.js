// The key-value probe, in JavaScript: a port of Arbor's test guest for
// durable state (guests/kv_probe/src/lib.rs), built into a component with
// componentize-js.
//
// Its `wasi:keyvalue@0.2.0-draft` calls go through the bindings
// componentize-js generates from the standard WIT (the files wasmtime's
// `wasmtime-wasi-keyvalue` ships, vendored in host/runtime/wit/keyvalue):
// it is what a JavaScript guest written for wasmtime's or wasmCloud's
// key-value looks like. Its world (wit/world.wit) is Arbor's `supervised`
// plus the `store`, `atomics` and `batch` imports.
//
// | message | behaviour |
// |---|---|
// | `open BUCKET` | opens BUCKET, replies `opened` |
// | `set BUCKET KEY VALUE` | sets KEY to VALUE (the rest of the line), replies `ok` |
// | `get BUCKET KEY` | replies the value, or `none` |
// | `del BUCKET KEY` | deletes KEY, replies `ok` |
// | `exists BUCKET KEY` | replies `true` or `false` |
// | `incr BUCKET KEY N` | `atomics.increment` by N, replies the new number |
// | `keys BUCKET` | every key (`list-keys`, following the cursor), joined by `,` |
// | `set-many BUCKET K=V,K=V` | `batch.set-many`, replies `ok` |
// | `get-many BUCKET K,K` | `batch.get-many`, replies `K=V` or `K?` (missing) joined by `,` |
// | `big BUCKET KEY BYTES` | sets KEY to BYTES bytes of `x`, replies `ok` |
// | `repeat OP BUCKET N` | N sets (of keys `k0`..), gets or increments (of key `n`) in a loop, OP `set`, `get` or `incr`; replies `done N` |
// | `crash` | traps |
//
// A store error is the reply `err(CASE)` or `err(other: TEXT)`, CASE the
// `wasi:keyvalue/store.error` case (`no-such-store`, `access-denied`):
// the Rust probe's texts, so one test body runs against both.
//
// componentize-js conventions this file relies on (see the generated bindings):
// - `open` returns a `Bucket` object (the resource) whose methods are the
//   WIT's in camelCase (`get`, `set`, `delete`, `exists`, `listKeys`);
//   `increment`, `getMany` and `setMany` are plain functions taking it.
// - An imported function returning `result<T, E>` returns T on `ok` and
//   throws a `ComponentError` whose `.payload` is E (`{ tag, val }`) on `err`.
// - `option<T>` is T or `undefined`; u64 is a BigInt; `list<u8>` is a
//   Uint8Array; a tuple is an array.
// - The bindings forget a bucket's finalizer as soon as a method is called
//   on it, so a bucket is never dropped by the garbage collector: this file
//   drops each one explicitly (`Symbol.dispose`), as the Rust probe drops
//   its handle at the end of a message.
// - A thrown `Error` escaping an export traps the instance.

import { open } from 'wasi:keyvalue/store@0.2.0-draft';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft';
import { getMany, setMany } from 'wasi:keyvalue/batch@0.2.0-draft';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lossyDecoder = new TextDecoder('utf-8');

const ok = (val) => ({ tag: 'ok', val });
const err = (val) => ({ tag: 'err', val });

// The symbol the bindings define their resources' drop under: StarlingMonkey
// may predate `Symbol.dispose`, and then the bindings fall back to this.
const dispose = Symbol.dispose || Symbol.for('dispose');

/// A `wasi:keyvalue/store.error` the guest answers with, as the Rust
/// probe's `Error`.
class StoreError {
  constructor(error) {
    this.error = error;
  }
}

/// `err(CASE)` or `err(other: TEXT)`, as the Rust probe describes an error.
function describe({ tag, val }) {
  return tag === 'other' ? `other: ${val}` : tag;
}

/// Runs a store call; a `ComponentError` (the call's `err`) becomes a
/// `StoreError`, anything else is a bug and traps.
function store(fn) {
  try {
    return fn();
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, 'payload')) {
      throw new StoreError(e.payload);
    }
    throw e;
  }
}

/// Opens `name`, runs `fn` with the bucket and drops the bucket after it.
function withBucket(name, fn) {
  const bucket = store(() => open(name));
  try {
    return store(() => fn(bucket));
  } finally {
    bucket[dispose]();
  }
}

/// Rust's `str::splitn(n, ' ')`: at most `n` words, the last the rest of
/// the line; missing words are `''`.
function words(text, n) {
  const out = [];
  let rest = text;
  while (out.length < n - 1) {
    const at = rest.indexOf(' ');
    if (at < 0) break;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return (i) => out[i] ?? '';
}

/// Rust's `str::parse::<u64>()`, or `fallback` where it fails.
function parseU64(text, fallback) {
  if (!/^\+?[0-9]+$/.test(text)) return fallback;
  const n = BigInt(text);
  return n > 18446744073709551615n ? fallback : n;
}

/// Every key of `bucket`, following `list-keys`' cursor to the last page.
function allKeys(bucket) {
  const keys = [];
  let cursor;
  do {
    const page = bucket.listKeys(cursor);
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return keys;
}

/// The reply to `message`; throws a `StoreError` for a store error.
function run(message) {
  const arg = words(message, 4);
  switch (arg(0)) {
    case 'open':
      withBucket(arg(1), () => {});
      return 'opened';
    case 'set':
      withBucket(arg(1), (b) => b.set(arg(2), encoder.encode(arg(3))));
      return 'ok';
    case 'get': {
      const value = withBucket(arg(1), (b) => b.get(arg(2)));
      return value === undefined ? 'none' : lossyDecoder.decode(value);
    }
    case 'del':
      withBucket(arg(1), (b) => b.delete(arg(2)));
      return 'ok';
    case 'exists':
      return String(withBucket(arg(1), (b) => b.exists(arg(2))));
    case 'incr': {
      const delta = parseU64(arg(3), 1n);
      return String(withBucket(arg(1), (b) => increment(b, arg(2), delta)));
    }
    case 'keys':
      return withBucket(arg(1), allKeys).join(',');
    case 'set-many': {
      const pairs = arg(2)
        .split(',')
        .filter((pair) => pair.includes('='))
        .map((pair) => {
          const at = pair.indexOf('=');
          return [pair.slice(0, at), encoder.encode(pair.slice(at + 1))];
        });
      withBucket(arg(1), (b) => setMany(b, pairs));
      return 'ok';
    }
    case 'get-many': {
      const keys = arg(2).split(',');
      const found = withBucket(arg(1), (b) => getMany(b, keys));
      return keys
        .map((key, i) => (found[i] === undefined ? `${key}?` : `${key}=${lossyDecoder.decode(found[i][1])}`))
        .join(',');
    }
    case 'big': {
      const size = Number(parseU64(arg(3), 0n));
      withBucket(arg(1), (b) => b.set(arg(2), new Uint8Array(size).fill(0x78)));
      return 'ok';
    }
    case 'repeat': {
      const n = Number(parseU64(arg(3), 0n));
      const value = encoder.encode('value of a benchmark key');
      withBucket(arg(2), (b) => {
        for (let i = 0; i < n; i++) {
          if (arg(1) === 'set') b.set(`k${i}`, value);
          else if (arg(1) === 'get') b.get(`k${i % 100}`);
          else increment(b, 'n', 1n);
        }
      });
      return `done ${n}`;
    }
    case 'crash':
      throw new Error('crash requested');
    default:
      throw new StoreError({ tag: 'other', val: `unknown message ${JSON.stringify(arg(0))}` });
  }
}

function init(_args) {
  return ok('running');
}

function handle(message) {
  let text;
  try {
    text = strictDecoder.decode(message);
  } catch (e) {
    return err(String(e && e.message ? e.message : e));
  }
  try {
    return ok(encoder.encode(run(text)));
  } catch (e) {
    if (e instanceof StoreError) return err(`err(${describe(e.error)})`);
    throw e; // `crash`, or a bug: the instance traps
  }
}

function terminate(_reason) {}

export const lifecycle = { init, handle, terminate };
