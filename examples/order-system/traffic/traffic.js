// Traffic, in JavaScript: places orders at a steady rate, on timers, the way
// a load generator inside the tree would. Each tick casts `place ITEM QTY`
// to the web endpoint (the same path a `POST /orders` takes) and sets the
// next tick with `timers.send-after`; a crash or restart of this child drops
// its pending tick with the instance, and the fresh instance starts its own.
//
//   tick         (its own timer) places this tick's orders, sets the next tick
//   rate N       places N orders per second from now on (0 stops), replies `rate N`
//   placed       replies how many orders this instance has placed
//
// init takes {"target": "web", "rate_per_s": 5, "items": ["widget", ...]}.
//
// Built with componentize-js against wit/arbor.wit, world `supervised` (an
// import returning a `result` returns its ok value and throws on err).

import { cast, log, selfName } from 'arbor:supervised/host@0.2.3';
import { sendAfter } from 'arbor:supervised/timers@0.2.3';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ok = (val) => ({ tag: 'ok', val });
const err = (val) => ({ tag: 'err', val });

const config = { target: 'web', rate_per_s: 5, items: ['widget', 'gadget', 'gizmo'] };
let placed = 0;
let failed = 0;
// Set while a tick is pending, so `rate` does not start a second chain.
let ticking = false;

/// Milliseconds between ticks and orders per tick for `rate` orders/s:
/// ticks at most every 10 ms (timers are not free), several orders per tick
/// above 100/s.
function schedule(rate) {
  const interval = Math.max(10, Math.floor(1000 / rate));
  return { interval, perTick: Math.max(1, Math.round((rate * interval) / 1000)) };
}

function nextTick() {
  if (config.rate_per_s <= 0) {
    ticking = false;
    return;
  }
  const { interval } = schedule(config.rate_per_s);
  try {
    sendAfter(selfName(), encoder.encode('tick'), BigInt(interval));
    ticking = true;
  } catch (e) {
    ticking = false;
    log('warn', `cannot set the next tick: ${e && e.payload ? e.payload.tag : e}`);
  }
}

function tick() {
  const { perTick } = schedule(config.rate_per_s);
  for (let i = 0; i < perTick; i++) {
    const item = config.items[(placed + failed) % config.items.length];
    try {
      cast(config.target, encoder.encode(`place ${item} 1`));
      placed++;
    } catch (e) {
      // The endpoint's mailbox is full or it is restarting: this order is
      // not placed (a load generator drops, it does not queue).
      failed++;
    }
  }
  nextTick();
}

function init(args) {
  if (args.length > 0) Object.assign(config, JSON.parse(decoder.decode(args)));
  log('info', `traffic: ${config.rate_per_s} orders/s to ${config.target}`);
  nextTick();
  return ok('running');
}

function handle(message) {
  const [verb, arg] = decoder.decode(message).split(' ');
  switch (verb) {
    case 'tick':
      tick();
      return ok(encoder.encode('ticked'));
    case 'rate': {
      const rate = Number(arg);
      if (!(rate >= 0)) return err(`bad rate: ${arg}`);
      config.rate_per_s = rate;
      if (!ticking) nextTick();
      return ok(encoder.encode(`rate ${rate}`));
    }
    case 'placed':
      return ok(encoder.encode(`${placed}`));
    default:
      return err(`unknown message: ${verb}`);
  }
}

function terminate(_reason) {}

export const lifecycle = { init, handle, terminate };
