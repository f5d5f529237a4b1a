// Package arbor is Arbor's Go guest SDK: conveniences over the bindings
// that wit-bindgen generates for the guest contract (`wit/arbor.wit`,
// arbor:supervised@0.2.2).
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
// running; a panic is a crash. [HandleJSON] reads each message as JSON of
// a Go type and writes the reply as JSON (typed messages).
//
// The rest of the package reaches the host: [Call] and [Cast] (and
// [CallJSON], [CastJSON]) with typed errors ([CallError]), [StartChild] and
// [StopChild] ([ChildError]), [SendAfter] and [CancelTimer], [Stop],
// [SelfName] and [Log].
package arbor

import (
	"fmt"

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

// crashOnPanic logs a panic's value and traps. An unrecovered panic traps
// anyway (Go's runtime aborts with wasm's unreachable), but the runtime
// prints the panic to stderr, which a guest does not have: recovering it
// first puts `panic: VALUE` in the host's log beside the crash.
func crashOnPanic() {
	if p := recover(); p != nil {
		Log(LevelError, fmt.Sprintf("panic: %v", p))
		trap()
	}
}
