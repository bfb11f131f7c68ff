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
//
// While argon2id hashes run, the collector goes back to GOGC=100, as in
// a plain Go program hashing in a loop (the raw rate the bench compares
// sign-in with). Each hash allocates its hashMiB afresh and drops it at
// the end; with GOGC=400 the in-flight hashes make the heap goal five
// times their size, far above the memory limit, so under steady sign-ins
// the heap sat at the limit and the runtime kept handing pages back to
// the system (GODEBUG=scavtrace=1: 1-2 MiB per sign-in) that the next
// hash faulted back in and zeroed again. At GOGC=100 a collection every
// couple of hashes lets the next hash reuse the last one's pages and
// the limit is not reached (docs/PERFORMANCE.md). whileHashing is
// for password.Hasher.OnBusy; nil when the operator chose.
func tuneGC(getenv func(string) string, hashMiB, hashers int) (whileHashing func(busy bool)) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(int64(64+2*hashers*hashMiB) << 20)
	return func(busy bool) {
		if busy {
			debug.SetGCPercent(100)
		} else {
			debug.SetGCPercent(400)
		}
	}
}
