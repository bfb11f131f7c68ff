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

// reserve holds a place for an attempt on key and returns the reservation.
func reserve(t *testing.T, l Limiter, key string) Reservation {
	t.Helper()
	r, err := l.Reserve(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fail is one failed attempt: reserved, checked, settled. It returns how
// long the attempt was told to wait (zero when it was let through).
func fail(t *testing.T, l Limiter, key string) time.Duration {
	t.Helper()
	r := reserve(t, l, key)
	if err := l.Settle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if !r.Refused() {
		return 0
	}
	if r.InFlight {
		t.Fatalf("refusal by settled failures says InFlight")
	}
	return r.RetryAfter
}

// succeed is one successful attempt: reserved, checked, cancelled.
func succeed(t *testing.T, l Limiter, key string) Reservation {
	t.Helper()
	r := reserve(t, l, key)
	if err := l.Cancel(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTenFailuresInTenMinutes(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for i := range 10 {
		if d := fail(t, m, "user:alice"); d != 0 {
			t.Fatalf("attempt %d: throttled for %v, want allowed", i+1, d)
		}
		c.advance(time.Minute)
	}
	// The first failure was 10 minutes ago exactly: it has just left.
	if d := fail(t, m, "user:alice"); d != 0 {
		t.Fatalf("11th attempt after the first left the window: throttled for %v", d)
	}
	// Now failures at minutes 1..10 are in the window; the next waits
	// until minute 1 leaves it, one minute from now.
	if d := fail(t, m, "user:alice"); d != time.Minute {
		t.Fatalf("12th attempt: retry after %v, want 1m", d)
	}
	c.advance(59 * time.Second)
	if d := fail(t, m, "user:alice"); d != time.Second {
		t.Fatalf("after 59s: retry after %v, want 1s", d)
	}
	c.advance(time.Second)
	if d := fail(t, m, "user:alice"); d != 0 {
		t.Fatalf("after the window passed: throttled for %v", d)
	}
}

func TestBurstThenWholeWindow(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for range 10 {
		fail(t, m, "ip:192.0.2.1")
	}
	if d := fail(t, m, "ip:192.0.2.1"); d != 10*time.Minute {
		t.Fatalf("retry after %v, want 10m", d)
	}
	// Refused attempts do not count: waiting out the window is enough.
	c.advance(10*time.Minute - time.Nanosecond)
	if d := fail(t, m, "ip:192.0.2.1"); d != time.Nanosecond {
		t.Fatalf("retry after %v, want 1ns", d)
	}
	c.advance(time.Nanosecond)
	if d := fail(t, m, "ip:192.0.2.1"); d != 0 {
		t.Fatalf("throttled for %v after the window", d)
	}
	// Other keys were never affected.
	if d := fail(t, m, "ip:192.0.2.2"); d != 0 {
		t.Fatalf("other key throttled for %v", d)
	}
}

func TestSuccessNeitherCountsNorClears(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	for range 9 {
		fail(t, m, "k")
	}
	// A success (reserve + cancel) neither counts nor clears the failures.
	for range 5 {
		if r := succeed(t, m, "k"); r.Refused() {
			t.Fatalf("success refused for %v", r.RetryAfter)
		}
	}
	fail(t, m, "k") // the 10th failure
	if d := fail(t, m, "k"); d == 0 {
		t.Fatal("11th failure allowed; a success must not reset the count")
	}
	// Ending an unknown or refused reservation is harmless.
	if err := m.Cancel(context.Background(), Reservation{Key: "nobody", ID: 12345}); err != nil {
		t.Fatal(err)
	}
	if err := m.Settle(context.Background(), Reservation{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (cancelled keys are forgotten)", m.Len())
	}
}

// Cancel frees the place of the attempt it names, not the latest one: an
// early success must not take back a later failure's place.
func TestCancelFreesItsOwnPlace(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	ok := reserve(t, m, "k") // a success, checked slowly
	c.advance(time.Minute)
	var failed []Reservation
	for range 9 {
		failed = append(failed, reserve(t, m, "k"))
	}
	for _, r := range failed {
		m.Settle(context.Background(), r)
	}
	m.Cancel(context.Background(), ok)
	// Nine failures, from minute 1: one more is allowed, then the 11th
	// waits until minute 1 leaves the window, ten minutes from now (had
	// Cancel freed the newest, a place would have been counted from 0).
	if d := fail(t, m, "k"); d != 0 {
		t.Fatalf("10th attempt refused for %v", d)
	}
	if d := fail(t, m, "k"); d != 10*time.Minute {
		t.Fatalf("11th attempt: retry after %v, want 10m", d)
	}
}

// Attempts in flight hold places, and a refusal they cause says so; once
// they end, places free up (success) or the refusal becomes one by settled
// failures with the window's wait.
func TestInFlightRefusal(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now})
	var held []Reservation
	for range 7 {
		fail(t, m, "ip:192.0.2.1")
	}
	for range 3 {
		held = append(held, reserve(t, m, "ip:192.0.2.1"))
	}
	c.advance(time.Second)
	r := reserve(t, m, "ip:192.0.2.1")
	if !r.Refused() || !r.InFlight || r.RetryAfter != 10*time.Minute-time.Second {
		t.Fatalf("11th attempt with 3 in flight: %+v, want refused, InFlight, 9m59s", r)
	}
	// One in flight succeeds: its place is free at once.
	m.Cancel(context.Background(), held[0])
	if r := reserve(t, m, "ip:192.0.2.1"); r.Refused() {
		t.Fatalf("refused after a place freed: %+v", r)
	} else {
		held[0] = r
	}
	// All three fail: now ten settled failures refuse for the window.
	for _, h := range held {
		m.Settle(context.Background(), h)
	}
	r = reserve(t, m, "ip:192.0.2.1")
	if !r.Refused() || r.InFlight || r.RetryAfter != 10*time.Minute-time.Second {
		t.Fatalf("after ten failures: %+v, want refused for the window, not InFlight", r)
	}
}

// An attempt that never ends (its request died) is in flight only for
// InFlightFor; then it counts as a failure, until the window passes.
func TestForgottenAttemptBecomesAFailure(t *testing.T) {
	c := newClock()
	m := NewMemory(Options{Now: c.now, InFlightFor: time.Minute})
	for range 10 {
		reserve(t, m, "k") // never settled nor cancelled
	}
	if r := reserve(t, m, "k"); !r.InFlight {
		t.Fatalf("fresh attempts: %+v, want InFlight", r)
	}
	c.advance(time.Minute)
	if r := reserve(t, m, "k"); !r.Refused() || r.InFlight || r.RetryAfter != 9*time.Minute {
		t.Fatalf("a minute later: %+v, want refused for 9m, not InFlight", r)
	}
	c.advance(9 * time.Minute)
	if r := reserve(t, m, "k"); r.Refused() {
		t.Fatalf("after the window: %+v", r)
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
			r, _ := m.Reserve(context.Background(), "user:alice")
			if !r.Refused() {
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
		fail(t, m, k)
	}
	if d := fail(t, m, k); d == 0 {
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
