package throttle

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }
func reserve(t *testing.T, l Limiter, key string) time.Duration {
	t.Helper()
	d, err := l.Reserve(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTenFailuresInTenMinutes(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for i := range 10 {
		if d := reserve(t, m, "user:alice"); d != 0 {
			t.Fatalf("attempt %d: throttled for %v, want allowed", i+1, d)
		}
		c.advance(time.Minute)
	}
	// The first failure was 10 minutes ago exactly: it has just left.
	if d := reserve(t, m, "user:alice"); d != 0 {
		t.Fatalf("11th attempt after the first left the window: throttled for %v", d)
	}
	// Now failures at minutes 1..10 are in the window; the next waits
	// until minute 1 leaves it, one minute from now.
	if d := reserve(t, m, "user:alice"); d != time.Minute {
		t.Fatalf("12th attempt: retry after %v, want 1m", d)
	}
	c.advance(59 * time.Second)
	if d := reserve(t, m, "user:alice"); d != time.Second {
		t.Fatalf("after 59s: retry after %v, want 1s", d)
	}
	c.advance(time.Second)
	if d := reserve(t, m, "user:alice"); d != 0 {
		t.Fatalf("after the window passed: throttled for %v", d)
	}
}

func TestBurstThenWholeWindow(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for range 10 {
		reserve(t, m, "ip:192.0.2.1")
	}
	if d := reserve(t, m, "ip:192.0.2.1"); d != 10*time.Minute {
		t.Fatalf("retry after %v, want 10m", d)
	}
	// Refused attempts do not count: waiting out the window is enough.
	c.advance(10*time.Minute - time.Nanosecond)
	if d := reserve(t, m, "ip:192.0.2.1"); d != time.Nanosecond {
		t.Fatalf("retry after %v, want 1ns", d)
	}
	c.advance(time.Nanosecond)
	if d := reserve(t, m, "ip:192.0.2.1"); d != 0 {
		t.Fatalf("throttled for %v after the window", d)
	}
	// Other keys were never affected.
	if d := reserve(t, m, "ip:192.0.2.2"); d != 0 {
		t.Fatalf("other key throttled for %v", d)
	}
}

func TestCancelTakesBackOnlyTheLastAttempt(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for range 9 {
		reserve(t, m, "k")
	}
	// A success (reserve + cancel) neither counts nor clears the failures.
	for range 5 {
		if d := reserve(t, m, "k"); d != 0 {
			t.Fatalf("throttled for %v", d)
		}
		if err := m.Cancel(context.Background(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	reserve(t, m, "k") // the 10th failure
	if d := reserve(t, m, "k"); d == 0 {
		t.Fatal("11th failure allowed; a success must not reset the count")
	}
	// Cancel of an unknown key is harmless.
	if err := m.Cancel(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (cancelled keys are forgotten)", m.Len())
	}
}

// Concurrent attempts on one key: exactly Limit get through, because each
// reserves its place before it is checked.
func TestConcurrentReserveIsExact(t *testing.T) {
	m := NewMemory(Options{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			d, _ := m.Reserve(context.Background(), "user:alice")
			if d == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Fatalf("%d attempts allowed, want exactly 10", got)
	}
}

// An attacker with a million addresses cannot grow the limiter past
// MaxKeys; the most recent keys are still counted.
func TestMemoryIsBounded(t *testing.T) {
	m := NewMemory(Options{MaxKeys: 1600})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 1_000_000 {
		m.Reserve(context.Background(), fmt.Sprintf("ip:10.%d.%d.%d/a-long-suffix-to-show-keys-are-hashed", i>>16, i>>8&255, i&255))
	}
	if n := m.Len(); n > 1600 {
		t.Fatalf("Len = %d after a million keys, want at most 1600", n)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("heap grew by %d bytes for 1600 keys, want under 4 MiB", grew)
	}
	// The newest key is still remembered and counted.
	k := "ip:recent"
	for range 10 {
		reserve(t, m, k)
	}
	if d := reserve(t, m, k); d == 0 {
		t.Fatal("recent key not throttled")
	}
}

func BenchmarkReserve(b *testing.B) {
	m := NewMemory(Options{})
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			m.Reserve(context.Background(), fmt.Sprintf("ip:%d", i))
		}
	})
}
