// Package export_arbor_supervised_handover is the probe's `handover`
// export (world supervised-with-handover), as the lifecycle export is.
package export_arbor_supervised_handover

import (
	"wit_component/arbor"
	"wit_component/probe"
)

func Snapshot() arbor.SnapshotResult { return arbor.Snapshot(probe.Snapshot) }
func Restore(state []byte, from string) arbor.RestoreResult {
	return arbor.Restore(state, from, probe.Restore)
}
