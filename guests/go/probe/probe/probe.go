// Package probe is Arbor's multi-behaviour test guest in Go: a port of
// guests/probe/src/lib.rs, on the Go SDK (guests/go/sdk, package arbor).
//
// | message | behaviour |
// |---|---|
// | `ping` | replies `pong` |
// | `count` | replies how many `count` messages this instance has seen |
// | `crash` | panics: the SDK ends the instance through `host.crash`, with no trap (the crash's detail is `panic: crash requested (at probe.go:LINE in ...)`) |
// | `fail TEXT` | returns `err(TEXT)`: a business error, not a crash |
// | `exit normal` / `exit shutdown` / `exit error TEXT` | replies `bye`, then stops with that reason |
// | `sleep MS` | waits MS milliseconds on the WASI clock, replies `slept` |
// | `loop` | spins forever (only the host's deadline ends it) |
// | `call NAME MSG` | replies with the reply of child NAME to MSG |
// | `cast NAME MSG` | casts MSG to NAME, replies `sent` |
// | `note X` / `notes` / `forget` | records X / replies the notes joined by `,` / clears them |
// | `name` | replies this child's registered name |
// | `pad N` | keeps a padding of N bytes (`x` repeated) in the state it hands over, replies `padded N` |
// | `version` | replies `v1` |
// | `from-version` | replies the `from-version` its last `restore` got, or `none` |
// | `spawn SUP NAME COMPONENT RESTART [ARGS]` | `children.start-child` under SUP (RESTART: `permanent`, `transient` or `temporary`; ARGS, the rest of the line, are `init`'s args), replies `started NAME`; an error is `err("CASE")` or `err("CASE: TEXT")`, CASE the `child-error` case (`already-started: NAME`, `max-children: N`, `denied: SUP`, ...) |
// | `stop-child SUP NAME` | `children.stop-child`, replies `stopped`, errors as `spawn` |
// | `cast-self MSG` | casts MSG to itself, replies `sent` |
// | `after MS TARGET MSG` | `timers.send-after`: MSG is cast to TARGET in MS ms, replies `timer ID` |
// | `cancel ID` | `timers.cancel-timer`, replies `true` (it was pending) or `false` |
//
// `init` takes JSON args: `fail_init`, `trap_init`, `ignore_init`,
// `init_sleep_ms`, `terminate_sleep_ms`, `trap_terminate`, `report_to`,
// `init_gate` (the gate's `fail-init`, `hang-init` and `ignore-init`
// notes), `init_cast_self` (as in the Rust probe).
//
// It targets contract 0.2.3, world `supervised-with-handover`: `snapshot`
// and `restore` hand over `{"count": N, "notes": [..], "pad": "xxx.."}` as
// JSON, the Rust probe's format, so a child's state moves between
// languages.
package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wit_component/arbor"
)

// args are `init`'s JSON args, as the Rust probe's serde reads them: a
// missing field keeps its default, an unknown one is ignored.
type args struct {
	FailInit         bool    `json:"fail_init"`
	TrapInit         bool    `json:"trap_init"`
	IgnoreInit       bool    `json:"ignore_init"`
	InitSleepMs      uint64  `json:"init_sleep_ms"`
	TerminateSleepMs uint64  `json:"terminate_sleep_ms"`
	TrapTerminate    bool    `json:"trap_terminate"`
	ReportTo         *string `json:"report_to"`
	InitGate         *string `json:"init_gate"`
	InitCastSelf     *string `json:"init_cast_self"`
}

// snapshot is the handed-over state, in the Rust probe's JSON.
type snapshot struct {
	Count uint64   `json:"count"`
	Notes []string `json:"notes"`
	Pad   string   `json:"pad"`
}

// The state of this instance: fresh after every restart, since a restart
// is a new instance.
var (
	started  args
	counted  uint64
	notes    = []string{}
	pad      string // kept by `pad`: makes the handed-over state as large as a test needs
	restored *string
)

// describe spells a call error as the probe's replies always have (`no
// such name: X`, `mailbox full: TEXT`, ...); the tests read these words.
// The other cases read as the SDK's CallError does (`self-call`,
// `rejected: TEXT`, ...).
func describe(err error) error {
	var call *arbor.CallError
	if !errors.As(err, &call) {
		return err
	}
	switch call.Case {
	case "no-such-name":
		return fmt.Errorf("no such name: %s", call.Value)
	case "too-large":
		return fmt.Errorf("too large: limit %s bytes", call.Value)
	case "mailbox-full":
		return fmt.Errorf("mailbox full: %s", call.Value)
	}
	return err
}

func sleepMs(ms uint64) {
	if ms > math.MaxInt64/uint64(time.Millisecond) {
		ms = math.MaxInt64 / uint64(time.Millisecond)
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

// parseU64 reads a u64 as Rust's `str::parse` does: an optional `+`, then
// ASCII digits.
func parseU64(text string) (uint64, bool) {
	digits := strings.TrimPrefix(text, "+")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// Start is `init`.
func Start(raw []byte) (arbor.Outcome, error) {
	var a args
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			return arbor.Running, fmt.Errorf("bad probe args: %v", err)
		}
	}
	if a.InitSleepMs > 0 {
		sleepMs(a.InitSleepMs)
	}
	if a.TrapInit {
		panic("trap_init was set")
	}
	if a.FailInit {
		return arbor.Running, errors.New("fail_init was set")
	}
	if a.IgnoreInit {
		return arbor.Ignore, nil
	}
	if a.InitGate != nil {
		gate := *a.InitGate
		reply, err := arbor.Call(gate, []byte("notes"))
		if err != nil {
			return arbor.Running, describe(err)
		}
		held := strings.Split(strings.ToValidUTF8(string(reply), "\uFFFD"), ",")
		if slices.Contains(held, "fail-init") {
			return arbor.Running, fmt.Errorf("%s holds the note fail-init", gate)
		}
		if slices.Contains(held, "hang-init") {
			time.Sleep(time.Hour)
		}
		if slices.Contains(held, "ignore-init") {
			return arbor.Ignore, nil
		}
	}
	if a.InitCastSelf != nil {
		if err := arbor.CastSelf([]byte(*a.InitCastSelf)); err != nil {
			return arbor.Running, describe(err)
		}
	}
	started = a
	return arbor.Running, nil
}

// Handle is `handle`: one behaviour per message.
func Handle(message []byte) ([]byte, error) {
	text := string(message)
	if !utf8.Valid(message) {
		return nil, errors.New("message is not UTF-8")
	}
	verb, rest, _ := strings.Cut(text, " ")
	var reply string
	switch verb {
	case "ping":
		reply = "pong"
	case "count":
		counted++
		reply = strconv.FormatUint(counted, 10)
	case "crash":
		panic("crash requested")
	case "fail":
		return nil, errors.New(rest)
	case "exit":
		kind, why, _ := strings.Cut(rest, " ")
		switch kind {
		case "normal":
			arbor.Stop(arbor.Normal())
		case "shutdown":
			arbor.Stop(arbor.Shutdown())
		case "error":
			arbor.Stop(arbor.Failure(why))
		default:
			return nil, fmt.Errorf("unknown exit reason: %s", rest)
		}
		reply = "bye"
	case "sleep":
		ms, ok := parseU64(rest)
		if !ok {
			return nil, fmt.Errorf("bad sleep: %s", rest)
		}
		sleepMs(ms)
		reply = "slept"
	case "loop":
		spins := uint64(0)
		for {
			spins++
		}
	case "call":
		name, msg, _ := strings.Cut(rest, " ")
		got, err := arbor.Call(name, []byte(msg))
		if err != nil {
			return nil, describe(err)
		}
		reply = strings.ToValidUTF8(string(got), "\uFFFD")
	case "cast":
		name, msg, _ := strings.Cut(rest, " ")
		if err := arbor.Cast(name, []byte(msg)); err != nil {
			return nil, describe(err)
		}
		reply = "sent"
	case "note":
		notes = append(notes, rest)
		reply = "noted"
	case "notes":
		reply = strings.Join(notes, ",")
	case "forget":
		notes = []string{}
		reply = "forgotten"
	case "name":
		reply = arbor.SelfName()
	case "pad":
		// Rust's `usize` on wasm32: what the Rust probe accepts.
		n, ok := parseU64(rest)
		if !ok || n > math.MaxUint32 {
			return nil, fmt.Errorf("bad size: %s", rest)
		}
		pad = strings.Repeat("x", int(n))
		reply = fmt.Sprintf("padded %d", n)
	case "version":
		reply = "v1"
	case "from-version":
		reply = "none"
		if restored != nil {
			reply = *restored
		}
	case "spawn":
		got, err := spawn(rest)
		if err != nil {
			return nil, err
		}
		reply = got
	case "stop-child":
		supervisor, name, _ := strings.Cut(rest, " ")
		if err := arbor.StopChild(supervisor, name); err != nil {
			return nil, err
		}
		reply = "stopped"
	case "cast-self":
		if err := arbor.CastSelf([]byte(rest)); err != nil {
			return nil, describe(err)
		}
		reply = "sent"
	case "after":
		msText, targetMsg, _ := strings.Cut(rest, " ")
		target, msg, _ := strings.Cut(targetMsg, " ")
		ms, ok := parseU64(msText)
		if !ok {
			return nil, fmt.Errorf("bad delay: %s", rest)
		}
		// SendAfter takes a Duration: past its range, the host's limit
		// (365 days) refuses the delay anyway.
		delay := time.Duration(math.MaxInt64)
		if ms <= math.MaxInt64/uint64(time.Millisecond) {
			delay = time.Duration(ms) * time.Millisecond
		}
		id, err := arbor.SendAfter(target, []byte(msg), delay)
		if err != nil {
			return nil, describe(err)
		}
		reply = fmt.Sprintf("timer %d", id)
	case "cancel":
		id, ok := parseU64(rest)
		if !ok {
			return nil, fmt.Errorf("bad timer id: %s", rest)
		}
		reply = strconv.FormatBool(arbor.CancelTimer(id))
	default:
		return nil, fmt.Errorf("unknown message: %s", text)
	}
	return []byte(reply), nil
}

var restartTypes = map[string]arbor.Restart{
	"permanent": arbor.Permanent,
	"transient": arbor.Transient,
	"temporary": arbor.Temporary,
}

// spawn is `spawn SUP NAME COMPONENT RESTART [ARGS]`: ARGS is the rest of
// the line, spaces included.
func spawn(rest string) (string, error) {
	parts := strings.SplitN(rest, " ", 5)
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	supervisor, name, component, restartText, childArgs := parts[0], parts[1], parts[2], parts[3], parts[4]
	restart, ok := restartTypes[restartText]
	if !ok {
		return "", fmt.Errorf("bad restart type: %s", restartText)
	}
	spec := arbor.ChildSpec{Name: name, Component: component, Args: []byte(childArgs), Restart: restart}
	got, err := arbor.StartChild(supervisor, spec)
	if err != nil {
		return "", err
	}
	return "started " + got, nil
}

func reasonText(reason arbor.ExitReason) string {
	// The probe protocol's words: `error TEXT`, no colon.
	return strings.Replace(arbor.ReasonText(reason), "error: ", "error ", 1)
}

// Terminate is `terminate`.
func Terminate(reason arbor.ExitReason) {
	arbor.Logf(arbor.LevelInfo, "terminate: %s", reasonText(reason))
	if started.ReportTo != nil {
		note := fmt.Sprintf("note terminated:%s:%s", arbor.SelfName(), reasonText(reason))
		_ = arbor.Cast(*started.ReportTo, []byte(note)) // the outcome is ignored, as in Rust
	}
	if started.TerminateSleepMs > 0 {
		sleepMs(started.TerminateSleepMs)
	}
	if started.TrapTerminate {
		panic("trap_terminate was set")
	}
}

// Snapshot is handover's `snapshot`: the state as compact JSON, byte for
// byte what serde_json writes in the Rust probe.
func Snapshot() ([]byte, error) {
	return arbor.Encode(snapshot{Count: counted, Notes: notes, Pad: pad}), nil
}

// Restore is handover's `restore`.
func Restore(state []byte, from string) error {
	s := snapshot{Notes: []string{}}
	if err := json.Unmarshal(state, &s); err != nil {
		return fmt.Errorf("cannot read the state: %v", err)
	}
	if s.Notes == nil { // `"notes": null` would read as no notes; serde refuses it too
		return errors.New("cannot read the state: notes is null")
	}
	counted, notes, pad = s.Count, s.Notes, s.Pad
	restored = &from
	return nil
}
