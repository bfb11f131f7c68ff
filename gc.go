package main

import "runtime/debug"

// tuneGC trades some memory for CPU on the request path, unless the
// operator chose with GOGC or GOMEMLIMIT (the runtime reads those itself).
//
// A signed-in page view allocates about 30 KB and the live heap is a few
// MiB, so with the default GOGC=100 the collector ran every few hundred
// requests and took 15-20% of the server's CPU (docs/PERFORMANCE.md).
// GOGC=400 lets the heap grow to five times its live size before a
// collection, so it runs about a quarter as often. The soft memory limit
// keeps that growth from mattering under a flood of sign-ins, where each
// of the `hashers` concurrent argon2id hashes holds hashMiB: the collector
// then runs as needed to stay near 64 MiB plus two hashes' worth per
// hasher (140 MiB with 2 cores), whatever GOGC allows.
func tuneGC(getenv func(string) string, hashMiB, hashers int) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(int64(64+2*hashers*hashMiB) << 20)
}
