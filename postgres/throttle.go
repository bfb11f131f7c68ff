package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The throttle's events (package throttle uses these through its Store
// interface). Keys arrive hashed; times are Unix nanoseconds.

// CountEvents returns how many events key has at or after since, and the
// oldest of them (0 when there are none).
func (s *Store) CountEvents(ctx context.Context, key string, since int64) (int, int64, error) {
	var n int
	var oldest *int64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), min(at) FROM throttle_events WHERE key_hash = $1 AND at >= $2`,
		key, since).Scan(&n, &oldest)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: count throttle events: %w", err)
	}
	if oldest == nil {
		return n, 0, nil
	}
	return n, *oldest, nil
}

// AddEvents records one event at at for each key, in one statement.
func (s *Store) AddEvents(ctx context.Context, keys []string, at int64) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO throttle_events (key_hash, at) SELECT k, $2::bigint FROM unnest($1::text[]) AS k`,
		keys, at)
	if err != nil {
		return fmt.Errorf("postgres: record throttle events: %w", err)
	}
	return nil
}

// TakeEvent records an event for key when fewer than limit are counted at
// or after since, and reports whether it did; when it did not, oldest is
// the oldest event counted.
//
// Counting and inserting in one statement is not enough here, as it is on
// SQLite's one write connection: under READ COMMITTED two transactions
// would each count the other's insert out and both slip under the limit.
// So the transaction first takes an advisory lock on the key (class
// lockThrottle, object hashtext(key)). Takers of one key, in any instance
// on this database, queue there; each counts only after the one before it
// committed, and its statement's fresh snapshot sees that insert. The lock
// ends with the transaction. Two keys whose 32-bit hashes collide merely
// queue together.
func (s *Store) TakeEvent(ctx context.Context, key string, at, since int64, limit int) (bool, int64, error) {
	var took bool
	var oldest *int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockThrottle, key); err != nil {
			return err
		}
		// The outer SELECT does not see the CTE's insert (one snapshot),
		// so oldest is of the events counted.
		return tx.QueryRow(ctx, `
			WITH taken AS (
			    INSERT INTO throttle_events (key_hash, at)
			    SELECT $1::text, $2::bigint
			    WHERE (SELECT count(*) FROM throttle_events WHERE key_hash = $1 AND at >= $3) < $4
			    RETURNING 1
			)
			SELECT EXISTS (SELECT 1 FROM taken),
			       (SELECT min(at) FROM throttle_events WHERE key_hash = $1 AND at >= $3)`,
			key, at, since, limit).Scan(&took, &oldest)
	})
	if err != nil {
		return false, 0, fmt.Errorf("postgres: take throttle event: %w", err)
	}
	if took || oldest == nil {
		return took, 0, nil
	}
	return false, *oldest, nil
}

// DeleteEventsBefore removes throttle events older than before (Unix
// nanoseconds): past every window, they count for nothing.
func (s *Store) DeleteEventsBefore(ctx context.Context, before int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM throttle_events WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete old throttle events: %w", err)
	}
	return tag.RowsAffected(), nil
}
