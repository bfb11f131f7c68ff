package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prevPct := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64) // no limit
	t.Cleanup(func() {
		debug.SetGCPercent(prevPct)
		debug.SetMemoryLimit(prevLimit)
	})

	// The operator's choice stands.
	for _, env := range []map[string]string{{"GOGC": "50"}, {"GOMEMLIMIT": "1GiB"}} {
		tuneGC(func(k string) string { return env[k] }, 19, 2)
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("with %v, GC percent = %d, want it left at 100", env, got)
		}
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Errorf("with %v, memory limit = %d, want it left unset", env, got)
		}
	}

	tuneGC(func(string) string { return "" }, 19, 2)
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GC percent = %d, want 200", got)
	}
	if got, want := debug.SetMemoryLimit(-1), int64(64+3*2*19)<<20; got != want {
		t.Errorf("memory limit = %d, want %d", got, want)
	}
}
