// Timers (`timers` in the contract): a message cast to a child after a
// delay, as OTP's erlang:send_after.

package arbor

import (
	"time"

	"wit_component/arbor_supervised_timers"
)

// TimerID names a pending timer, for [CancelTimer].
type TimerID = uint64

// SendAfter casts message to `target` (this child's own name included)
// after delay, in whole milliseconds, and returns the timer's id. The
// timer dies with the instance that set it: a crash or a restart cancels
// it; a hot swap keeps it. The error is a *[CallError].
func SendAfter(target string, message []byte, delay time.Duration) (TimerID, error) {
	ms := uint64(0)
	if delay > 0 {
		ms = uint64(delay / time.Millisecond)
	}
	result := arbor_supervised_timers.SendAfter(target, message, ms)
	if result.IsErr() {
		return 0, callError(result.Err())
	}
	return result.Ok(), nil
}

// CancelTimer reports whether the timer was pending (it now never fires).
func CancelTimer(id TimerID) bool {
	return arbor_supervised_timers.CancelTimer(id)
}
