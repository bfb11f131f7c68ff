package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"gatehouse/account"
	"gatehouse/db"
)

// oneTimePrefix starts the keys of short-lived values: the
// authenticator's replay guard and WebAuthn challenges. The rest is the
// SHA-256 of the key, as in the SQL stores.
const oneTimePrefix = "gatehouse:onetime:"

// OneTimeStore keeps short-lived values in Redis, shared by every instance
// (product.md §14), each expiring on its own.
type OneTimeStore struct{ rdb *goredis.Client }

var _ account.OneTime = (*OneTimeStore)(nil)

// OneTimeStore returns the one-time store over this Redis.
func (c *Client) OneTimeStore() *OneTimeStore { return &OneTimeStore{rdb: c.rdb} }

func oneTimeKey(key string) string { return oneTimePrefix + db.HashToken(key) }

// ClaimOnce records key until expires and reports whether it was new:
// SET NX, so of two instances claiming at once one wins.
func (s *OneTimeStore) ClaimOnce(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	err := s.rdb.SetArgs(ctx, oneTimeKey(key), "", goredis.SetArgs{Mode: "NX", ExpireAt: expires}).Err()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis: claim: %w", err)
	}
	return true, nil
}

// PutOneTime keeps value under key until expires.
func (s *OneTimeStore) PutOneTime(ctx context.Context, key string, value []byte, expires time.Time) error {
	if err := s.rdb.SetArgs(ctx, oneTimeKey(key), value, goredis.SetArgs{ExpireAt: expires}).Err(); err != nil {
		return fmt.Errorf("redis: keep challenge: %w", err)
	}
	return nil
}

// TakeOneTime returns and removes the value under key (GETDEL: of two
// takes, one gets it); db.ErrNotFound when there is none or it expired.
func (s *OneTimeStore) TakeOneTime(ctx context.Context, key string, now time.Time) ([]byte, error) {
	b, err := s.rdb.GetDel(ctx, oneTimeKey(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: take challenge: %w", err)
	}
	return b, nil
}
