package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/jmoiron/sqlx"
)

// HashToken is how a session or link token is stored: the hex SHA-256 of
// the token. Tokens carry 256 bits of randomness, so a fast hash is enough
// and a copy of the database signs nobody in.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SessionStore is scs's SQLite store behind a thin wrapper that hashes each
// token before it reaches the database. Finds use the read pool, writes the
// write pool.
type SessionStore struct {
	read  *sqlite3store.SQLite3Store
	write *sqlite3store.SQLite3Store
}

// SessionStore returns the scs store for this database. Its own cleanup
// goroutine is off: Store.DeleteExpiredSessions does that job, for both
// tables at once.
func (s *Store) SessionStore() *SessionStore {
	cfg := sqlite3store.Config{CleanUpInterval: 0}
	return &SessionStore{
		read:  sqlite3store.NewWithConfig(s.read.DB, cfg),
		write: sqlite3store.NewWithConfig(s.write.DB, cfg),
	}
}

// Find implements scs.Store.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.read.Find(HashToken(token))
}

// Commit implements scs.Store.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.write.Commit(HashToken(token), b, expiry)
}

// Delete implements scs.Store.
func (s *SessionStore) Delete(token string) error {
	return s.write.Delete(HashToken(token))
}

// Session describes one signed-in session (the user_sessions row).
type Session struct {
	ID         int64
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
}

// sessionRow is how a session is stored: times as Unix seconds.
type sessionRow struct {
	ID         int64  `db:"id"`
	UserID     int64  `db:"user_id"`
	CreatedAt  int64  `db:"created_at"`
	LastSeenAt int64  `db:"last_seen_at"`
	ExpiresAt  int64  `db:"expires_at"`
	IP         string `db:"ip"`
	UserAgent  string `db:"user_agent"`
}

func (r sessionRow) session() Session {
	return Session{
		ID:         r.ID,
		UserID:     r.UserID,
		CreatedAt:  time.Unix(r.CreatedAt, 0).UTC(),
		LastSeenAt: time.Unix(r.LastSeenAt, 0).UTC(),
		ExpiresAt:  time.Unix(r.ExpiresAt, 0).UTC(),
		IP:         r.IP,
		UserAgent:  r.UserAgent,
	}
}

// CreateSession records a new signed-in session for the given token and
// returns its id.
func (s *Store) CreateSession(ctx context.Context, userID int64, token string, now, expires time.Time, ip, userAgent string) (int64, error) {
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO user_sessions (user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		userID, HashToken(token), now.Unix(), now.Unix(), expires.Unix(), ip, userAgent)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// SessionUser loads, in one query, a live session and its user: the
// per-request lookup for a signed-in page. It returns ErrNotFound when the
// session was ended (sign-out, revoke, account deleted).
//
// It scans into plain variables rather than through sqlx's struct mapping:
// this runs on every signed-in request, and the reflection cost about a
// tenth of it (docs/PERFORMANCE.md).
func (s *Store) SessionUser(ctx context.Context, sessionID int64) (*User, Session, error) {
	var r userRow
	var lastSeen, expires int64
	err := s.read.QueryRowContext(ctx, `
		SELECT u.id, u.username, u.email, u.password_hash, u.email_verified_at, u.created_at,
		       s.last_seen_at, s.expires_at
		FROM user_sessions AS s
		JOIN users AS u ON u.id = s.user_id
		WHERE s.id = ?`, sessionID).Scan(
		&r.ID, &r.Username, &r.Email, &r.PasswordHash, &r.EmailVerifiedAt, &r.CreatedAt, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Session{}, ErrNotFound
	}
	if err != nil {
		return nil, Session{}, err
	}
	sess := Session{
		ID:         sessionID,
		UserID:     r.ID,
		LastSeenAt: time.Unix(lastSeen, 0).UTC(),
		ExpiresAt:  time.Unix(expires, 0).UTC(),
	}
	return r.user(), sess, nil
}

// TouchSession moves a session's last-seen time forward. Callers rate-limit
// it so a page view does not write each time.
func (s *Store) TouchSession(ctx context.Context, sessionID int64, now time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE user_sessions SET last_seen_at = ? WHERE id = ?`, now.Unix(), sessionID)
	return err
}

// RekeySession points a session at a new token after scs renewed it, and
// resets its absolute deadline as scs did.
func (s *Store) RekeySession(ctx context.Context, sessionID int64, token string, expires time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE user_sessions SET token_hash = ?, expires_at = ? WHERE id = ?`,
		HashToken(token), expires.Unix(), sessionID)
	return oneRow(res, err)
}

// DeleteSession ends one session; the trigger removes its scs row.
func (s *Store) DeleteSession(ctx context.Context, sessionID int64) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM user_sessions WHERE id = ?`, sessionID)
	return err
}

// DeleteUserSession ends one session of one user; ErrNotFound when the id
// is not one of theirs.
func (s *Store) DeleteUserSession(ctx context.Context, userID, sessionID int64) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM user_sessions WHERE id = ? AND user_id = ?`, sessionID, userID)
	return oneRow(res, err)
}

// DeleteUserSessions ends every session of a user except keepID (0 keeps
// none) and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID int64) (int64, error) {
	return deleteUserSessions(ctx, s.write, userID, keepID)
}

// deleteUserSessions is DeleteUserSessions inside a caller's transaction.
// Session ids start at 1, so keepID 0 keeps none.
func deleteUserSessions(ctx context.Context, x sqlx.ExecerContext, userID, keepID int64) (int64, error) {
	res, err := x.ExecContext(ctx, `DELETE FROM user_sessions WHERE user_id = ? AND id <> ?`, userID, keepID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// UserSessions lists a user's live sessions, newest first. The index on
// user_id keeps this from scanning other users' sessions.
func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]Session, error) {
	var rows []sessionRow
	err := s.read.SelectContext(ctx, &rows, `
		SELECT id, user_id, created_at, last_seen_at, expires_at, ip, user_agent
		FROM user_sessions
		WHERE user_id = ? AND expires_at > ? AND last_seen_at > ?
		ORDER BY last_seen_at DESC, id DESC`,
		userID, now.Unix(), now.Add(-idle).Unix())
	if err != nil {
		return nil, err
	}
	out := make([]Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out, nil
}

// DeleteExpiredSessions removes sessions past their absolute deadline or
// idle for longer than idle, and scs rows past their expiry (such as
// signed-out visitors' notice sessions).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	res, err := s.write.ExecContext(ctx, `
		DELETE FROM user_sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
		now.Unix(), now.Add(-idle).Unix())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return n, err
	}
	_, err = s.write.ExecContext(ctx, `DELETE FROM sessions WHERE expiry < julianday(?)`,
		now.UTC().Format("2006-01-02T15:04:05.999"))
	return n, err
}
