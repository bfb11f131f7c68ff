package redis_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/redis"
	"gatehouse/throttle"
)

// The behaviour cases of throttle/throttle_test.go, written once over any
// throttle.Store, so that one table runs against every backend (SQLite
// and Redis here; PostgreSQL later). Package throttle's own tests still
// run the SQLite versions; moving storeCases and backends into one shared
// place would leave a single copy.

// clock is a settable time for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

var tenInTen = throttle.Rule{Name: "signin", Limit: 10, Window: 10 * time.Minute}

func check(t *testing.T, l *throttle.Limiter, r throttle.Rule, key string) time.Duration {
	t.Helper()
	wait, err := l.Check(context.Background(), r, key)
	if err != nil {
		t.Fatal(err)
	}
	return wait
}

func add(t *testing.T, l *throttle.Limiter, r throttle.Rule, keys ...string) {
	t.Helper()
	if err := l.Add(context.Background(), r, keys...); err != nil {
		t.Fatal(err)
	}
}

func take(t *testing.T, l *throttle.Limiter, r throttle.Rule, key string) time.Duration {
	t.Helper()
	wait, err := l.Take(context.Background(), r, key)
	if err != nil {
		t.Fatal(err)
	}
	return wait
}

// storeCases are the behaviour tests: each gets a fresh, empty store.
var storeCases = []struct {
	name string
	run  func(t *testing.T, store throttle.Store)
}{
	// product.md §6: at most 10 failures in 10 minutes, a sliding window.
	{"TenFailuresInTenMinutes", func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := throttle.New(store, c.now)
		for i := range 10 {
			if wait := check(t, l, tenInTen, "user:1"); wait != 0 {
				t.Fatalf("attempt %d refused, wait %v", i+1, wait)
			}
			add(t, l, tenInTen, "user:1")
			c.advance(time.Minute)
		}
		// The first failure was 10 minutes ago minus nothing: it leaves now.
		c.advance(-time.Second)
		if wait := check(t, l, tenInTen, "user:1"); wait != time.Second {
			t.Errorf("11th attempt: wait %v, want 1s (until the oldest failure leaves)", wait)
		}
		if wait := check(t, l, tenInTen, "user:2"); wait != 0 {
			t.Errorf("another key refused: %v", wait)
		}
		c.advance(time.Second)
		if wait := check(t, l, tenInTen, "user:1"); wait != 0 {
			t.Errorf("after the oldest left the window: wait %v", wait)
		}
	}},

	// The window is exact to the nanosecond, at a time that is not a
	// round number (a float64 score would round it to 256 ns).
	{"ExactToTheNanosecond", func(t *testing.T, store throttle.Store) {
		c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)}
		l := throttle.New(store, c.now)
		one := throttle.Rule{Name: "one", Limit: 1, Window: time.Minute}
		add(t, l, one, "k")
		c.advance(time.Minute - time.Nanosecond)
		if wait := check(t, l, one, "k"); wait != time.Nanosecond {
			t.Errorf("a nanosecond before the event leaves: wait %v, want 1ns", wait)
		}
		c.advance(time.Nanosecond)
		if wait := check(t, l, one, "k"); wait != 0 {
			t.Errorf("when the event leaves: wait %v, want 0", wait)
		}
	}},

	// Rules with the same key count apart.
	{"RulesKeptApart", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		one := throttle.Rule{Name: "one", Limit: 1, Window: time.Hour}
		other := throttle.Rule{Name: "other", Limit: 1, Window: time.Hour}
		add(t, l, one, "k")
		if check(t, l, one, "k") == 0 {
			t.Error("rule one not at its limit")
		}
		if check(t, l, other, "k") != 0 {
			t.Error("rule other counted rule one's event")
		}
	}},

	// Two events at the same nanosecond are two events.
	{"SameNanosecondCountsTwice", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		two := throttle.Rule{Name: "two", Limit: 2, Window: time.Hour}
		add(t, l, two, "k")
		if check(t, l, two, "k") != 0 {
			t.Fatal("refused after one event")
		}
		add(t, l, two, "k")
		if check(t, l, two, "k") == 0 {
			t.Error("the second event at the same time was not counted")
		}
		three := throttle.Rule{Name: "three", Limit: 3, Window: time.Hour}
		for i := range 3 {
			if wait := take(t, l, three, "k"); wait != 0 {
				t.Fatalf("take %d at one time refused: %v", i+1, wait)
			}
		}
		if take(t, l, three, "k") == 0 {
			t.Error("4th take at one time allowed")
		}
	}},

	// Add records an event for every key it is given.
	{"AddCountsEveryKey", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		one := throttle.Rule{Name: "one", Limit: 1, Window: time.Hour}
		add(t, l, one, "user:1", "ip:192.0.2.1")
		if check(t, l, one, "user:1") == 0 || check(t, l, one, "ip:192.0.2.1") == 0 {
			t.Error("a key given to Add was not counted")
		}
		add(t, l, one)
	}},

	// Take lets exactly Limit of many concurrent takers through.
	{"ConcurrentTakeIsExact", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		three := throttle.Rule{Name: "mail", Limit: 3, Window: time.Hour}
		var wg sync.WaitGroup
		var mu sync.Mutex
		passed := 0
		for range 40 {
			wg.Go(func() {
				wait, err := l.Take(context.Background(), three, "email:a@example.com")
				if err != nil {
					t.Error(err)
					return
				}
				if wait == 0 {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if passed != 3 {
			t.Errorf("%d of 40 concurrent takes passed, want 3", passed)
		}
		if wait := take(t, l, three, "email:a@example.com"); wait != time.Hour {
			t.Errorf("refused take: wait %v, want 1h", wait)
		}
	}},

	// With a limit of zero nothing is taken, and the wait is the least
	// there is (no event to wait for).
	{"TakeWithLimitZero", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		none := throttle.Rule{Name: "none", Limit: 0, Window: time.Hour}
		if wait := take(t, l, none, "k"); wait != time.Nanosecond {
			t.Errorf("take under limit 0: wait %v, want 1ns", wait)
		}
	}},

	// product.md §6: a limit holds for its whole window however many other
	// names or addresses are tried meanwhile: flooding other keys never
	// pushes a count out.
	{"FloodingOtherKeysKeepsTheCount", func(t *testing.T, store throttle.Store) {
		l := throttle.New(store, newClock().now)
		reset := throttle.Rule{Name: "reset-mail", Limit: 3, Window: time.Hour}
		for range 3 {
			if wait := take(t, l, reset, "email:victim@example.com"); wait != 0 {
				t.Fatalf("take refused: %v", wait)
			}
		}
		others := make([]string, 120_000)
		for i := range others {
			others[i] = "email:x" + strconv.Itoa(i) + "@example.com"
		}
		add(t, l, reset, others...)
		if take(t, l, reset, "email:victim@example.com") == 0 {
			t.Error("4th reset mail to the victim allowed after a flood of 120,000 other addresses")
		}
	}},

	// Events past the window count for nothing.
	{"OldEventsCountForNothing", func(t *testing.T, store throttle.Store) {
		c := newClock()
		l := throttle.New(store, c.now)
		add(t, l, tenInTen, "user:1")
		c.advance(11 * time.Minute)
		for range 9 {
			add(t, l, tenInTen, "user:1")
		}
		if wait := check(t, l, tenInTen, "user:1"); wait != 0 {
			t.Errorf("an event past the window still counted: wait %v", wait)
		}
	}},
}

// keep is how long the Redis store keeps events in these tests: the
// longest window of the account rules (account.LongestWindow, 1h) and
// then some.
const keep = 2 * time.Hour

// backends are the stores the cases run against: SQLite, the reference
// (db/throttle.go), so that a case which passes on Redis alone cannot
// mean something SQLite does not; and Redis.
var backends = []struct {
	name string
	open func(t *testing.T) throttle.Store
}{
	{"sqlite", func(t *testing.T) throttle.Store {
		s, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"redis", func(t *testing.T) throttle.Store {
		_, c, _ := start(t)
		return c.ThrottleStore(keep)
	}},
}

func TestThrottleStore(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		for _, tc := range storeCases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, b.open(t))
			})
		}
	}
}

// Keys reach Redis only hashed: a sign-in name may be a password typed
// into the wrong field. No key or member holds it.
func TestThrottleKeysStoredHashed(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	const secret = "my secret password"
	l := throttle.New(c.ThrottleStore(keep), newClock().now)
	add(t, l, tenInTen, "login:"+secret)
	take(t, l, tenInTen, "login:"+secret)
	keys := dump(t, raw)
	if len(keys) != 1 {
		t.Fatalf("keys %v, want one", keys)
	}
	for k, members := range keys {
		hash, ok := strings.CutPrefix(k, "gatehouse:throttle:")
		if !ok || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
			t.Errorf("key %q, want gatehouse:throttle: and a SHA-256 hex", k)
		}
		if len(members) != 2 {
			t.Errorf("members %q, want two events", members)
		}
		for _, m := range members {
			if strings.Contains(m, "secret") {
				t.Errorf("member %q holds the key", m)
			}
		}
	}
}

// Neither a set nor the number of keys grows without bound: every write
// trims events older than keep and sets the key to expire keep later.
func TestThrottleOldEventsTrimmed(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	ctx := context.Background()
	clk := newClock()
	l := throttle.New(c.ThrottleStore(keep), clk.now)
	r := throttle.Rule{Name: "r", Limit: 1000, Window: time.Hour}
	for range 5 {
		add(t, l, r, "k")
	}
	clk.advance(keep + time.Nanosecond)
	add(t, l, r, "k")
	clk.advance(time.Nanosecond)
	take(t, l, r, "k")
	keys := dump(t, raw)
	if len(keys) != 1 {
		t.Fatalf("keys %v, want one", keys)
	}
	for k, members := range keys {
		if len(members) != 2 {
			t.Errorf("%d events kept, want 2 (the 5 older than keep trimmed)", len(members))
		}
		if ttl := raw.PTTL(ctx, k).Val(); ttl <= keep-time.Minute || ttl > keep {
			t.Errorf("TTL %v, want just under %v", ttl, keep)
		}
	}
}

// A keep of zero is not a throttle that forgets at once.
func TestThrottleZeroKeep(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	l := throttle.New(c.ThrottleStore(0), newClock().now)
	add(t, l, tenInTen, "k")
	for k := range dump(t, raw) {
		if ttl := raw.PTTL(context.Background(), k).Val(); ttl < time.Hour {
			t.Errorf("TTL %v with keep 0, want the default of 2h", ttl)
		}
	}
}

// A rule whose window is longer than keep still counts every event in it:
// TakeEvent trims nothing it counts and keeps the key for the window.
func TestThrottleWindowLongerThanKeep(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	clk := newClock()
	l := throttle.New(c.ThrottleStore(time.Minute), clk.now)
	day := throttle.Rule{Name: "day", Limit: 2, Window: 24 * time.Hour}
	take(t, l, day, "k")
	clk.advance(time.Hour)
	take(t, l, day, "k")
	clk.advance(time.Hour)
	if wait := take(t, l, day, "k"); wait != 22*time.Hour {
		t.Errorf("third take in a day: wait %v, want 22h", wait)
	}
	for k := range dump(t, raw) {
		if ttl := raw.PTTL(context.Background(), k).Val(); ttl < 23*time.Hour {
			t.Errorf("TTL %v, want at least the window", ttl)
		}
	}
}

// Counts live in Redis, not in the instance: a second instance (a new
// Client, as after a restart of Gatehouse) sees the same counts.
func TestThrottleCountsShared(t *testing.T) {
	t.Parallel()
	srv, c, _ := start(t)
	clk := newClock()
	a := throttle.New(c.ThrottleStore(keep), clk.now)
	for range 5 {
		add(t, a, tenInTen, "ip:192.0.2.1")
	}
	c2, err := redis.Open(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	b := throttle.New(c2.ThrottleStore(keep), clk.now)
	for range 5 {
		add(t, b, tenInTen, "ip:192.0.2.1")
	}
	if wait := check(t, a, tenInTen, "ip:192.0.2.1"); wait != 10*time.Minute {
		t.Errorf("5 failures on each instance: wait %v on the first, want 10m", wait)
	}
	if wait := check(t, b, tenInTen, "ip:192.0.2.1"); wait != 10*time.Minute {
		t.Errorf("5 failures on each instance: wait %v on the second, want 10m", wait)
	}
}
