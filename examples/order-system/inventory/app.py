"""Inventory, in Python: the first service of the order system's
`rest_for_one` supervisor. It holds the stock and reserves items for orders.

Messages (JSON):

| message | reply |
|---|---|
| `{"op": "reserve", "order": ID, "item": ITEM, "qty": N}` | `{"reserved": true}`; reserving again for the same order is a no-op (a processor that retries after a crash must not take stock twice); `err("out of stock: ITEM")` or `err("unknown item: ITEM")` |
| `{"op": "stock"}` | the stock left, `{"ITEM": N, ...}` |
| `crash` (text) | an uncaught exception: the instance traps (for the walk-through) |

`init` takes `{"stock": {"ITEM": N, ...}}`. The stock lives in the
instance's memory: a restart starts from `init`'s stock again (the durable
store of a later release keeps it across restarts).

Built with componentize-py against `wit/arbor.wit`, world `supervised`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.lifecycle import InitOutcome
from wit_world.imports import host
from wit_world.imports.host import Level

STOCK = {}
# Orders this instance has reserved for, so a retried reserve is a no-op.
RESERVED = set()


def reserve(order: str, item: str, qty: int) -> dict:
    if order in RESERVED:
        return {"reserved": True}
    if item not in STOCK:
        raise Err(f"unknown item: {item}")
    if not isinstance(qty, int) or qty < 1:
        raise Err(f"bad quantity: {qty}")
    if STOCK[item] < qty:
        raise Err(f"out of stock: {item}")
    STOCK[item] -= qty
    RESERVED.add(order)
    return {"reserved": True}


class Lifecycle(exports.Lifecycle):
    def init(self, args: bytes) -> InitOutcome:
        try:
            config = json.loads(args) if args else {}
        except ValueError as e:
            raise Err(f"bad inventory args: {e}")
        STOCK.update(config.get("stock", {}))
        host.log(Level.INFO, f"inventory ready: {len(STOCK)} items")
        return InitOutcome.RUNNING

    def handle(self, message: bytes) -> bytes:
        if message == b"crash":
            raise RuntimeError("crash requested")
        try:
            request = json.loads(message)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            raise Err("expected a JSON object with an op")
        if op == "reserve":
            reply = reserve(request["order"], request["item"], request["qty"])
        elif op == "stock":
            reply = STOCK
        else:
            raise Err(f"unknown op: {op}")
        return json.dumps(reply).encode()

    def terminate(self, reason) -> None:
        pass
