// Package export_arbor_supervised_lifecycle is the probe's `lifecycle`
// export, where wit-bindgen's generated main package calls it: each
// function hands the probe's own to the SDK.
package export_arbor_supervised_lifecycle

import (
	"wit_component/arbor"
	"wit_component/probe"
)

func Init(args []byte) arbor.InitResult        { return arbor.Init(args, probe.Start) }
func Handle(message []byte) arbor.HandleResult { return arbor.Handle(message, probe.Handle) }
func Terminate(reason arbor.ExitReason)        { arbor.Terminate(reason, probe.Terminate) }
