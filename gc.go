package main

import "runtime/debug"

// tuneGC trades some memory for CPU, unless the operator chose with GOGC
// or GOMEMLIMIT (the runtime reads those itself).
//
// Two loads pull the collector different ways (docs/PERFORMANCE.md):
//   - A signed-in page view allocates about 30 KB and the live heap is a
//     few MiB, so with the default GOGC=100 the collector ran every few
//     hundred requests and took 15-20% of the server's CPU.
//   - Each argon2id hash allocates hashMiB afresh and drops it at the
//     end, so under steady sign-ins every collection marks the whole live
//     heap again for a couple of hashes' garbage: at GOGC=100 one ran
//     every 2.8 sign-ins (GODEBUG=gctrace=1) and marking took 12% of the
//     server's CPU.
//
// GOGC=200 makes both rarer. It is one setting for both: switching
// between two settings while hashes start and end (the previous design)
// stopped the world at each switch and started collections early, and
// measured slower for sign-ins than either setting alone.
//
// The soft memory limit bounds what GOGC=200 lets the heap grow to under a
// flood of sign-ins, where each of the `hashers` concurrent hashes holds
// hashMiB: 64 MiB plus three hashes' worth per hasher (178 MiB with 2
// cores). Set lower (two hashes' worth), steady sign-ins kept the heap at
// the limit and the runtime handed pages back to the system that the next
// hash faulted in again; set higher (four), the flood's peak passed the
// 256 MiB of product.md §9.
func tuneGC(getenv func(string) string, hashMiB, hashers int) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(200)
	debug.SetMemoryLimit(int64(64+3*hashers*hashMiB) << 20)
}
