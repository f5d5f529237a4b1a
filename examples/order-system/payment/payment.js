// Payment, in JavaScript: the second service of the order system's
// `rest_for_one` supervisor. It charges an order, exactly once.
//
// Messages (JSON):
//
//   {"op": "charge", "order": ID, "amount": CENTS}
//        -> {"charged": true, "duplicate": false}, or with "duplicate": true
//           when the order was charged before (by this instance or an earlier
//           one): the repository's ledger is the idempotency key's home, so a
//           processor that retries after a crash is never charged twice.
//           err("declined: ...") above the limit.
//   crash (text)  -> an uncaught Error: the instance traps (for the walk-through)
//
// init takes {"limit": CENTS} (default 1,000,000).
//
// Built with componentize-js against wit/arbor.wit, world `supervised`.

import { call, log } from 'arbor:supervised/host@0.2.1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ok = (val) => ({ tag: 'ok', val });
const err = (val) => ({ tag: 'err', val });

let limit = 1_000_000;

function init(args) {
  if (args.length > 0) {
    const config = JSON.parse(decoder.decode(args));
    if (typeof config.limit === 'number') limit = config.limit;
  }
  log('info', `payment ready: limit ${limit}`);
  return ok('running');
}

/// The repository's answer to `request`, or throws the call error as text.
function repository(request) {
  const reply = call('repository', encoder.encode(JSON.stringify(request)));
  if (reply.tag === 'err') {
    const e = reply.val;
    throw `repository: ${e.tag}${e.val === undefined ? '' : ` ${e.val}`}`;
  }
  return JSON.parse(decoder.decode(reply.val));
}

function handle(message) {
  const text = decoder.decode(message);
  if (text === 'crash') throw new Error('crash requested');
  let request;
  try {
    request = JSON.parse(text);
  } catch (e) {
    return err('expected a JSON object with an op');
  }
  if (request.op !== 'charge') return err(`unknown op: ${request.op}`);
  if (!(request.amount > 0)) return err(`bad amount: ${request.amount}`);
  if (request.amount > limit) return err(`declined: ${request.amount} is above the limit of ${limit}`);
  let ledger;
  try {
    // Recorded before we answer: a crash after this line leaves the charge
    // on the ledger, and the retry finds it there.
    ledger = repository({ op: 'charge', id: request.order, amount: request.amount });
  } catch (e) {
    return err(String(e));
  }
  return ok(encoder.encode(JSON.stringify({ charged: true, duplicate: !ledger.first })));
}

function terminate(_reason) {}

export const lifecycle = { init, handle, terminate };
