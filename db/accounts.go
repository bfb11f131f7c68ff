package db

import (
	"context"
	"fmt"
)

// DeleteUser deletes an account and everything that belongs to it, in one
// transaction: its sessions (whose token hashes it returns, so the caller
// can remove their session data explicitly) and, through ON DELETE
// CASCADE, its link tokens; the user_sessions trigger removes the scs
// rows, so the user's cookies stop working at once. ErrNotFound when
// there is no such user.
func (s *Store) DeleteUser(ctx context.Context, userID int64) ([]string, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: delete account: %w", err)
	}
	defer tx.Rollback()
	hashes, err := deleteUserSessions(ctx, tx, userID, 0)
	if err != nil {
		return nil, fmt.Errorf("db: delete account: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID)
	if err := oneRow(res, err); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: delete account: %w", err)
	}
	s.cache.dropData(hashes...)
	return hashes, nil
}

// ChangePassword stores a new password hash and, in the same transaction,
// ends every session of the user except keepSessionID (0 keeps none) and
// voids every unused link (verification, email change, reset): whoever
// knew the old password, or held a session or a link from before, is out
// (product.md §5, §7). It returns the token hashes of the sessions that
// ended; ErrNotFound when there is no such user.
func (s *Store) ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) ([]string, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: change password: %w", err)
	}
	defer tx.Rollback()
	if err := setPasswordHash(ctx, tx, userID, hash); err != nil {
		return nil, err
	}
	ended, err := deleteUserSessions(ctx, tx, userID, keepSessionID)
	if err != nil {
		return nil, fmt.Errorf("db: change password: %w", err)
	}
	if err := voidLinkTokens(ctx, tx, userID); err != nil {
		return nil, fmt.Errorf("db: change password: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: change password: %w", err)
	}
	s.cache.dropData(ended...)
	return ended, nil
}

// ListUsers returns every account, oldest first, for the admin commands.
func (s *Store) ListUsers(ctx context.Context) ([]*User, error) {
	var rows []userRow
	if err := s.read.SelectContext(ctx, &rows, `SELECT `+userColumns+` FROM users ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]*User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}
