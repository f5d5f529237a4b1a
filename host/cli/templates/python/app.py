"""{{name}}: an Arbor guest in Python, built with componentize-py.

`init` gets the tree file's `args` and returns `InitOutcome.RUNNING` (or
`InitOutcome.IGNORE`: start nothing, the child stays stopped); each message
is handled by `handle`; `terminate` runs on an orderly stop. `raise Err(text)` answers the caller
with an error; any other uncaught exception traps, which is a crash: Arbor
drops this instance and its supervisor decides whether a fresh one starts.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.lifecycle import InitOutcome
from wit_world.imports import host

handled = 0  # instance state: fresh after every restart


class Lifecycle(exports.Lifecycle):
    def init(self, args: bytes) -> InitOutcome:
        host.log(host.Level.INFO, f"{host.self_name()} starting")
        return InitOutcome.RUNNING

    def handle(self, message: bytes) -> bytes:
        global handled
        handled += 1
        if message == b"ping":
            return b"pong"
        if message == b"count":
            return str(handled).encode()
        if message == b"crash":
            raise RuntimeError("crash requested")
        raise Err(f"unknown message: {message.decode('utf-8', 'replace')}")

    def terminate(self, reason) -> None:
        host.log(host.Level.INFO, f"terminating: {reason}")
