// Children a guest starts and stops (`children` in the contract), under
// the supervisors its entry in the tree file grants in `may_start`.

package arbor

import (
	"strconv"

	"wit_component/arbor_supervised_children"
)

// ChildSpec is a worker to start: its Name (unique in the host), the key
// of its Component in the tree file's `[components]`, the Args its `init`
// gets, and its Restart type (the zero value is [Permanent]).
type ChildSpec = arbor_supervised_children.ChildSpec

// Restart says when a child is restarted.
type Restart = arbor_supervised_children.RestartType

// The restart types, as in OTP.
const (
	// Permanent: always restarted.
	Permanent Restart = arbor_supervised_children.RestartType_Permanent
	// Transient: restarted only after an abnormal exit.
	Transient Restart = arbor_supervised_children.RestartType_Transient
	// Temporary: never restarted.
	Temporary Restart = arbor_supervised_children.RestartType_Temporary
)

// ChildError is why [StartChild] or [StopChild] did nothing. Case is the
// contract's case name: "already-started", "max-children",
// "unknown-component", "denied", "no-such-supervisor", "no-such-child",
// "invalid-name", "start-failed", "ignored" or "timeout"; Value its
// payload as text ("" for ignored and timeout). It reads `CASE` or
// `CASE: VALUE`.
type ChildError struct {
	Case  string
	Value string
}

func (e *ChildError) Error() string {
	if e.Value == "" {
		return e.Case
	}
	return e.Case + ": " + e.Value
}

// childError reads the bindings' child-error variant.
func childError(e arbor_supervised_children.ChildError) *ChildError {
	switch e.Tag() {
	case arbor_supervised_children.ChildError_AlreadyStarted:
		return &ChildError{"already-started", e.AlreadyStarted()}
	case arbor_supervised_children.ChildError_MaxChildren:
		return &ChildError{"max-children", strconv.FormatUint(uint64(e.MaxChildren()), 10)}
	case arbor_supervised_children.ChildError_UnknownComponent:
		return &ChildError{"unknown-component", e.UnknownComponent()}
	case arbor_supervised_children.ChildError_Denied:
		return &ChildError{"denied", e.Denied()}
	case arbor_supervised_children.ChildError_NoSuchSupervisor:
		return &ChildError{"no-such-supervisor", e.NoSuchSupervisor()}
	case arbor_supervised_children.ChildError_NoSuchChild:
		return &ChildError{"no-such-child", e.NoSuchChild()}
	case arbor_supervised_children.ChildError_InvalidName:
		return &ChildError{"invalid-name", e.InvalidName()}
	case arbor_supervised_children.ChildError_StartFailed:
		return &ChildError{"start-failed", e.StartFailed()}
	case arbor_supervised_children.ChildError_Ignored:
		return &ChildError{"ignored", ""}
	case arbor_supervised_children.ChildError_Timeout:
		return &ChildError{"timeout", ""}
	}
	panic("unknown child-error case " + strconv.Itoa(int(e.Tag())))
}

// StartChild starts spec as a worker under the running supervisor
// `supervisor` (a name, or a path whose last part is one), waits until its
// `init` has run and returns its name. The error is a *[ChildError].
func StartChild(supervisor string, spec ChildSpec) (string, error) {
	result := arbor_supervised_children.StartChild(supervisor, spec)
	if result.IsErr() {
		return "", childError(result.Err())
	}
	return result.Ok(), nil
}

// StopChild stops the child `name` under `supervisor` in order and waits
// until it has. The error is a *[ChildError].
func StopChild(supervisor, name string) error {
	result := arbor_supervised_children.StopChild(supervisor, name)
	if result.IsErr() {
		return childError(result.Err())
	}
	return nil
}
