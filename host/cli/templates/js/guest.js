// {{name}}: an Arbor guest in JavaScript, built with componentize-js.
//
// `init` gets the tree file's `args` and answers 'running' (or 'ignore':
// start nothing, the child stays stopped); each message is handled by
// `handle`; `terminate` runs on an orderly stop. Return
// `{ tag: 'err', val: text }` (`refuse(text)`) to answer the caller with an
// error; a thrown `Error` is a crash (`reportingCrashes` reports it, with
// its message as the crash's detail): Arbor drops this instance and its
// supervisor decides whether a fresh one starts.
//
// Messages are JSON, read and written with `./arbor.js` (the conveniences
// beside this file: JSON calls, typed errors, children, timers, logging):
//
// | message | reply |
// |---|---|
// | `"ping"` | `"pong"` |
// | `"count"` | how many messages this instance has handled |
// | `"crash"` | none: crashes (`Error: crash requested`) |
// | `{"sum": [1, 2, 3]}` | `6` |
// | `{"ask": NAME, "message": VALUE}` | NAME's reply to VALUE; a failed call is an error reply `CASE` or `CASE: TEXT` (`self-call`, `no-such-name: NAME`, ...) |

import { CallError, call, decode, log, refuse, reply, reportingCrashes, selfName } from './arbor.js';

let handled = 0; // instance state: fresh after every restart

function init(args) {
  log.info(`${selfName()} starting`);
  return { tag: 'ok', val: 'running' };
}

function handle(message) {
  handled += 1;
  let request;
  try {
    request = decode(message);
  } catch (e) {
    return refuse(`not JSON: ${e.message}`);
  }
  if (request === 'ping') return reply('pong');
  if (request === 'count') return reply(handled);
  if (request === 'crash') throw new Error('crash requested');
  if (request !== null && typeof request === 'object' && 'sum' in request) {
    return reply(request.sum.reduce((a, b) => a + b, 0));
  }
  if (request !== null && typeof request === 'object' && 'ask' in request) {
    try {
      return reply(call(request.ask, request.message));
    } catch (e) {
      if (e instanceof CallError) return refuse(e.message);
      throw e;
    }
  }
  return refuse(`unknown message: ${JSON.stringify(request)}`);
}

function terminate(reason) {
  log.info(`terminating: ${reason.tag}`);
}

export const lifecycle = reportingCrashes({ init, handle, terminate });
