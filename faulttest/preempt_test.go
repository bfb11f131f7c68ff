package faulttest

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeRunsWithoutPreemptionSignals: `gatehouse serve` replaces
// itself with GODEBUG=asyncpreemptoff=1 (internal/preempt), keeps its PID
// (tests and service managers stop it by PID) and serves.
func TestServeRunsWithoutPreemptionSignals(t *testing.T) {
	s := start(t, filepath.Join(t.TempDir(), "auth.db"))
	env, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	var godebug string
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
		}
	}
	if godebug != "asyncpreemptoff=1" {
		t.Fatalf("the server at PID %d runs with GODEBUG=%q, want asyncpreemptoff=1", s.cmd.Process.Pid, godebug)
	}
	resp, err := http.Get(s.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /signin = %d", resp.StatusCode)
	}
}
