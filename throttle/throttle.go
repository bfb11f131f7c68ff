// Package throttle counts failed attempts per key (an account, a client
// address) and says when a key has used up its allowance: at most Limit
// failures in any Window (a sliding window, exact to the nanosecond).
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
	"time"
)

// Limiter counts failures per key.
//
// Reserve is called before an attempt is checked and counts it as a
// failure up front, so that concurrent attempts cannot all slip past the
// limit while the first ones are still being checked. An attempt that then
// succeeds is taken back with Cancel: only failures count.
type Limiter interface {
	// Reserve counts one attempt for key and returns 0, or, when key
	// already has Limit failures in the window, counts nothing and returns
	// how long until the oldest of them leaves the window.
	Reserve(ctx context.Context, key string) (retryAfter time.Duration, err error)
	// Cancel takes back key's most recent reserved attempt.
	Cancel(ctx context.Context, key string) error
}

// Options configure a Memory limiter.
type Options struct {
	Limit   int           // failures allowed per key in a window; default 10
	Window  time.Duration // default 10 minutes
	MaxKeys int           // keys remembered at most; default 100,000
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
	limit    int
	window   time.Duration
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [shardCount]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[uint64]*list.Element // of *entry
	lru  *list.List               // front: touched most recently
}

// entry holds the times of a key's failures still in the window, oldest
// first; never more than limit of them.
type entry struct {
	key   uint64
	times []int64 // unix nanoseconds
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
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{
		limit:    o.Limit,
		window:   o.Window,
		perShard: max(1, o.MaxKeys/shardCount),
		now:      o.Now,
		seed:     maphash.MakeSeed(),
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
func (m *Memory) Reserve(_ context.Context, key string) (time.Duration, error) {
	now := m.now().UnixNano()
	s, h := m.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()

	el, ok := s.keys[h]
	if !ok {
		m.makeRoom(s)
		el = s.lru.PushFront(&entry{key: h, times: make([]int64, 0, m.limit)})
		s.keys[h] = el
	}
	s.lru.MoveToFront(el)
	e := el.Value.(*entry)
	m.expire(e, now)
	if len(e.times) >= m.limit {
		return time.Duration(e.times[0] + int64(m.window) - now), nil
	}
	e.times = append(e.times, now)
	return 0, nil
}

// Cancel implements Limiter.
func (m *Memory) Cancel(_ context.Context, key string) error {
	s, h := m.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.keys[h]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if len(e.times) > 0 {
		e.times = e.times[:len(e.times)-1]
	}
	if len(e.times) == 0 {
		s.lru.Remove(el)
		delete(s.keys, h)
	}
	return nil
}

// expire drops failures that have left the window.
func (m *Memory) expire(e *entry, now int64) {
	cut := now - int64(m.window)
	n := 0
	for n < len(e.times) && e.times[n] <= cut {
		n++
	}
	if n > 0 {
		e.times = append(e.times[:0], e.times[n:]...)
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
