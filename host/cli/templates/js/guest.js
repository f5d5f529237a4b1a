// {{name}}: an Arbor guest in JavaScript, built with componentize-js.
//
// `init` gets the tree file's `args` and answers 'running' (or 'ignore':
// start nothing, the child stays stopped); each message is handled by
// `handle`; `terminate` runs on an orderly stop. Return `{ tag: 'err', val: text }` to
// answer the caller with an error; a thrown `Error` traps, which is a crash:
// Arbor drops this instance and its supervisor decides whether a fresh one
// starts.

import { log, selfName } from 'arbor:supervised/host@0.2.1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let handled = 0; // instance state: fresh after every restart

function init(args) {
  log('info', `${selfName()} starting`);
  return { tag: 'ok', val: 'running' };
}

function handle(message) {
  handled += 1;
  const text = decoder.decode(message);
  if (text === 'ping') return { tag: 'ok', val: encoder.encode('pong') };
  if (text === 'count') return { tag: 'ok', val: encoder.encode(String(handled)) };
  if (text === 'crash') throw new Error('crash requested');
  return { tag: 'err', val: `unknown message: ${text}` };
}

function terminate(reason) {
  log('info', `terminating: ${reason.tag}`);
}

export const lifecycle = { init, handle, terminate };
