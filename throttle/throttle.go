// Package throttle limits how often something may happen per key (an
// account, a client address, a session): at most Limit events in any
// Window, a sliding window exact to the nanosecond.
//
// The events are kept in a Store, not in process memory: with one SQLite
// database they live in it, so a restart does not reset them, and no
// flood of other keys can push a count out (product.md §6). Several
// instances sharing a database (or Redis) share the counts. Keys reach the
// store only as SHA-256 hashes: a sign-in name may be a password typed
// into the wrong field, and it must not sit in the database in clear.
package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Store keeps timestamped events per key. Keys are opaque hashes; times
// are Unix nanoseconds.
type Store interface {
	// CountEvents returns how many events key has at or after since, and
	// the time of the oldest of them (0 when there are none).
	CountEvents(ctx context.Context, key string, since int64) (n int, oldest int64, err error)
	// AddEvents records one event at the time given for each key, at once.
	AddEvents(ctx context.Context, keys []string, at int64) error
	// TakeEvent records an event for key only if fewer than limit are
	// counted at or after since, as one atomic step, and reports whether
	// it did; when it did not, oldest is the oldest event counted.
	TakeEvent(ctx context.Context, key string, at, since int64, limit int) (ok bool, oldest int64, err error)
}

// Rule is a limit: at most Limit events in any Window. Name keeps the
// counts of different rules apart when they use the same key.
type Rule struct {
	Name   string
	Limit  int
	Window time.Duration
}

// Limiter applies rules to keys over a Store.
type Limiter struct {
	store Store
	now   func() time.Time
	key   []byte // HMAC key for store keys; nil: plain SHA-256
	// refused hears every refusal (the metrics count them); nil: nobody.
	refused func(Rule)
}

// New returns a Limiter over store. now is the clock (nil: time.Now).
func New(store Store, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: store, now: now}
}

// Keyed returns a limiter that names keys in the store by HMAC-SHA256
// under key (derived from the server's secret key) instead of plain
// SHA-256: a copy of the database then cannot be searched for a name typed
// (a password, perhaps) by hashing guesses. Instances sharing counts must
// use the same key.
func (l *Limiter) Keyed(key []byte) *Limiter {
	k := *l
	k.key = key
	return &k
}

// OnRefusal returns a limiter that calls f with the rule each time Check
// or Take refuses (product.md §15: throttle refusals are counted).
func (l *Limiter) OnRefusal(f func(Rule)) *Limiter {
	k := *l
	k.refused = f
	return &k
}

// refuse reports a refusal under r and returns its wait.
func (l *Limiter) refuse(r Rule, oldest, now int64) time.Duration {
	if l.refused != nil {
		l.refused(r)
	}
	return wait(r, oldest, now)
}

// Now is the limiter's clock.
func (l *Limiter) Now() time.Time { return l.now() }

// storeKey is how key is named in the store under rule.
func (l *Limiter) storeKey(r Rule, key string) string {
	if l.key == nil {
		sum := sha256.Sum256([]byte(r.Name + "\x00" + key))
		return hex.EncodeToString(sum[:])
	}
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(r.Name + "\x00" + key))
	return hex.EncodeToString(m.Sum(nil))
}

// Check reports how long key must wait before the next event is allowed
// under r: zero when it may go ahead now. It records nothing.
func (l *Limiter) Check(ctx context.Context, r Rule, key string) (time.Duration, error) {
	now := l.now().UnixNano()
	n, oldest, err := l.store.CountEvents(ctx, l.storeKey(r, key), now-int64(r.Window)+1)
	if err != nil {
		return 0, fmt.Errorf("throttle: count %s: %w", r.Name, err)
	}
	if n < r.Limit {
		return 0, nil
	}
	return l.refuse(r, oldest, now), nil
}

// Add records one event under r for each key (a failed sign-in counts
// against the account and the address at once).
func (l *Limiter) Add(ctx context.Context, r Rule, keys ...string) error {
	hashed := make([]string, len(keys))
	for i, k := range keys {
		hashed[i] = l.storeKey(r, k)
	}
	if err := l.store.AddEvents(ctx, hashed, l.now().UnixNano()); err != nil {
		return fmt.Errorf("throttle: record %s: %w", r.Name, err)
	}
	return nil
}

// Take records an event for key under r if the limit allows it, in one
// step, so that of many concurrent takers no more than Limit get through.
// It returns zero when the event was recorded, else how long to wait.
func (l *Limiter) Take(ctx context.Context, r Rule, key string) (time.Duration, error) {
	now := l.now().UnixNano()
	ok, oldest, err := l.store.TakeEvent(ctx, l.storeKey(r, key), now, now-int64(r.Window)+1, r.Limit)
	if err != nil {
		return 0, fmt.Errorf("throttle: take %s: %w", r.Name, err)
	}
	if ok {
		return 0, nil
	}
	return l.refuse(r, oldest, now), nil
}

// wait is the time until the oldest counted event leaves the window: at
// least a nanosecond, so that a refusal never reads as "go ahead".
func wait(r Rule, oldest, now int64) time.Duration {
	return max(time.Duration(oldest+int64(r.Window)-now), 1)
}
