"""arbor_guest: small conveniences over the Arbor contract (0.2.3) for a
Python guest. Everything here is a thin wrapper of `wit_world.imports`; use
those directly for anything it does not cover (raw bytes, for one).

- JSON messages: `decode(message)` reads what a caller sent (not JSON:
  raises `Err`, which answers the caller with an error, not a crash);
  `encode(value)` writes a reply.
- `call(name, value)`: JSON in, JSON out. `cast(name, value)`,
  `cast_self(value)` (always allowed, even from `init`).
- `start_child(supervisor, name, component, args=None, restart="permanent")`
  and `stop_child(supervisor, name)`: only under the supervisors this
  child's `may_start` in the tree file names.
- `send_after(target, value, ms)` returns a timer id; `cancel_timer(id)`
  says whether it was still pending.
- `self_name()`; `trace`, `debug`, `info`, `warn`, `error` log a line.
- `@reports_crashes` on an export class: an exception (other than `Err`)
  that escapes one of its methods ends the instance through `crash(text)`
  (contract 0.2.3's `host.crash`), with the exception's type, text and
  place as the crash's detail; without it the exception traps and the
  crash says only "wasm trap: unreachable". `crash(text)` ends the
  instance at once, from anywhere.

A failed `call`, `cast` or `send_after` raises `CallError`, a failed
`start_child` or `stop_child` raises `ChildError`: `case` is the contract's
case name (`"no-such-name"`, `"self-call"`, `"max-children"`, ...), `value`
its payload or None, and `str(e)` reads `case` or `case: value`. Left
uncaught, they trap like any exception (let it crash); to answer the
caller instead, `raise Err(str(e))`.
"""

import functools
import json
import re
import traceback

from componentize_py_types import Err
from wit_world.imports import children, host, timers


class ArborError(Exception):
    """A host function's typed error: `case` (kebab-case) and `value`."""

    def __init__(self, error):
        # componentize-py names a variant's case class `Variant_CaseName`.
        camel = type(error).__name__.partition("_")[2]
        self.case = re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower()
        self.value = getattr(error, "value", None)
        super().__init__(self.case if self.value is None else f"{self.case}: {self.value}")


class CallError(ArborError):
    """A `call-error`: the target did not get or answer the message."""


class ChildError(ArborError):
    """A `child-error`: the child was not started or stopped."""


def decode(message: bytes):
    """The JSON value a caller sent; `Err` (an error reply) if it is not JSON."""
    try:
        return json.loads(message)
    except ValueError as e:  # UnicodeDecodeError is one
        raise Err(f"not JSON: {e}")


def encode(value) -> bytes:
    """`value` as compact JSON bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def self_name() -> str:
    """This child's registered name."""
    return host.self_name()


def call(name: str, value):
    """Sends `value` to `name`, waits for its reply and decodes it.
    A reply that is not JSON raises ValueError."""
    try:
        reply = host.call(name, encode(value))
    except Err as e:
        raise CallError(e.value)
    return json.loads(reply)


def cast(name: str, value) -> None:
    """Queues `value` for `name` without waiting."""
    try:
        host.cast(name, encode(value))
    except Err as e:
        raise CallError(e.value)


def cast_self(value) -> None:
    """Queues `value` for this child: handled after the current message."""
    cast(self_name(), value)


def start_child(supervisor: str, name: str, component: str, args=None, restart: str = "permanent") -> str:
    """Starts `component` as `name` under `supervisor` and waits for its
    `init`. `args` are bytes as they are, or any other value as JSON (None:
    none); `restart` is "permanent", "transient" or "temporary"."""
    if args is None:
        args = b""
    elif not isinstance(args, bytes):
        args = encode(args)
    spec = children.ChildSpec(name, component, args, children.RestartType[restart.upper()])
    try:
        return children.start_child(supervisor, spec)
    except Err as e:
        raise ChildError(e.value)


def stop_child(supervisor: str, name: str) -> None:
    """Stops `name` under `supervisor` in order and waits until it has."""
    try:
        children.stop_child(supervisor, name)
    except Err as e:
        raise ChildError(e.value)


def send_after(target: str, value, ms: int) -> int:
    """Casts `value` to `target` in `ms` milliseconds; returns the timer's id.
    The timer dies with this instance (a crash or a restart cancels it)."""
    try:
        return timers.send_after(target, encode(value), ms)
    except Err as e:
        raise CallError(e.value)


def cancel_timer(timer: int) -> bool:
    """True if the timer was pending and now will not fire."""
    return timers.cancel_timer(timer)


def trace(text: str) -> None:
    host.log(host.Level.TRACE, text)


def debug(text: str) -> None:
    host.log(host.Level.DEBUG, text)


def info(text: str) -> None:
    host.log(host.Level.INFO, text)


def warn(text: str) -> None:
    host.log(host.Level.WARN, text)


def error(text: str) -> None:
    host.log(host.Level.ERROR, text)


def crash(text: str) -> None:
    """Ends this instance now, as a crash whose detail is `text`; does not
    return."""
    host.crash(text)


def crash_text(error: BaseException) -> str:
    """`Type: text (at FILE:LINE in FUNCTION)`, the innermost frame."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    return text


def reports_crashes(cls):
    """Class decorator for `Lifecycle` (and `Handover`): each method that
    raises anything but `Err` ends the instance through `host.crash`."""
    for name, method in list(vars(cls).items()):
        if callable(method) and not name.startswith("_"):
            setattr(cls, name, _reporting(method))
    return cls


def _reporting(method):
    @functools.wraps(method)
    def export(self, *args):
        try:
            return method(self, *args)
        except Err:
            raise
        except BaseException as e:
            host.crash(crash_text(e))
            raise

    return export
