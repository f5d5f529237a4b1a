"""Inventory, in Python: the first service of the order system's
`rest_for_one` supervisor. It reserves items for orders, and keeps its
reservations in the host's durable store through the standard
`wasi:keyvalue` interfaces (bucket `inventory`, granted in the tree file),
so a restart, of inventory or of the host, forgets none of them.

Messages (JSON):

| message | reply |
|---|---|
| `{"op": "reserve", "order": ID, "item": ITEM, "qty": N}` | `{"reserved": true}`; reserving again for the same order is a no-op (a processor that retries after a crash must not take stock twice); `err("out of stock: ITEM")` or `err("unknown item: ITEM")` |
| `{"op": "stock"}` | the stock left, `{"ITEM": N, ...}` |
| `crash` (text) | an uncaught exception: the instance traps (for the walk-through) |

`init` takes `{"stock": {"ITEM": N, ...}}`: the stock the shop started with.
The store holds what was taken: `reserved/ITEM` (a number, raised with
`atomics.increment`) and `order/ID` (the reservation of an order, its
idempotency key). Stock left is the first minus the second. The order's
key is written before the count is raised: a crash between the two leaves
a reservation that took nothing (never one counted twice).

Built with componentize-py for the world in `wit/world.wit` (`supervised`
plus `wasi:keyvalue/store` and `atomics`).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.lifecycle import InitOutcome
from wit_world.imports import atomics, host, store
from wit_world.imports.host import Level

# The stock the shop started with (from init's args).
INITIAL = {}
BUCKET = None


def store_error(e) -> str:
    value = e.value
    if isinstance(value, store.Error_Other):
        return f"the store: {value.value}"
    return f"the store: {type(value).__name__.removeprefix('Error_')}"


def reserved(item: str) -> int:
    raw = BUCKET.get(f"reserved/{item}")
    return int(raw) if raw else 0


def reserve(order: str, item: str, qty: int) -> dict:
    if BUCKET.exists(f"order/{order}"):
        return {"reserved": True}
    if item not in INITIAL:
        raise Err(f"unknown item: {item}")
    if not isinstance(qty, int) or qty < 1:
        raise Err(f"bad quantity: {qty}")
    if INITIAL[item] - reserved(item) < qty:
        raise Err(f"out of stock: {item}")
    BUCKET.set(f"order/{order}", f"{item} {qty}".encode())
    atomics.increment(BUCKET, f"reserved/{item}", qty)
    return {"reserved": True}


class Lifecycle(exports.Lifecycle):
    def init(self, args: bytes) -> InitOutcome:
        global BUCKET
        try:
            config = json.loads(args) if args else {}
        except ValueError as e:
            raise Err(f"bad inventory args: {e}")
        INITIAL.update(config.get("stock", {}))
        try:
            BUCKET = store.open("inventory")
        except Err as e:
            raise Err(store_error(e))
        host.log(Level.INFO, f"inventory ready: {len(INITIAL)} items")
        return InitOutcome.RUNNING

    def handle(self, message: bytes) -> bytes:
        if message == b"crash":
            raise RuntimeError("crash requested")
        try:
            request = json.loads(message)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            raise Err("expected a JSON object with an op")
        try:
            if op == "reserve":
                reply = reserve(request["order"], request["item"], request["qty"])
            elif op == "stock":
                reply = {item: n - reserved(item) for item, n in INITIAL.items()}
            else:
                raise Err(f"unknown op: {op}")
        except Err as e:
            if isinstance(e.value, str):
                raise
            # A store error: without its reservations inventory cannot
            # answer, so it is a crash (the processor retries).
            raise RuntimeError(store_error(e))
        return json.dumps(reply).encode()

    def terminate(self, reason) -> None:
        pass
