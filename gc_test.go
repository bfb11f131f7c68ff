package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesOperatorSettings(t *testing.T) {
	prevPct := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPct)
		debug.SetMemoryLimit(prevLimit)
	})

	env := map[string]string{"GOGC": "50"}
	if f := tuneGC(func(k string) string { return env[k] }, 19, 2); f != nil {
		t.Error("with GOGC set, tuneGC returned a hook that would change it while hashing")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, GC percent = %d, want it left at 100", got)
	}

	whileHashing := tuneGC(func(string) string { return "" }, 19, 2)
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("GC percent = %d, want 400", got)
	}
	if got, want := debug.SetMemoryLimit(-1), int64(64+2*2*19)<<20; got != want {
		t.Errorf("memory limit = %d, want %d", got, want)
	}
	// While hashing, the collector runs as a plain Go program's does.
	whileHashing(true)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("while hashing, GC percent = %d, want 100", got)
	}
	whileHashing(false)
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("after hashing, GC percent = %d, want 400 again", got)
	}
}
