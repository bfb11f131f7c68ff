package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"

	"gatehouse/account"
	"gatehouse/db"
)

// sessionPrefix starts the key of each session's data; the rest of the
// key is the token's hash.
const sessionPrefix = "gatehouse:session:"

// SessionStore is scs's Redis store behind a thin wrapper that hashes each
// token before it reaches Redis (db.HashToken, as with SQLite), so a copy
// of Redis (a dump, a replica, MONITOR) signs nobody in. Each session's
// data is one string key with a Redis expiry at the session's deadline.
//
// The user's list of sessions stays in the SQL database (user_sessions),
// which is why there is no per-user index here.
type SessionStore struct {
	rdb   *Client
	inner *goredisstore.RedisStore
}

var (
	_ scs.Store           = (*SessionStore)(nil)
	_ scs.CtxStore        = (*SessionStore)(nil)
	_ account.SessionData = (*SessionStore)(nil)
)

// SessionStore returns the scs store over this Redis.
func (c *Client) SessionStore() *SessionStore {
	return &SessionStore{rdb: c, inner: goredisstore.NewWithPrefix(c.rdb, sessionPrefix)}
}

// FindCtx implements scs.CtxStore. Redis drops a session at its expiry, so
// what it finds is live.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, ok, err := s.inner.FindCtx(ctx, db.HashToken(token))
	if err != nil {
		return nil, false, fmt.Errorf("redis: find session: %w", err)
	}
	return b, ok, nil
}

// CommitCtx implements scs.CtxStore. A session whose expiry has already
// passed is deleted instead of written: goredisstore turns the negative
// time left into a SET without expiry, which would keep it for ever.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if time.Until(expiry) < time.Millisecond {
		return s.DeleteCtx(ctx, token)
	}
	if err := s.inner.CommitCtx(ctx, db.HashToken(token), b, expiry); err != nil {
		return fmt.Errorf("redis: save session: %w", err)
	}
	return nil
}

// DeleteCtx implements scs.CtxStore.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	if err := s.inner.DeleteCtx(ctx, db.HashToken(token)); err != nil {
		return fmt.Errorf("redis: delete session: %w", err)
	}
	return nil
}

// Find implements scs.Store; scs itself calls FindCtx. (goredisstore's
// context-free methods panic, so these must not fall through to it.)
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store; scs itself calls CommitCtx.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store; scs itself calls DeleteCtx.
func (s *SessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteHashed removes the data stored under each token hash, in one
// command: the sessions that the account rules ended (sign-out elsewhere,
// revocation, password change, deletion). It is what makes such an end
// take effect on every instance at the next request (product.md §14).
func (s *SessionStore) DeleteHashed(ctx context.Context, hashes []string) error {
	if len(hashes) == 0 {
		return nil
	}
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = sessionPrefix + h
	}
	if err := s.rdb.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redis: delete session data: %w", err)
	}
	return nil
}

// HashedSession is one session's data as an SQL store keeps it: under
// its token's SHA-256, never the token.
type HashedSession struct {
	Hash   string
	Data   []byte
	Expiry time.Time
}

// Import writes session data copied from an SQL store (gatehouse copy)
// under the keys CommitCtx uses for the same tokens, so the sessions go on
// on instances that keep their data here. A session already past its
// expiry is left out. It returns how many it wrote.
func (s *SessionStore) Import(ctx context.Context, sessions []HashedSession) (int, error) {
	const batch = 1000
	n := 0
	for len(sessions) > 0 {
		chunk := sessions[:min(batch, len(sessions))]
		sessions = sessions[len(chunk):]
		_, err := s.rdb.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, h := range chunk {
				ttl := time.Until(h.Expiry)
				if ttl < time.Millisecond {
					continue
				}
				p.Set(ctx, sessionPrefix+h.Hash, h.Data, ttl)
				n++
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("redis: import sessions: %w", err)
		}
	}
	return n, nil
}
