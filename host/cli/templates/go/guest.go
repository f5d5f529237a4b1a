// {{name}}: an Arbor guest in Go (standard Go, not TinyGo).
//
// wit-bindgen's generated main package (wit_exports.go) calls the three
// functions of this package, each one line that hands a plain Go function
// to the SDK beside this project (arbor/, package arbor): `start` gets the
// tree file's `args` and answers arbor.Running (or arbor.Ignore: start
// nothing, the child stays stopped); each message goes to `handle`; `stop`
// runs on an orderly stop. An error from `handle` answers the caller with
// an error; a panic is a crash: Arbor drops this instance and its
// supervisor decides whether a fresh one starts.
//
// Messages are JSON, read and written by arbor.HandleJSON (the SDK also
// has JSON calls, typed errors, children, timers and logging):
//
// | message | reply |
// |---|---|
// | `"ping"` | `"pong"` |
// | `"count"` | how many messages this instance has handled |
// | `"crash"` | none: a panic, a crash |
// | `{"sum": [1, 2, 3]}` | `6` |
// | `{"ask": NAME, "message": VALUE}` | NAME's reply to VALUE; a failed call is an error reply `CASE` or `CASE: TEXT` (`self-call`, `no-such-name: NAME`, ...) |
package export_arbor_supervised_lifecycle

import (
	"fmt"

	"wit_component/arbor"
)

func Init(args []byte) arbor.InitResult { return arbor.Init(args, start) }
func Handle(message []byte) arbor.HandleResult {
	return arbor.HandleJSON(message, handle)
}
func Terminate(reason arbor.ExitReason) { arbor.Terminate(reason, stop) }

var handled = 0 // instance state: fresh after every restart

func start(args []byte) (arbor.Outcome, error) {
	arbor.Logf(arbor.LevelInfo, "%s starting", arbor.SelfName())
	return arbor.Running, nil
}

func handle(request any) (any, error) {
	handled++
	switch r := request.(type) {
	case string:
		switch r {
		case "ping":
			return "pong", nil
		case "count":
			return handled, nil
		case "crash":
			panic("crash requested")
		}
	case map[string]any:
		if numbers, ok := r["sum"].([]any); ok {
			total := 0.0
			for _, n := range numbers {
				f, ok := n.(float64)
				if !ok {
					return nil, fmt.Errorf("not a number: %s", arbor.Encode(n))
				}
				total += f
			}
			return total, nil
		}
		if name, ok := r["ask"].(string); ok {
			return arbor.CallJSON[any](name, r["message"])
		}
	}
	return nil, fmt.Errorf("unknown message: %s", arbor.Encode(request))
}

func stop(reason arbor.ExitReason) {
	arbor.Logf(arbor.LevelInfo, "terminating: %s", arbor.ReasonText(reason))
}
