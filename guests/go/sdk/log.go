// Log lines, which the host routes to its own log under the child's name.

package arbor

import (
	"fmt"

	"wit_component/arbor_supervised_host"
)

// Level is a log line's level.
type Level = arbor_supervised_host.Level

// The levels, as the host's log names them.
const (
	LevelTrace Level = arbor_supervised_host.Level_Trace
	LevelDebug Level = arbor_supervised_host.Level_Debug
	LevelInfo  Level = arbor_supervised_host.Level_Info
	LevelWarn  Level = arbor_supervised_host.Level_Warn
	LevelError Level = arbor_supervised_host.Level_Error
)

// Log writes one line to the host's log (cut at 64 KiB by the host).
func Log(level Level, text string) {
	arbor_supervised_host.Log(level, text)
}

// Logf writes one line, formatted as fmt.Sprintf does.
func Logf(level Level, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}
