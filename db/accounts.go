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
