package db

import "context"

// DeleteUser deletes an account and everything that belongs to it, in one
// statement: its sessions and link tokens go through ON DELETE CASCADE, and
// the user_sessions trigger removes the scs rows, so the user's cookies
// stop working at once. ErrNotFound when there is no such user.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID)
	return oneRow(res, err)
}

// ChangePassword stores a new password hash and, in the same transaction,
// ends every session of the user except keepSessionID (0 keeps none) and
// voids unused reset links: whoever knew the old password, or held a
// session or a link from before, is out. It returns how many sessions
// ended; ErrNotFound when there is no such user.
func (s *Store) ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) (int64, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := setPasswordHash(ctx, tx, userID, hash); err != nil {
		return 0, err
	}
	ended, err := deleteUserSessions(ctx, tx, userID, keepSessionID)
	if err != nil {
		return 0, err
	}
	if err := voidLinkTokens(ctx, tx, userID, TokenReset); err != nil {
		return 0, err
	}
	return ended, tx.Commit()
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
