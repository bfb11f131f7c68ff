// Package throttle counts failed attempts per key (an account, a client
// address) and says when a key has used up its allowance: at most Limit
// failures in any Window (a sliding window, exact to the nanosecond),
// attempts still in flight counting as failures until they end.
//
// The web layer sees only the Limiter interface, so the counts can later
// live in a shared store such as Redis when several Gatehouse instances
// serve one site; Memory is the in-process implementation.
package throttle

import (
	"container/list"
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter counts failures per key.
//
// Reserve is called before an attempt is checked and holds a place for it
// at once, so that concurrent attempts cannot all slip past the limit while
// the first ones are still being checked. The attempt then ends with Settle
// (it failed: its place stays, as a failure) or Cancel (it succeeded, or was
// never checked: its place is freed). Only failures count in the end.
//
// Places held by attempts still in flight are told apart from settled
// failures, so that a refusal can say whether waiting a moment may help
// (attempts in flight end within the time of a hash) or only waiting for
// the window (settled failures). A shared store such as Redis can keep
// both in one sorted set per key, scored by the time of the attempt.
type Limiter interface {
	// Reserve holds a place for one attempt on key, or, when key already
	// has Limit attempts in the window (in flight or failed), holds nothing
	// and says so in the Reservation.
	Reserve(ctx context.Context, key string) (Reservation, error)
	// Settle turns a held place into a failure. A refused reservation, or
	// one already ended, is ignored.
	Settle(ctx context.Context, r Reservation) error
	// Cancel frees a held place: the attempt was no failure. A refused
	// reservation, or one already ended, is ignored.
	Cancel(ctx context.Context, r Reservation) error
}

// Reservation is the answer of Reserve: a held place, or a refusal.
type Reservation struct {
	Key string
	// ID names the held place; zero when the attempt was refused.
	ID uint64
	// RetryAfter is zero when a place is held. On a refusal it is how long
	// until the oldest attempt counted for the key leaves the window.
	RetryAfter time.Duration
	// InFlight, on a refusal, says that some of the attempts counted are
	// still being checked: their places free up (or become failures) in
	// moments, so trying again soon may work, long before RetryAfter.
	InFlight bool
}

// Refused reports whether the attempt was refused.
func (r Reservation) Refused() bool { return r.ID == 0 }

// Options configure a Memory limiter.
type Options struct {
	Limit   int           // failures allowed per key in a window; default 10
	Window  time.Duration // default 10 minutes
	MaxKeys int           // keys remembered at most; default 100,000
	// InFlightFor is how long a held place counts as in flight at most;
	// after that it counts as a failure, for an attempt that never said
	// how it ended (its request died). Default 1 minute: no request runs
	// longer (the server's write timeout).
	InFlightFor time.Duration
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
}

const shardCount = 16

// Memory is a Limiter in process memory. Its memory is bounded by MaxKeys
// however many keys an attacker makes up: when full, it forgets the key
// touched least recently (after dropping keys whose failures all expired).
// Keys are stored as 64-bit seeded hashes, so a long key costs no more than
// a short one and nobody can aim for a collision.
type Memory struct {
	limit       int
	window      time.Duration
	inFlightFor time.Duration
	perShard    int
	now         func() time.Time
	seed        maphash.Seed
	lastID      atomic.Uint64
	shards      [shardCount]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[uint64]*list.Element // of *entry
	lru  *list.List               // front: touched most recently
}

// entry holds a key's attempts still in the window, oldest first; never
// more than limit of them.
type entry struct {
	key   uint64
	slots []slot
}

// slot is one attempt counted for a key: in flight while id is set, a
// failure once settled (id zero).
type slot struct {
	at int64 // unix nanoseconds of the attempt's start
	id uint64
}

// NewMemory returns an in-memory Limiter.
func NewMemory(o Options) *Memory {
	if o.Limit <= 0 {
		o.Limit = 10
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	if o.InFlightFor <= 0 {
		o.InFlightFor = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{
		limit:       o.Limit,
		window:      o.Window,
		inFlightFor: o.InFlightFor,
		perShard:    max(1, o.MaxKeys/shardCount),
		now:         o.Now,
		seed:        maphash.MakeSeed(),
	}
	for i := range m.shards {
		m.shards[i].keys = map[uint64]*list.Element{}
		m.shards[i].lru = list.New()
	}
	return m
}

func (m *Memory) locate(key string) (*shard, uint64) {
	h := maphash.String(m.seed, key)
	return &m.shards[h%shardCount], h
}

// Reserve implements Limiter.
func (m *Memory) Reserve(_ context.Context, key string) (Reservation, error) {
	now := m.now().UnixNano()
	s, h := m.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()

	el, ok := s.keys[h]
	if !ok {
		m.makeRoom(s)
		el = s.lru.PushFront(&entry{key: h, slots: make([]slot, 0, m.limit)})
		s.keys[h] = el
	}
	s.lru.MoveToFront(el)
	e := el.Value.(*entry)
	m.expire(e, now)
	if len(e.slots) >= m.limit {
		r := Reservation{Key: key, RetryAfter: time.Duration(e.slots[0].at + int64(m.window) - now)}
		stale := now - int64(m.inFlightFor)
		for _, sl := range e.slots {
			if sl.id != 0 && sl.at > stale {
				r.InFlight = true
				break
			}
		}
		return r, nil
	}
	id := m.lastID.Add(1)
	e.slots = append(e.slots, slot{at: now, id: id})
	return Reservation{Key: key, ID: id}, nil
}

// Settle implements Limiter.
func (m *Memory) Settle(_ context.Context, r Reservation) error {
	m.end(r, func(e *entry, i int) { e.slots[i].id = 0 })
	return nil
}

// Cancel implements Limiter.
func (m *Memory) Cancel(_ context.Context, r Reservation) error {
	m.end(r, func(e *entry, i int) { e.slots = append(e.slots[:i], e.slots[i+1:]...) })
	return nil
}

// end applies fn to r's held place, if it is still there (it may have left
// the window, or its key been forgotten), and forgets a key left empty.
func (m *Memory) end(r Reservation, fn func(e *entry, i int)) {
	if r.ID == 0 {
		return
	}
	s, h := m.locate(r.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.keys[h]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	for i := range e.slots {
		if e.slots[i].id == r.ID {
			fn(e, i)
			break
		}
	}
	if len(e.slots) == 0 {
		s.lru.Remove(el)
		delete(s.keys, h)
	}
}

// expire drops attempts that have left the window.
func (m *Memory) expire(e *entry, now int64) {
	cut := now - int64(m.window)
	n := 0
	for n < len(e.slots) && e.slots[n].at <= cut {
		n++
	}
	if n > 0 {
		e.slots = append(e.slots[:0], e.slots[n:]...)
	}
}

// makeRoom frees a slot in a full shard by forgetting the least recently
// touched key: the one whose failures are the oldest, most likely expired.
func (m *Memory) makeRoom(s *shard) {
	for s.lru.Len() >= m.perShard {
		el := s.lru.Back()
		delete(s.keys, el.Value.(*entry).key)
		s.lru.Remove(el)
	}
}

// Len is the number of keys remembered (for tests and metrics).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
