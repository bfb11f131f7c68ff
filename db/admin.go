package db

import (
	"context"
	"fmt"
	"time"
)

// The admin role and disabled accounts (product.md §13). Both are columns
// of users (is_admin, disabled_at); changing them moves the generation
// counter (migration 0004's trigger on users), so every process drops
// what its session cache holds at the next request.

// SetAdmin grants or takes away the admin role; ErrNotFound when there
// is no such account.
func (s *Store) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	res, err := s.write.ExecContext(ctx, `UPDATE users SET is_admin = ? WHERE id = ?`, admin, userID)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("db: set admin: %w", err)
	}
	return nil
}

// SetDisabled disables the account as of at (a zero at enables it again)
// and, when disabling, ends every session of it in the same transaction;
// it returns the ended sessions' token hashes, for the session data to
// go too. ErrNotFound when there is no such account. Disabling an account
// that is disabled already keeps the first time.
func (s *Store) SetDisabled(ctx context.Context, userID int64, at time.Time) ([]string, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: disable account: %w", err)
	}
	defer tx.Rollback()
	if at.IsZero() {
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = NULL WHERE id = ?`, userID)
		if err := oneRow(res, err); err != nil {
			return nil, fmt.Errorf("db: enable account: %w", err)
		}
		return nil, tx.Commit()
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?`, at.Unix(), userID)
	if err := oneRow(res, err); err != nil {
		return nil, fmt.Errorf("db: disable account: %w", err)
	}
	hashes, err := deleteUserSessions(ctx, tx, userID, 0)
	if err != nil {
		return nil, fmt.Errorf("db: disable account: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: disable account: %w", err)
	}
	s.cache.dropData(hashes...)
	return hashes, nil
}
