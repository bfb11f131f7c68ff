package logbuf_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/logbuf"
)

type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuf) get() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

// Many lines in a burst reach the writer in a few writes, whole and in
// order, within Every; Close writes out the rest at once.
func TestBatchesLinesWhole(t *testing.T) {
	var out syncBuf
	w := logbuf.New(&out)
	var want strings.Builder
	for i := range 1000 {
		line := strings.Repeat("x", i%90) + " line\n"
		want.WriteString(line)
		w.Write([]byte(line))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, writes := out.get()
		if got == want.String() {
			if writes > 10 {
				t.Errorf("%d writes for 1000 lines, want a few", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines not written within the deadline: %d of %d bytes", len(got), want.Len())
		}
		time.Sleep(time.Millisecond)
	}
	w.Write([]byte("last\n"))
	w.Close()
	if got, _ := out.get(); !strings.HasSuffix(got, "last\n") {
		t.Error("Close did not write out the last line")
	}
	w.Write([]byte("after\n"))
	if got, _ := out.get(); !strings.HasSuffix(got, "after\n") {
		t.Error("a write after Close was held back")
	}
}
