package preempt

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestChosen(t *testing.T) {
	for godebug, want := range map[string]bool{
		"":                                  false,
		"http2client=0":                     false,
		"asyncpreemptoff=1":                 true,
		"asyncpreemptoff=0":                 true,
		"http2client=0, asyncpreemptoff=0":  true,
		"noasyncpreemptoff=1":               false,
		"madvdontneed=1,asyncpreemptoff=1,": true,
	} {
		if got := chosen(godebug); got != want {
			t.Errorf("chosen(%q) = %v, want %v", godebug, got, want)
		}
	}
}

// TestByCallsOnlyReexecutes runs this test binary as a child that calls
// ByCallsOnly and prints its GODEBUG: the child must come back with the
// setting added to what it had, once, and keep an operator's choice.
func TestByCallsOnlyReexecutes(t *testing.T) {
	if os.Getenv("PREEMPT_CHILD") == "1" {
		ByCallsOnly()
		os.Stdout.WriteString("GODEBUG=" + os.Getenv("GODEBUG") + "\n")
		os.Exit(0)
	}
	for before, want := range map[string]string{
		"":                  "GODEBUG=asyncpreemptoff=1",
		"http2client=0":     "GODEBUG=http2client=0,asyncpreemptoff=1",
		"asyncpreemptoff=0": "GODEBUG=asyncpreemptoff=0",
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestByCallsOnlyReexecutes$")
		cmd.Env = append(os.Environ(), "PREEMPT_CHILD=1", "GODEBUG="+before)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with GODEBUG=%q: %v\n%s", before, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("child with GODEBUG=%q printed %q, want %q", before, got, want)
		}
	}
}
