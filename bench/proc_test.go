package main

import (
	"slices"
	"testing"
)

func TestChildEnvRestoresGODEBUG(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"HOME=/h", "GODEBUG=asyncpreemptoff=1", godebugWas + "="}, []string{"HOME=/h"}},
		{[]string{"GODEBUG=http2client=0,asyncpreemptoff=1", godebugWas + "=http2client=0", "A=b"}, []string{"A=b", "GODEBUG=http2client=0"}},
		// Not re-executed (a test calling startProcess): left alone.
		{[]string{"GODEBUG=madvdontneed=1", "A=b"}, []string{"GODEBUG=madvdontneed=1", "A=b"}},
	} {
		if got := childEnv(c.in); !slices.Equal(got, c.want) {
			t.Errorf("childEnv(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
