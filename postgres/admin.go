package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

// SetAdmin grants or takes away the admin role; db.ErrNotFound when there
// is no such account.
func (s *Store) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET is_admin = $1 WHERE id = $2`, admin, userID)
	if err != nil {
		return fmt.Errorf("postgres: set admin: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// SetDisabled disables the account as of at (a zero at enables it again)
// and, when disabling, ends every session of it in the same transaction,
// the account's row locked so no session of it can start meanwhile; it
// returns the ended sessions' token hashes. db.ErrNotFound when there is
// no such account. Disabling twice keeps the first time.
func (s *Store) SetDisabled(ctx context.Context, userID int64, at time.Time) ([]string, error) {
	var hashes []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, "FOR UPDATE"); err != nil {
			return err
		}
		if at.IsZero() {
			_, err := tx.Exec(ctx, `UPDATE users SET disabled_at = NULL WHERE id = $1`, userID)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, $1) WHERE id = $2`, at.Unix(), userID); err != nil {
			return err
		}
		var err error
		hashes, err = deleteUserSessions(ctx, tx, userID, 0)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: disable account: %w", err)
	}
	return hashes, nil
}
