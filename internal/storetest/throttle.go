package storetest

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"gatehouse/db"
)

// Keys as the throttle makes them (hex SHA-256); times in Unix nanoseconds,
// kept to the nanosecond.
const (
	keyA = "4f1c6a0f9d2b7e35c8a1b0e9d6f3a2c5b8e7d4f1a0c3b6e9d2f5a8c1b4e7d0aa"
	keyB = "9e2d5c8b1a4f7e0d3c6b9a2f5e8d1c4b7a0f3e6d9c2b5a8f1e4d7c0b3a6f9ebb"
	t0   = int64(1_772_366_400_123_456_789) // 2026-03-01 12:00:00.123456789 UTC
)

// Events are counted per key from a time on, with the oldest counted.
func testThrottleEvents(t *testing.T, s Store) {
	ctx := t.Context()
	count := func(key string, since int64) (int, int64) {
		t.Helper()
		n, oldest, err := s.CountEvents(ctx, key, since)
		if err != nil {
			t.Fatal(err)
		}
		return n, oldest
	}
	if n, oldest := count(keyA, 0); n != 0 || oldest != 0 {
		t.Errorf("no events: %d, oldest %d; want 0, 0", n, oldest)
	}
	if err := s.AddEvents(ctx, []string{keyA, keyB}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvents(ctx, []string{keyA}, t0+1); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvents(ctx, nil, t0+2); err != nil {
		t.Errorf("AddEvents(no keys): %v", err)
	}
	for _, c := range []struct {
		key    string
		since  int64
		n      int
		oldest int64
		what   string
	}{
		{keyA, t0, 2, t0, "both events of A"},
		{keyA, t0 + 1, 1, t0 + 1, "the later event of A, to the nanosecond"},
		{keyA, t0 + 2, 0, 0, "none after"},
		{keyB, 0, 1, t0, "B's own"},
	} {
		n, oldest := count(c.key, c.since)
		if n != c.n || oldest != c.oldest {
			t.Errorf("%s: %d, oldest %d; want %d, %d", c.what, n, oldest, c.n, c.oldest)
		}
	}
	removed, err := s.DeleteEventsBefore(ctx, t0+1)
	if err != nil || removed != 2 {
		t.Errorf("DeleteEventsBefore = %d, %v; want 2 (A's and B's first)", removed, err)
	}
	if n, _ := count(keyA, 0); n != 1 {
		t.Errorf("A after cleanup: %d, want 1", n)
	}
}

// TakeEvent records an event only under the limit, reports the oldest
// counted when it refuses, and lets events leave the window.
func testTakeEvent(t *testing.T, s Store) {
	ctx := t.Context()
	const limit = 3
	take := func(key string, at, since int64) (bool, int64) {
		t.Helper()
		ok, oldest, err := s.TakeEvent(ctx, key, at, since, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ok, oldest
	}
	for i := range int64(limit) {
		if ok, _ := take(keyA, t0+i*10, t0-100); !ok {
			t.Fatalf("take %d of %d refused", i+1, limit)
		}
	}
	ok, oldest := take(keyA, t0+100, t0-100)
	if ok || oldest != t0 {
		t.Errorf("take over the limit = %v, oldest %d; want refused, oldest %d", ok, oldest, t0)
	}
	if n, _, _ := s.CountEvents(ctx, keyA, 0); n != limit {
		t.Errorf("events after a refusal = %d, want %d (a refusal records nothing)", n, limit)
	}
	// Another key has its own count.
	if ok, _ := take(keyB, t0+100, t0-100); !ok {
		t.Error("another key refused")
	}
	// Once the first event leaves the window, one more fits.
	if ok, _ := take(keyA, t0+200, t0+1); !ok {
		t.Error("refused after the oldest event left the window")
	}
	if ok, oldest := take(keyA, t0+300, t0+1); ok || oldest != t0+10 {
		t.Errorf("full again = %v, oldest %d; want refused, oldest %d", ok, oldest, t0+10)
	}
	if ok, oldest, err := s.TakeEvent(ctx, keyB, t0, t0, 0); err != nil || ok {
		t.Errorf("limit 0 = %v, %d, %v; want refused", ok, oldest, err)
	}
}

// product.md §6: of many concurrent takers no more than the limit get
// through (40 at once, limit 3: exactly 3). A few rounds, each on its own
// key, since a race shows only now and then.
func testTakeEventConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	const rounds, takers, limit = 5, 40, 3
	for round := range rounds {
		key := db.HashToken("take-concurrent-" + strconv.Itoa(round))
		var wg sync.WaitGroup
		var taken atomic.Int32
		start := make(chan struct{})
		for i := range takers {
			wg.Go(func() {
				<-start
				ok, _, err := s.TakeEvent(ctx, key, t0+int64(i), t0-1, limit)
				if err != nil {
					t.Error(err)
				}
				if ok {
					taken.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := taken.Load(); got != limit {
			t.Errorf("round %d: %d of %d concurrent takes got through, want exactly %d", round, got, takers, limit)
		}
		if n, _, _ := s.CountEvents(ctx, key, 0); n != limit {
			t.Errorf("round %d: events stored = %d, want %d", round, n, limit)
		}
	}
}
