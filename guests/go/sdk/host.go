// What the host gives every guest (`host` in the contract): its name,
// calls and casts to other children by name, asking to stop, and the
// contract's two shared types, exit reasons and call errors.

package arbor

import (
	"strconv"

	"wit_component/arbor_supervised_host"
	"wit_component/arbor_supervised_types"
)

// CallError is why a [Call] or [Cast] (or a timer, [SendAfter]) did not
// reach its target or get an answer. Case is the contract's case name:
// "no-such-name", "stopped", "timeout", "crashed", "rejected" (the
// target's error reply), "self-call", "denied", "too-large" or
// "mailbox-full"; Value its payload as text ("" for timeout and
// self-call; the limit in bytes for too-large). It reads `CASE` or
// `CASE: VALUE`, as the other languages' SDKs write their call errors.
type CallError struct {
	Case  string
	Value string
}

func (e *CallError) Error() string {
	if e.Value == "" {
		return e.Case
	}
	return e.Case + ": " + e.Value
}

// callError reads the bindings' call-error variant.
func callError(e arbor_supervised_types.CallError) *CallError {
	switch e.Tag() {
	case arbor_supervised_types.CallError_NoSuchName:
		return &CallError{"no-such-name", e.NoSuchName()}
	case arbor_supervised_types.CallError_Stopped:
		return &CallError{"stopped", e.Stopped()}
	case arbor_supervised_types.CallError_Timeout:
		return &CallError{"timeout", ""}
	case arbor_supervised_types.CallError_Crashed:
		return &CallError{"crashed", e.Crashed()}
	case arbor_supervised_types.CallError_Rejected:
		return &CallError{"rejected", e.Rejected()}
	case arbor_supervised_types.CallError_SelfCall:
		return &CallError{"self-call", ""}
	case arbor_supervised_types.CallError_Denied:
		return &CallError{"denied", e.Denied()}
	case arbor_supervised_types.CallError_TooLarge:
		return &CallError{"too-large", strconv.FormatUint(e.TooLarge(), 10)}
	case arbor_supervised_types.CallError_MailboxFull:
		return &CallError{"mailbox-full", e.MailboxFull()}
	}
	panic("unknown call-error case " + strconv.Itoa(int(e.Tag())))
}

// SelfName is this child's registered name.
func SelfName() string {
	return arbor_supervised_host.SelfName()
}

// Call sends message to the child `name`, waits for its reply and returns
// it. The error is a *[CallError].
func Call(name string, message []byte) ([]byte, error) {
	result := arbor_supervised_host.Call(name, message)
	if result.IsErr() {
		return nil, callError(result.Err())
	}
	return result.Ok(), nil
}

// Cast queues message for the child `name` without waiting. The error is
// a *[CallError].
func Cast(name string, message []byte) error {
	result := arbor_supervised_host.Cast(name, message)
	if result.IsErr() {
		return callError(result.Err())
	}
	return nil
}

// CastSelf queues message for this child: it is handled after the current
// callback (also from `init`), whatever the child's `may_call`.
func CastSelf(message []byte) error {
	return Cast(SelfName(), message)
}

// Stop asks the host to stop this child with reason once the current
// callback returns.
func Stop(reason ExitReason) {
	arbor_supervised_host.Stop(reason)
}

// Normal is the reason of a normal, expected exit: `transient` children
// are not restarted.
func Normal() ExitReason { return arbor_supervised_types.MakeExitReasonNormal() }

// Shutdown is the reason of an orderly stop ordered by the supervisor or
// the host.
func Shutdown() ExitReason { return arbor_supervised_types.MakeExitReasonShutdown() }

// Failure is the reason of an abnormal exit, with a description:
// `transient` children are restarted.
func Failure(text string) ExitReason { return arbor_supervised_types.MakeExitReasonError(text) }

// ReasonText reads a reason as `normal`, `shutdown` or `error: TEXT`.
func ReasonText(reason ExitReason) string {
	switch reason.Tag() {
	case arbor_supervised_types.ExitReason_Normal:
		return "normal"
	case arbor_supervised_types.ExitReason_Shutdown:
		return "shutdown"
	default:
		return "error: " + reason.Error()
	}
}
