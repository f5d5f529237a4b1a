// Payment, in JavaScript: the second service of the order system's
// `rest_for_one` supervisor. It charges an order, exactly once.
//
// Messages (JSON):
//
//   {"op": "charge", "order": ID, "amount": CENTS}
//        -> {"charged": true, "duplicate": false}, or with "duplicate": true
//           when the order was charged before (by this instance or an earlier
//           one). The order id is the idempotency key and the repository's
//           ledger its home: payment looks there before it charges, so a
//           processor that retries after a crash (of payment, mid-charge, or
//           of itself) is never charged twice.
//           err("declined: ...") above the limit.
//   crash (text)  -> an uncaught Error: the instance traps (for the walk-through)
//
// init takes {"limit": CENTS} (default 1,000,000).
//
// Built with componentize-js against wit/arbor.wit, world `supervised`. Its
// conventions: an export returns `{ tag: 'ok' | 'err', val }`, and a thrown
// Error traps (a crash); an import returning a `result` returns its ok value
// and throws on err, the error in the exception's `payload`.

import { call, log } from 'arbor:supervised/host@0.2.3';

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

/// The repository's answer to `request`. Without the ledger payment cannot
/// know whether an order was charged, so an error there is a crash (let it
/// crash: the processor retries once payment is back).
function repository(request) {
  let reply;
  try {
    reply = call('repository', encoder.encode(JSON.stringify(request)));
  } catch (e) {
    const why = e && e.payload ? `${e.payload.tag} ${e.payload.val ?? ''}` : String(e);
    throw new Error(`repository: ${why}`);
  }
  return JSON.parse(decoder.decode(reply));
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
  const order = repository({ op: 'get', id: request.order });
  if (order.charges > 0) {
    return ok(encoder.encode(JSON.stringify({ charged: true, duplicate: true })));
  }
  // Recorded before we answer: a crash after this line leaves the charge on
  // the ledger, and the retry finds it there.
  repository({ op: 'charge', id: request.order, amount: request.amount });
  return ok(encoder.encode(JSON.stringify({ charged: true, duplicate: false })));
}

function terminate(_reason) {}

export const lifecycle = { init, handle, terminate };
