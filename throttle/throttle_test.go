package throttle_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"gatehouse/db"
	"gatehouse/throttle"
)

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

// open returns a limiter over a fresh SQLite file (the real store), and
// the file's path.
func open(t *testing.T, c *clock) (*throttle.Limiter, *db.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return throttle.New(s, c.now), s, path
}

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

// product.md §6: at most 10 failures in 10 minutes, a sliding window.
func TestTenFailuresInTenMinutes(t *testing.T) {
	c := newClock()
	l, _, _ := open(t, c)
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
}

// Rules with the same key count apart.
func TestRulesKeptApart(t *testing.T) {
	c := newClock()
	l, _, _ := open(t, c)
	one := throttle.Rule{Name: "one", Limit: 1, Window: time.Hour}
	other := throttle.Rule{Name: "other", Limit: 1, Window: time.Hour}
	add(t, l, one, "k")
	if check(t, l, one, "k") == 0 {
		t.Error("rule one not at its limit")
	}
	if check(t, l, other, "k") != 0 {
		t.Error("rule other counted rule one's event")
	}
}

// Take lets exactly Limit of many concurrent takers through.
func TestConcurrentTakeIsExact(t *testing.T) {
	c := newClock()
	l, _, _ := open(t, c)
	three := throttle.Rule{Name: "mail", Limit: 3, Window: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	if passed != 3 {
		t.Errorf("%d of 40 concurrent takes passed, want 3", passed)
	}
	if wait, _ := l.Take(context.Background(), three, "email:a@example.com"); wait != time.Hour {
		t.Errorf("refused take: wait %v, want 1h", wait)
	}
}

// product.md §6: with one SQLite database the counts are kept in it, so
// a restart does not reset them.
func TestCountsSurviveRestart(t *testing.T) {
	c := newClock()
	l, s, path := open(t, c)
	for range 10 {
		add(t, l, tenInTen, "ip:192.0.2.1")
	}
	s.Close()
	s2, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if wait := check(t, throttle.New(s2, c.now), tenInTen, "ip:192.0.2.1"); wait != 10*time.Minute {
		t.Errorf("after a restart: wait %v, want 10m", wait)
	}
}

// product.md §6: a limit holds for its whole window however many other
// names or addresses are tried meanwhile: flooding other keys never pushes
// a count out (the in-memory limiter forgot keys past 100,000).
func TestFloodingOtherKeysKeepsTheCount(t *testing.T) {
	c := newClock()
	l, _, _ := open(t, c)
	reset := throttle.Rule{Name: "reset-mail", Limit: 3, Window: time.Hour}
	for range 3 {
		if wait, err := l.Take(context.Background(), reset, "email:victim@example.com"); err != nil || wait != 0 {
			t.Fatalf("take: %v %v", wait, err)
		}
	}
	others := make([]string, 120_000)
	for i := range others {
		others[i] = "email:x" + strconv.Itoa(i) + "@example.com"
	}
	add(t, l, reset, others...)
	if wait, _ := l.Take(context.Background(), reset, "email:victim@example.com"); wait == 0 {
		t.Error("4th reset mail to the victim allowed after a flood of 120,000 other addresses")
	}
}

// Keys reach the database only hashed: a sign-in name may be a password
// typed into the wrong field.
func TestKeysStoredHashed(t *testing.T) {
	c := newClock()
	l, _, path := open(t, c)
	add(t, l, tenInTen, "login:my secret password")
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var key string
	if err := raw.QueryRow(`SELECT key_hash FROM throttle_events`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if len(key) != 64 || key == "login:my secret password" {
		t.Errorf("stored key %q, want a SHA-256 hex", key)
	}
}

// Old events are deleted by the cleanup and count for nothing before.
func TestOldEventsCountForNothing(t *testing.T) {
	c := newClock()
	l, s, _ := open(t, c)
	add(t, l, tenInTen, "user:1")
	c.advance(11 * time.Minute)
	for range 9 {
		add(t, l, tenInTen, "user:1")
	}
	if wait := check(t, l, tenInTen, "user:1"); wait != 0 {
		t.Errorf("an event past the window still counted: wait %v", wait)
	}
	n, err := s.DeleteEventsBefore(context.Background(), c.now().Add(-10*time.Minute).UnixNano())
	if err != nil || n != 1 {
		t.Errorf("DeleteEventsBefore = %d, %v; want 1", n, err)
	}
}

// A keyed limiter names counts by HMAC under the server's key: the stored
// name is not the plain SHA-256 a copy of the database could be searched
// with, two limiters with the same key share counts (instances), and a
// limiter with another key does not.
func TestKeyedNamesNeedTheKey(t *testing.T) {
	c := newClock()
	plain, s, path := open(t, c)
	keyed := plain.Keyed([]byte("a key derived from the secret key file"))
	add(t, keyed, tenInTen, "login:my secret password")
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var stored string
	if err := raw.QueryRow(`SELECT key_hash FROM throttle_events`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tenInTen.Name + "\x00" + "login:my secret password"))
	if len(stored) != 64 || stored == hex.EncodeToString(sum[:]) {
		t.Errorf("stored name %q: want an HMAC, not the plain SHA-256", stored)
	}
	for range 9 {
		add(t, keyed, tenInTen, "login:my secret password")
	}
	same := throttle.New(s, c.now).Keyed([]byte("a key derived from the secret key file"))
	if check(t, same, tenInTen, "login:my secret password") == 0 {
		t.Error("a limiter with the same key does not see the count")
	}
	if check(t, plain.Keyed([]byte("another key")), tenInTen, "login:my secret password") != 0 {
		t.Error("a limiter with another key sees the count")
	}
}

// product.md §15: every refusal, by Check or by Take, is reported with
// its rule (the metrics count them); what goes ahead is not.
func TestRefusalsReported(t *testing.T) {
	c := newClock()
	base, _, _ := open(t, c)
	var refused []string
	l := base.OnRefusal(func(r throttle.Rule) { refused = append(refused, r.Name) })
	ctx := context.Background()
	one := throttle.Rule{Name: "one", Limit: 1, Window: time.Minute}
	if w, err := l.Take(ctx, one, "k"); err != nil || w != 0 {
		t.Fatalf("first Take = %v, %v", w, err)
	}
	if w, _ := l.Take(ctx, one, "k"); w == 0 {
		t.Fatal("second Take allowed")
	}
	if w := check(t, l, one, "k"); w == 0 {
		t.Fatal("Check allowed past the limit")
	}
	check(t, l, one, "other")
	if len(refused) != 2 || refused[0] != "one" || refused[1] != "one" {
		t.Errorf("refusals reported %v, want [one one]", refused)
	}
}
