// The wasm trap behind a crash.

package arbor

// trap executes wasm's `unreachable` (trap.s), as Go's runtime does for
// an unrecovered panic: the host drops the instance and reports a crash.
// Only ever reached if `host.crash` returned, which the host never does.
func trap()
