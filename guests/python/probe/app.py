"""The probe, in Python: a port of Arbor's multi-behaviour test guest
(guests/probe/src/lib.rs), built with componentize-py.

| message | behaviour |
|---|---|
| `ping` | replies `pong` |
| `count` | replies how many `count` messages this instance has seen |
| `crash` | raises an uncaught exception: the export's handler ends the instance through `host.crash`, with no trap (the crash's detail is `Trap: crash requested (at app.py:LINE in handle)`) |
| `fail TEXT` | returns `err(TEXT)`: a business error, not a crash |
| `exit normal` / `exit shutdown` / `exit error TEXT` | replies `bye`, then stops with that reason |
| `sleep MS` | waits MS milliseconds on the WASI clock, replies `slept` |
| `loop` | spins forever (only the host's deadline ends it) |
| `call NAME MSG` | replies with the reply of child NAME to MSG |
| `cast NAME MSG` | casts MSG to NAME, replies `sent` |
| `note X` / `notes` / `forget` | records X / replies the notes joined by `,` / clears them |
| `name` | replies this child's registered name |
| `pad N` | keeps a padding of N bytes (`x` repeated) in the state it hands over, replies `padded N` |
| `version` | replies `v1` |
| `from-version` | replies the `from-version` its last `restore` got, or `none` |
| `spawn SUP NAME COMPONENT RESTART [ARGS]` | `children.start-child` under SUP (RESTART: `permanent`, `transient` or `temporary`; ARGS, the rest of the line, are `init`'s args), replies `started NAME`; an error is `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case (`already-started: NAME`, `max-children: N`, `denied: SUP`, ...) |
| `stop-child SUP NAME` | `children.stop-child`, replies `stopped`, errors as `spawn` |
| `cast-self MSG` | casts MSG to itself, replies `sent` |
| `after MS TARGET MSG` | `timers.send-after`: MSG is cast to TARGET in MS ms, replies `timer ID` |
| `cancel ID` | `timers.cancel-timer`, replies `true` (it was pending) or `false` |

`init` takes JSON args: `fail_init`, `trap_init`, `ignore_init`,
`terminate_sleep_ms`, `trap_terminate`, `report_to`, `init_gate` (see the
Rust probe; the gate's `fail-init` and `ignore-init` notes),
`init_cast_self` (cast that message to itself from `init`).

It targets contract 0.2.3, world `supervised-with-handover`: `snapshot` and
`restore` hand over `{"count": N, "notes": [..], "pad": "xxx.."}` as JSON,
the Rust probe's format, so a child's state moves between languages.

Error convention of componentize-py: a WIT `result<T, E>` return is `T` in
Python; `raise Err(e)` returns `err(e)`. Any other exception that escapes
an export would trap (componentize-py prints it and executes
`unreachable`); `reports_crashes` catches it first and ends the instance
through `host.crash` (contract 0.2.3) with the exception's type, text and
place as the crash's detail: a crash all the same, without the hardware
trap.
"""

import functools
import json
import time
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.lifecycle import InitOutcome
from wit_world.imports import children, host, timers
from wit_world.imports.children import (
    ChildError_AlreadyStarted,
    ChildError_Denied,
    ChildError_Ignored,
    ChildError_InvalidName,
    ChildError_MaxChildren,
    ChildError_NoSuchChild,
    ChildError_NoSuchSupervisor,
    ChildError_StartFailed,
    ChildError_Timeout,
    ChildError_UnknownComponent,
    ChildSpec,
    RestartType,
)
from wit_world.imports.types import (
    CallError_Crashed,
    CallError_Denied,
    CallError_MailboxFull,
    CallError_NoSuchName,
    CallError_Rejected,
    CallError_SelfCall,
    CallError_Stopped,
    CallError_Timeout,
    CallError_TooLarge,
    ExitReason_Error,
    ExitReason_Normal,
    ExitReason_Shutdown,
)

U64_MAX = (1 << 64) - 1


class Trap(Exception):
    """Raised to crash on purpose (the Rust probe's `panic!`)."""


def crash_text(error: BaseException) -> str:
    """`Type: text (at FILE:LINE in FUNCTION)`, the innermost frame."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    return text


def reports_crashes(cls):
    """Wraps each export method of `cls`: an exception other than `Err`
    ends the instance through `host.crash`, which does not return."""
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


# --- args (serde-like: every field defaults, unknown fields are ignored) ---

# (name, kind) in declaration order, as serde sees the Rust `Args` struct.
FIELDS = (
    ("fail_init", "bool"),
    ("trap_init", "bool"),
    ("ignore_init", "bool"),
    ("terminate_sleep_ms", "u64"),
    ("trap_terminate", "bool"),
    ("report_to", "opt_str"),
    ("init_gate", "opt_str"),
    ("init_cast_self", "opt_str"),
)


class Args:
    def __init__(self):
        self.fail_init = False
        self.trap_init = False
        self.ignore_init = False
        self.terminate_sleep_ms = 0
        self.trap_terminate = False
        self.report_to = None
        self.init_gate = None
        self.init_cast_self = None


class _Map(list):
    """A JSON object as its (key, value) pairs, in document order."""


def _reject_constant(name):
    raise ValueError(f"invalid number `{name}`")


def _unexpected(value) -> str:
    """serde's `Unexpected` wording for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return "map" if isinstance(value, _Map) else "sequence"


def _check(kind, value):
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"invalid type: {_unexpected(value)}, expected a boolean")
    elif kind == "u64":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"invalid type: {_unexpected(value)}, expected u64")
        if value < 0:
            raise ValueError(f"invalid value: {_unexpected(value)}, expected u64")
        if value > U64_MAX:  # serde_json reads it as a float
            raise ValueError(f"invalid type: {_unexpected(float(value))}, expected u64")
    elif kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"invalid type: {_unexpected(value)}, expected a string")
    elif kind == "str_list":
        if not isinstance(value, list) or isinstance(value, _Map):
            raise ValueError(f"invalid type: {_unexpected(value)}, expected a sequence")
        for item in value:
            _check("str", item)
    elif value is not None and not isinstance(value, str):
        raise ValueError(f"invalid type: {_unexpected(value)}, expected a string")
    return value


def read_struct(raw: bytes, fields, target, struct: str) -> None:
    """Reads the JSON `raw` into the attributes of `target` as serde reads a
    struct with `#[serde(default)]`: `fields` are its (name, kind) in
    declaration order; a missing field keeps its default, an unknown one is
    ignored. Raises ValueError or UnicodeDecodeError."""
    doc = json.loads(
        raw.decode("utf-8"),
        object_pairs_hook=_Map,
        parse_constant=_reject_constant,
    )
    if isinstance(doc, _Map):
        kinds, seen = dict(fields), set()
        for name, value in doc:
            if name in kinds:  # unknown fields are ignored
                if name in seen:
                    raise ValueError(f"duplicate field `{name}`")
                seen.add(name)
                setattr(target, name, _check(kinds[name], value))
    elif isinstance(doc, list):  # serde also reads a struct from a sequence
        if len(doc) > len(fields):
            raise ValueError("trailing characters")
        for (name, kind), value in zip(fields, doc):
            setattr(target, name, _check(kind, value))
    else:
        raise ValueError(f"invalid type: {_unexpected(doc)}, expected struct {struct}")


def parse_args(raw: bytes) -> Args:
    args = Args()
    if not raw:
        return args
    try:
        read_struct(raw, FIELDS, args, "Args")
    except (ValueError, UnicodeDecodeError) as e:
        raise Err(f"bad probe args: {e}")
    return args


# --- the handed-over state: the Rust probe's `Snapshot`, same JSON ---

SNAPSHOT_FIELDS = (
    ("count", "u64"),
    ("notes", "str_list"),
    ("pad", "str"),
)


class Snapshot:
    def __init__(self):
        self.count = 0
        self.notes = []
        self.pad = ""


# --- state of this instance ---

STATE_ARGS = Args()
COUNTED = 0
NOTES: list = []
# Kept by `pad`: makes the handed-over state as large as a test needs.
PAD = ""
# The `from-version` of the last `restore`.
RESTORED_FROM = None


def describe(error) -> str:
    if isinstance(error, CallError_NoSuchName):
        return f"no such name: {error.value}"
    if isinstance(error, CallError_Stopped):
        return f"stopped: {error.value}"
    if isinstance(error, CallError_Timeout):
        return "timeout"
    if isinstance(error, CallError_Crashed):
        return f"crashed: {error.value}"
    if isinstance(error, CallError_Rejected):
        return f"rejected: {error.value}"
    if isinstance(error, CallError_SelfCall):
        return "self-call"
    if isinstance(error, CallError_Denied):
        return f"denied: {error.value}"
    if isinstance(error, CallError_TooLarge):
        return f"too large: limit {error.value} bytes"
    if isinstance(error, CallError_MailboxFull):
        return f"mailbox full: {error.value}"
    raise Trap(f"unknown call error: {error!r}")


# `child-error` case -> its kebab-case name; a case with a payload reads
# `CASE: TEXT`, the Rust probe's `describe_child_error`.
CHILD_ERROR_CASES = (
    (ChildError_AlreadyStarted, "already-started"),
    (ChildError_MaxChildren, "max-children"),
    (ChildError_UnknownComponent, "unknown-component"),
    (ChildError_Denied, "denied"),
    (ChildError_NoSuchSupervisor, "no-such-supervisor"),
    (ChildError_NoSuchChild, "no-such-child"),
    (ChildError_InvalidName, "invalid-name"),
    (ChildError_StartFailed, "start-failed"),
    (ChildError_Ignored, "ignored"),
    (ChildError_Timeout, "timeout"),
)


def describe_child_error(error) -> str:
    for case, name in CHILD_ERROR_CASES:
        if isinstance(error, case):
            return f"{name}: {error.value}" if hasattr(error, "value") else name
    raise Trap(f"unknown child error: {error!r}")


RESTART_TYPES = {
    "permanent": RestartType.PERMANENT,
    "transient": RestartType.TRANSIENT,
    "temporary": RestartType.TEMPORARY,
}


def spawn(rest: str) -> str:
    """`spawn SUP NAME COMPONENT RESTART [ARGS]`: ARGS is the rest of the
    line, spaces included."""
    parts = rest.split(" ", 4)
    parts += [""] * (5 - len(parts))
    supervisor, name, component, restart, args = parts
    if restart not in RESTART_TYPES:
        raise Err(f"bad restart type: {restart}")
    spec = ChildSpec(name, component, args.encode("utf-8"), RESTART_TYPES[restart])
    try:
        started = children.start_child(supervisor, spec)
    except Err as e:
        raise Err(describe_child_error(e.value))
    return f"started {started}"


def cast(target: str, message: bytes) -> None:
    """`host::cast(..).map_err(|e| describe(&e))?`"""
    try:
        host.cast(target, message)
    except Err as e:
        raise Err(describe(e.value))


def reason_text(reason) -> str:
    if isinstance(reason, ExitReason_Normal):
        return "normal"
    if isinstance(reason, ExitReason_Shutdown):
        return "shutdown"
    if isinstance(reason, ExitReason_Error):
        return f"error {reason.value}"
    raise Trap(f"unknown exit reason: {reason!r}")


def lossy(data: bytes) -> str:
    """`String::from_utf8_lossy`."""
    return data.decode("utf-8", "replace")


def call(target: str, message: bytes) -> bytes:
    """`host::call(..).map_err(|e| describe(&e))?`"""
    try:
        return host.call(target, message)
    except Err as e:
        raise Err(describe(e.value))


def parse_u64(text: str):
    """`str::parse::<u64>`: an optional `+`, then ASCII digits, in range."""
    digits = text[1:] if text.startswith("+") else text
    if not digits or any(c not in "0123456789" for c in digits):
        return None
    value = int(digits)
    return value if value <= U64_MAX else None


def parse_usize(text: str):
    """`str::parse::<usize>` on wasm32: a u64 that fits in 32 bits."""
    value = parse_u64(text)
    return value if value is not None and value < (1 << 32) else None


def sleep_ms(ms: int) -> None:
    """`std::thread::sleep(Duration::from_millis(ms))`, in chunks that
    `time.sleep` accepts (a huge MS waits until the deadline, as in Rust)."""
    while ms > 0:
        chunk = min(ms, 86_400_000)
        time.sleep(chunk / 1000)
        ms -= chunk


@reports_crashes
class Lifecycle(exports.Lifecycle):
    def init(self, args: bytes) -> InitOutcome:
        global STATE_ARGS
        parsed = parse_args(args)
        if parsed.trap_init:
            raise Trap("trap_init was set")
        if parsed.fail_init:
            raise Err("fail_init was set")
        if parsed.ignore_init:
            return InitOutcome.IGNORE
        gate = parsed.init_gate
        if gate is not None:
            notes = lossy(call(gate, b"notes")).split(",")
            if any(n == "fail-init" for n in notes):
                raise Err(f"{gate} holds the note fail-init")
            if any(n == "ignore-init" for n in notes):
                return InitOutcome.IGNORE
        if parsed.init_cast_self is not None:
            cast(host.self_name(), parsed.init_cast_self.encode("utf-8"))
        STATE_ARGS = parsed
        return InitOutcome.RUNNING

    def handle(self, message: bytes) -> bytes:
        global COUNTED, PAD
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise Err("message is not UTF-8")
        verb, _, rest = text.partition(" ")
        if verb == "ping":
            reply = "pong"
        elif verb == "count":
            COUNTED += 1
            reply = str(COUNTED)
        elif verb == "crash":
            raise Trap("crash requested")
        elif verb == "fail":
            raise Err(rest)
        elif verb == "exit":
            kind, _, why = rest.partition(" ")
            if kind == "normal":
                reason = ExitReason_Normal()
            elif kind == "shutdown":
                reason = ExitReason_Shutdown()
            elif kind == "error":
                reason = ExitReason_Error(why)
            else:
                raise Err(f"unknown exit reason: {rest}")
            host.stop(reason)
            reply = "bye"
        elif verb == "sleep":
            ms = parse_u64(rest)
            if ms is None:
                raise Err(f"bad sleep: {rest}")
            sleep_ms(ms)
            reply = "slept"
        elif verb == "loop":
            spins = 0
            while True:
                spins = (spins + 1) & U64_MAX
        elif verb == "call":
            name, _, msg = rest.partition(" ")
            reply = lossy(call(name, msg.encode("utf-8")))
        elif verb == "cast":
            name, _, msg = rest.partition(" ")
            cast(name, msg.encode("utf-8"))
            reply = "sent"
        elif verb == "note":
            NOTES.append(rest)
            reply = "noted"
        elif verb == "notes":
            reply = ",".join(NOTES)
        elif verb == "forget":
            NOTES.clear()
            reply = "forgotten"
        elif verb == "name":
            reply = host.self_name()
        elif verb == "pad":
            n = parse_usize(rest)
            if n is None:
                raise Err(f"bad size: {rest}")
            PAD = "x" * n
            reply = f"padded {n}"
        elif verb == "version":
            reply = "v1"
        elif verb == "from-version":
            reply = "none" if RESTORED_FROM is None else RESTORED_FROM
        elif verb == "spawn":
            reply = spawn(rest)
        elif verb == "stop-child":
            supervisor, _, name = rest.partition(" ")
            try:
                children.stop_child(supervisor, name)
            except Err as e:
                raise Err(describe_child_error(e.value))
            reply = "stopped"
        elif verb == "cast-self":
            cast(host.self_name(), rest.encode("utf-8"))
            reply = "sent"
        elif verb == "after":
            ms_text, _, target_msg = rest.partition(" ")
            target, _, msg = target_msg.partition(" ")
            ms = parse_u64(ms_text)
            if ms is None:
                raise Err(f"bad delay: {rest}")
            try:
                timer = timers.send_after(target, msg.encode("utf-8"), ms)
            except Err as e:
                raise Err(describe(e.value))
            reply = f"timer {timer}"
        elif verb == "cancel":
            timer = parse_u64(rest)
            if timer is None:
                raise Err(f"bad timer id: {rest}")
            reply = "true" if timers.cancel_timer(timer) else "false"
        else:
            raise Err(f"unknown message: {text}")
        return reply.encode("utf-8")

    def terminate(self, reason) -> None:
        args = STATE_ARGS
        host.log(host.Level.INFO, f"terminate: {reason_text(reason)}")
        if args.report_to is not None:
            note = f"note terminated:{host.self_name()}:{reason_text(reason)}"
            try:
                host.cast(args.report_to, note.encode("utf-8"))
            except Err:
                pass
        if args.terminate_sleep_ms > 0:
            sleep_ms(args.terminate_sleep_ms)
        if args.trap_terminate:
            raise Trap("trap_terminate was set")


@reports_crashes
class Handover(exports.Handover):
    def snapshot(self) -> bytes:
        # Compact and not ASCII-escaped: byte for byte what serde_json writes.
        state = {"count": COUNTED, "notes": NOTES, "pad": PAD}
        return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def restore(self, state: bytes, from_version: str) -> None:
        global COUNTED, NOTES, PAD, RESTORED_FROM
        snapshot = Snapshot()
        try:
            read_struct(state, SNAPSHOT_FIELDS, snapshot, "Snapshot")
        except (ValueError, UnicodeDecodeError) as e:
            raise Err(f"cannot read the state: {e}")
        COUNTED, NOTES, PAD = snapshot.count, snapshot.notes, snapshot.pad
        RESTORED_FROM = from_version
