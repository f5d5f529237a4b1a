"""{{name}}: an Arbor guest in Python, built with componentize-py.

`init` gets the tree file's `args` and returns `InitOutcome.RUNNING` (or
`InitOutcome.IGNORE`: start nothing, the child stays stopped); each message
is handled by `handle`; `terminate` runs on an orderly stop. `raise
Err(text)` answers the caller with an error; any other uncaught exception
is a crash (`@arbor.reports_crashes` reports it, with its text as the
crash's detail): Arbor drops this instance and its supervisor decides
whether a fresh one starts.

Messages are JSON, read and written with `arbor_guest` (the conveniences
beside this file: JSON calls, typed errors, children, timers, logging):

| message | reply |
|---|---|
| `"ping"` | `"pong"` |
| `"count"` | how many messages this instance has handled |
| `"crash"` | none: crashes (`RuntimeError: crash requested`) |
| `{"sum": [1, 2, 3]}` | `6` |
| `{"ask": NAME, "message": VALUE}` | NAME's reply to VALUE; a failed call is an error reply `CASE` or `CASE: TEXT` (`self-call`, `no-such-name: NAME`, ...) |
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.lifecycle import InitOutcome

import arbor_guest as arbor

handled = 0  # instance state: fresh after every restart


@arbor.reports_crashes
class Lifecycle(exports.Lifecycle):
    def init(self, args: bytes) -> InitOutcome:
        arbor.info(f"{arbor.self_name()} starting")
        return InitOutcome.RUNNING

    def handle(self, message: bytes) -> bytes:
        global handled
        handled += 1
        request = arbor.decode(message)
        if request == "ping":
            return arbor.encode("pong")
        if request == "count":
            return arbor.encode(handled)
        if request == "crash":
            raise RuntimeError("crash requested")
        if isinstance(request, dict) and "sum" in request:
            return arbor.encode(sum(request["sum"]))
        if isinstance(request, dict) and "ask" in request:
            try:
                return arbor.encode(arbor.call(request["ask"], request.get("message")))
            except arbor.CallError as e:
                raise Err(str(e))
        raise Err(f"unknown message: {arbor.encode(request).decode()}")

    def terminate(self, reason) -> None:
        arbor.info(f"terminating: {reason}")
