package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"gatehouse/throttle"
)

// throttlePrefix starts the key of each throttle key's events; the rest
// is the key, which package throttle has already hashed.
const throttlePrefix = "gatehouse:throttle:"

// ThrottleStore keeps the throttle's events in Redis, shared by every
// instance (product.md §14), with the same meaning as the SQLite store
// (db/throttle.go): a sliding window exact to the nanosecond.
//
// Each key is one sorted set, one member per event. The member is the
// event's time as 20 fixed-width digits, then ":" and random hex, so that
// two events at the same nanosecond stay two. All scores are 0 and the
// set is read in lexicographic order (ZLEXCOUNT, ZRANGEBYLEX): a score is
// a float64, which holds Unix nanoseconds only to about 256 ns today,
// while fixed-width digits compare exactly.
//
// Events older than keep count for nothing: each write trims them and
// sets the key to expire keep after it, so neither a set nor the number
// of keys grows without bound, and no flood of other keys can push a
// count out. That holds only while Redis evicts nothing: every key here
// has an expiry, so the volatile-* policies may drop them as well as the
// allkeys-* ones; Redis's default, maxmemory-policy noeviction, is right.
type ThrottleStore struct {
	rdb  *goredis.Client
	keep time.Duration
}

var _ throttle.Store = (*ThrottleStore)(nil)

// defaultKeep is keep when none is given: twice account.LongestWindow.
const defaultKeep = 2 * time.Hour

// ThrottleStore returns the throttle store over this Redis. keep must be
// at least the longest window of any rule (account.LongestWindow); a
// little longer costs nothing. Zero or less means two hours, rather than
// events that vanish at once and a throttle that never refuses.
func (c *Client) ThrottleStore(keep time.Duration) *ThrottleStore {
	if keep <= 0 {
		keep = defaultKeep
	}
	return &ThrottleStore{rdb: c.rdb, keep: keep}
}

// encodeAt writes t as 20 digits that sort as the times do: the sign bit
// flipped turns int64 order into uint64 order, and 20 digits hold any
// uint64.
func encodeAt(t int64) string {
	return fmt.Sprintf("%020d", uint64(t)^(1<<63))
}

// decodeAt reads the time at the start of a member ("" is 0: no event).
func decodeAt(member string) (int64, error) {
	if member == "" {
		return 0, nil
	}
	if len(member) < 20 {
		return 0, fmt.Errorf("redis: malformed throttle event %q", member)
	}
	u, err := strconv.ParseUint(member[:20], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: malformed throttle event %q", member)
	}
	return int64(u ^ (1 << 63)), nil
}

// newMember names one event at t.
func newMember(t int64) string {
	var b [8]byte
	rand.Read(b[:])
	return encodeAt(t) + ":" + hex.EncodeToString(b[:])
}

// sub is a - b, saturated at the int64 bounds.
func sub(a int64, b time.Duration) int64 {
	if d := int64(b); d > 0 && a < math.MinInt64+d {
		return math.MinInt64
	}
	return a - int64(b)
}

// ms is d in whole milliseconds, rounded up, at least 1.
func ms(d time.Duration) int64 {
	return max((int64(d)+int64(time.Millisecond)-1)/int64(time.Millisecond), 1)
}

// CountEvents implements throttle.Store: the count and the oldest are read
// in one MULTI, so they agree.
func (s *ThrottleStore) CountEvents(ctx context.Context, key string, since int64) (int, int64, error) {
	k, from := throttlePrefix+key, "["+encodeAt(since)
	var n *goredis.IntCmd
	var first *goredis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		n = p.ZLexCount(ctx, k, from, "+")
		first = p.ZRangeByLex(ctx, k, &goredis.ZRangeBy{Min: from, Max: "+", Count: 1})
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("redis: count throttle events: %w", err)
	}
	var oldest int64
	if members := first.Val(); len(members) > 0 {
		if oldest, err = decodeAt(members[0]); err != nil {
			return 0, 0, err
		}
	}
	return int(n.Val()), oldest, nil
}

// addScript records one event (ARGV[1], the member) in every key, trims
// each key's events older than ARGV[2] (an encoded time) and sets each
// key to expire in ARGV[3] milliseconds: one command, so all keys get
// their event at once, as in one SQL transaction.
var addScript = goredis.NewScript(`
for _, k in ipairs(KEYS) do
	redis.call('ZADD', k, 0, ARGV[1])
	redis.call('ZREMRANGEBYLEX', k, '-', '(' .. ARGV[2])
	redis.call('PEXPIRE', k, ARGV[3])
end
return 0
`)

// AddEvents implements throttle.Store. One member serves every key: it
// needs to be unique within a set, and each set gets one event.
func (s *ThrottleStore) AddEvents(ctx context.Context, keys []string, at int64) error {
	if len(keys) == 0 {
		return nil
	}
	ks := make([]string, len(keys))
	for i, k := range keys {
		ks[i] = throttlePrefix + k
	}
	err := addScript.Run(ctx, s.rdb, ks, newMember(at), encodeAt(sub(at, s.keep)), ms(s.keep)).Err()
	if err != nil {
		return fmt.Errorf("redis: record throttle events: %w", err)
	}
	return nil
}

// takeScript is TakeEvent in one atomic step: trim what is older than
// ARGV[2], count the events from ARGV[1] on, and below the limit ARGV[3]
// add the member ARGV[4] and set the expiry to ARGV[5] milliseconds.
// It returns {1, ""} when it added, else {0, the oldest counted member}
// ("" when there is none, with a limit of 0).
var takeScript = goredis.NewScript(`
local k = KEYS[1]
redis.call('ZREMRANGEBYLEX', k, '-', '(' .. ARGV[2])
local from = '[' .. ARGV[1]
if redis.call('ZLEXCOUNT', k, from, '+') < tonumber(ARGV[3]) then
	redis.call('ZADD', k, 0, ARGV[4])
	redis.call('PEXPIRE', k, ARGV[5])
	return {1, ''}
end
local first = redis.call('ZRANGEBYLEX', k, from, '+', 'LIMIT', 0, 1)
return {0, first[1] or ''}
`)

// TakeEvent implements throttle.Store. Nothing the count reads is
// trimmed, and the key outlives the window, even should a rule's window
// be longer than keep.
func (s *ThrottleStore) TakeEvent(ctx context.Context, key string, at, since int64, limit int) (bool, int64, error) {
	cutoff := min(sub(at, s.keep), since)
	ttl := s.keep
	if w := time.Duration(at - since); w > ttl {
		ttl = w
	}
	res, err := takeScript.Run(ctx, s.rdb, []string{throttlePrefix + key},
		encodeAt(since), encodeAt(cutoff), limit, newMember(at), ms(ttl)).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis: take throttle event: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis: take throttle event: unexpected reply %v", res)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		return true, 0, nil
	}
	member, _ := res[1].(string)
	oldest, err := decodeAt(member)
	if err != nil {
		return false, 0, err
	}
	return false, oldest, nil
}
