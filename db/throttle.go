package db

import (
	"context"
	"database/sql"
	"fmt"
)

// The throttle's events (package throttle uses these through its Store
// interface). Keys arrive hashed.

// CountEvents returns how many events key has at or after since, and the
// oldest of them.
func (s *Store) CountEvents(ctx context.Context, key string, since int64) (int, int64, error) {
	var n int
	var oldest sql.NullInt64
	err := s.read.QueryRowContext(ctx, `
		SELECT count(*), min(at) FROM throttle_events WHERE key_hash = ? AND at >= ?`,
		key, since).Scan(&n, &oldest)
	if err != nil {
		return 0, 0, fmt.Errorf("db: count throttle events: %w", err)
	}
	return n, oldest.Int64, nil
}

// AddEvents records one event at at for each key, in one transaction.
func (s *Store) AddEvents(ctx context.Context, keys []string, at int64) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: record throttle events: %w", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_events (key_hash, at) VALUES (?, ?)`, k, at); err != nil {
			return fmt.Errorf("db: record throttle events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: record throttle events: %w", err)
	}
	return nil
}

// TakeEvent records an event for key when fewer than limit are counted at
// or after since. The count and the insert are one statement on the one
// write connection, so concurrent takers cannot both slip under the limit.
func (s *Store) TakeEvent(ctx context.Context, key string, at, since int64, limit int) (bool, int64, error) {
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO throttle_events (key_hash, at)
		SELECT ?, ? WHERE (SELECT count(*) FROM throttle_events WHERE key_hash = ? AND at >= ?) < ?`,
		key, at, key, since, limit)
	if err != nil {
		return false, 0, fmt.Errorf("db: take throttle event: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, 0, fmt.Errorf("db: take throttle event: %w", err)
	} else if n == 1 {
		return true, 0, nil
	}
	var oldest sql.NullInt64
	err = s.write.QueryRowContext(ctx, `
		SELECT min(at) FROM throttle_events WHERE key_hash = ? AND at >= ?`, key, since).Scan(&oldest)
	if err != nil {
		return false, 0, fmt.Errorf("db: take throttle event: %w", err)
	}
	return false, oldest.Int64, nil
}

// DeleteEventsBefore removes throttle events older than before (Unix
// nanoseconds): past every window, they count for nothing.
func (s *Store) DeleteEventsBefore(ctx context.Context, before int64) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM throttle_events WHERE at < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("db: delete old throttle events: %w", err)
	}
	return res.RowsAffected()
}
