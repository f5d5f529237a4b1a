// Package arbor is Arbor's Go guest SDK: conveniences over the bindings
// that wit-bindgen generates for the guest contract (`wit/arbor.wit`,
// arbor:supervised@0.2.3).
//
// A guest's exports live where wit-bindgen's generated `main` package
// calls them, in the packages export_arbor_supervised_lifecycle (and
// export_arbor_supervised_handover for the world supervised-with-handover).
// Each export is one line that hands a plain Go function to this package:
//
//	func Init(args []byte) arbor.InitResult        { return arbor.Init(args, start) }
//	func Handle(message []byte) arbor.HandleResult { return arbor.Handle(message, handle) }
//	func Terminate(reason arbor.ExitReason)        { arbor.Terminate(reason, stop) }
//
// The functions take Go's (value, error) shape: an error from `handle` is
// an error reply to the caller (who gets `rejected`), and the child keeps
// running; a panic is a crash, which the host reports with the panic's
// value and place as its detail (through `host.crash`, contract 0.2.3,
// without a trap). [HandleJSON] reads each message as JSON of
// a Go type and writes the reply as JSON (typed messages).
//
// The rest of the package reaches the host: [Call] and [Cast] (and
// [CallJSON], [CastJSON]) with typed errors ([CallError]), [StartChild] and
// [StopChild] ([ChildError]), [SendAfter] and [CancelTimer], [Stop],
// [SelfName] and [Log].
package arbor

import (
	"fmt"
	"path"
	"runtime"
	"strings"

	"wit_component/arbor_supervised_host"
	"wit_component/arbor_supervised_lifecycle"
	"wit_component/arbor_supervised_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// InitResult is what the `init` export returns.
type InitResult = witTypes.Result[arbor_supervised_lifecycle.InitOutcome, string]

// HandleResult is what the `handle` export returns.
type HandleResult = witTypes.Result[[]byte, string]

// SnapshotResult is what the `snapshot` export (handover) returns.
type SnapshotResult = witTypes.Result[[]byte, string]

// RestoreResult is what the `restore` export (handover) returns.
type RestoreResult = witTypes.Result[witTypes.Unit, string]

// ExitReason is why a child stops: what [Stop] asks for and what
// `terminate` is told. Make one with [Normal], [Shutdown] or [Failure];
// read it with [ReasonText]. (The bindings give it an Error method, the
// error case's text, which panics for the other cases: so a reason is not
// printed with %v.)
type ExitReason = arbor_supervised_types.ExitReason

// Outcome is what `init` answers when it does not fail.
type Outcome int

const (
	// Running serves the mailbox.
	Running Outcome = iota
	// Ignore starts nothing (OTP's ignore): the child keeps its place in
	// the tree, stopped, and its supervisor does not count it as a failure.
	Ignore
)

// Init runs `start` as the `init` export: nil error and [Running] serve
// the mailbox, [Ignore] starts nothing, an error fails the start with its
// text. A panic is a crash.
func Init(args []byte, start func(args []byte) (Outcome, error)) InitResult {
	defer crashOnPanic()
	outcome, err := start(args)
	if err != nil {
		return witTypes.Err[arbor_supervised_lifecycle.InitOutcome](err.Error())
	}
	if outcome == Ignore {
		return witTypes.Ok[arbor_supervised_lifecycle.InitOutcome, string](arbor_supervised_lifecycle.InitOutcome_Ignore)
	}
	return witTypes.Ok[arbor_supervised_lifecycle.InitOutcome, string](arbor_supervised_lifecycle.InitOutcome_Running)
}

// Handle runs `handle` as the `handle` export: its bytes are the reply;
// an error is an error reply (the caller gets `rejected` with its text)
// and the child keeps running. A panic is a crash.
func Handle(message []byte, handle func(message []byte) ([]byte, error)) HandleResult {
	defer crashOnPanic()
	reply, err := handle(message)
	if err != nil {
		return witTypes.Err[[]byte](err.Error())
	}
	return witTypes.Ok[[]byte, string](reply)
}

// Terminate runs `stop` as the `terminate` export (an orderly stop; not
// called after a crash). A panic is a crash.
func Terminate(reason ExitReason, stop func(reason ExitReason)) {
	defer crashOnPanic()
	stop(reason)
}

// Snapshot runs `snapshot` as the handover export of the same name: the
// bytes are the state the new version's `restore` gets in a hot swap. It
// must not change the state: the old instance goes on if the swap fails.
func Snapshot(snapshot func() ([]byte, error)) SnapshotResult {
	defer crashOnPanic()
	state, err := snapshot()
	if err != nil {
		return witTypes.Err[[]byte](err.Error())
	}
	return witTypes.Ok[[]byte, string](state)
}

// Restore runs `restore` as the handover export of the same name, on the
// new instance after its `init` answered running: `from` is the old
// component's content hash. An error fails the swap and leaves the old
// instance running.
func Restore(state []byte, from string, restore func(state []byte, from string) error) RestoreResult {
	defer crashOnPanic()
	if err := restore(state, from); err != nil {
		return witTypes.Err[witTypes.Unit](err.Error())
	}
	return witTypes.Ok[witTypes.Unit, string](witTypes.Unit{})
}

// crashOnPanic ends the instance through `host.crash` (contract 0.2.3)
// with `panic: VALUE (at FILE:LINE in FUNCTION)` as the crash's detail.
// An unrecovered panic would crash too, but as a hardware trap (Go's
// runtime aborts with wasm's unreachable) whose detail says nothing of the
// panic, after printing it to a stderr that the host's log rate limits.
func crashOnPanic() {
	if p := recover(); p != nil {
		arbor_supervised_host.Crash(fmt.Sprintf("panic: %v%s", p, panicSite()))
		// Not reached: the host does not return from `crash`.
		trap()
	}
}

// panicSite is ` (at FILE:LINE in FUNCTION)` for the frame that panicked:
// the first one below the runtime's panic machinery on the stack, which a
// deferred function still sees (the panic has not unwound it yet).
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	inPanic := false
	for {
		frame, more := frames.Next()
		if frame.Function == "runtime.gopanic" {
			inPanic = true
		} else if inPanic && !strings.HasPrefix(frame.Function, "runtime.") {
			return fmt.Sprintf(" (at %s:%d in %s)", path.Base(frame.File), frame.Line, frame.Function)
		}
		if !more {
			return ""
		}
	}
}
