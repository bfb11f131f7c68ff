package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/db"
)

// querier is what both the pool and a transaction offer, so a helper can
// run alone or inside a caller's transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SessionStore is scs's PostgreSQL store (pgxstore) behind a thin wrapper
// that hashes each token (db.HashToken) before it reaches the database, so
// the sessions table, like SQLite's, holds no token a copy could use.
//
// pgxstore implements only scs's context-taking methods: its plain Find,
// Commit and Delete panic ("missing context arg"). scs calls FindCtx and
// the others when a store has them, and this wrapper has both kinds, the
// plain ones with a background context, so scs.Store (which
// handlers.SessionStore requires) is satisfied without a panic in reach.
// It offers no All: iterating would yield hashes, which are no tokens.
type SessionStore struct {
	pg   *pgxstore.PostgresStore
	pool querier
}

var (
	_ scs.Store    = (*SessionStore)(nil)
	_ scs.CtxStore = (*SessionStore)(nil)
)

// SessionStore returns the scs store for this database. Its own cleanup
// goroutine is off (CleanUpInterval 0): Store.DeleteExpiredSessions does
// that job, for both tables at once, on the schedule of the cleanup that
// the server already runs.
func (s *Store) SessionStore() *SessionStore {
	return &SessionStore{
		pg:   pgxstore.NewWithConfig(s.pool, pgxstore.Config{CleanUpInterval: 0}),
		pool: s.pool,
	}
}

// FindCtx implements scs.CtxStore. pgxstore finds only data whose expiry
// is still ahead by the database's clock.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	return s.pg.FindCtx(ctx, db.HashToken(token))
}

// CommitCtx implements scs.CtxStore.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	return s.pg.CommitCtx(ctx, db.HashToken(token), b, expiry)
}

// DeleteCtx implements scs.CtxStore.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	return s.pg.DeleteCtx(ctx, db.HashToken(token))
}

// Find implements scs.Store for callers without a context.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store for callers without a context.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store for callers without a context.
func (s *SessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteHashed removes the session data stored under each token hash: the
// sessions that the account rules ended (revocation, password change,
// deletion), in one statement. The user_sessions trigger has usually done
// it already; this is the explicit step every backend takes, so revocation
// never rests on a trigger alone.
func (s *SessionStore) DeleteHashed(ctx context.Context, hashes []string) error {
	if len(hashes) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token = ANY ($1)`, hashes); err != nil {
		return fmt.Errorf("postgres: delete session data: %w", err)
	}
	return nil
}

// passedSecondFactor is a session's SecondFactor as read back (s is its
// user_sessions row): it passed a second factor and its account still has
// one, as db's look-ups read it (product.md §11: an account without a
// second factor never passes, whatever its sessions once proved). Each
// look-up reads what is committed, so removing the last factor takes
// effect at the next check on every instance.
const passedSecondFactor = `CASE WHEN s.second_factor THEN
		EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = s.user_id AND secret IS NOT NULL)
		OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = s.user_id)
	ELSE FALSE END`

const sessionColumns = `s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.method, ` + passedSecondFactor

// CreateSession records a new signed-in session and returns its id, or
// db.ErrAccountChanged when the account's password hash is no longer
// n.PasswordHash (changed, reset, or the account deleted while the sign-in
// checked the password).
//
// The INSERT reads the account FOR SHARE: a password change holds the row
// (its UPDATE) until it commits, so this waits, re-reads the row, sees the
// new hash and starts nothing; a change that comes after waits for this
// insert to commit and then ends the session with the others. Without the
// lock, the read would see the old hash of an uncommitted change and the
// session would outlive it.
//
// n.Event is inserted by the same statement, so the two start together or
// not at all. The commit waits as PostgreSQL is configured
// (synchronous_commit): that wait is the database server's, and holds
// none of Gatehouse's CPUs the way a SQLite commit does
// (db/durability.go).
func (s *Store) CreateSession(ctx context.Context, n db.NewSession) (int64, error) {
	insert := `
		INSERT INTO user_sessions (user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, method, second_factor)
		SELECT id, $1::text, $2::bigint, $10::bigint, $3::bigint, $4::text, $5::text, $8::text, $9::boolean
		FROM (SELECT id FROM users WHERE id = $6 AND password_hash = $7 FOR SHARE) AS u
		RETURNING id`
	args := []any{db.HashToken(n.Token), n.Now.Unix(), n.Expires.Unix(), n.IP, n.UserAgent,
		n.UserID, n.PasswordHash, n.SessionMethod(), n.SecondFactor, db.LastSeenUnix(n.Now)}
	if e := n.Event; e != nil {
		insert = `
		WITH s AS (` + insert + `), e AS (
			INSERT INTO security_events (user_id, at, kind, ip, user_agent, detail, actor_id)
			SELECT $6, $11, $12, $13, $14, $15, $16 FROM s
		)
		SELECT id FROM s`
		// As AddEvent stores it: no actor is NULL.
		var actor *int64
		if e.ActorID != 0 {
			actor = &e.ActorID
		}
		args = append(args, e.At.Unix(), e.Kind, e.IP, e.UserAgent, e.Detail, actor)
	}
	var id int64
	err := s.pool.QueryRow(ctx, insert, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, db.ErrAccountChanged
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: create session: %w", err)
	}
	return id, nil
}

// SessionUser loads, in one query, a live session and its user: the
// per-request lookup for a signed-in page. token is the cookie's token:
// the session is found only while it is still the session's token, so a
// token replaced by a renewal stays dead even if a request that started
// before the renewal saved the session data back under it (product.md
// §5). db.ErrNotFound when the session was ended (sign-out, revoke,
// account deleted) or its token replaced.
func (s *Store) SessionUser(ctx context.Context, sessionID int64, token string) (*db.User, db.Session, error) {
	var f userFields
	var created, lastSeen, expires int64
	var method string
	var secondFactor bool
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.username, u.email, u.password_hash, u.email_verified_at, u.created_at,
		       u.groups, u.is_admin, u.disabled_at,
		       s.created_at, s.last_seen_at, s.expires_at, s.method, `+passedSecondFactor+`
		FROM user_sessions AS s
		JOIN users AS u ON u.id = s.user_id
		WHERE s.id = $1 AND s.token_hash = $2`, sessionID, db.HashToken(token)).Scan(
		append(f.dest(), &created, &lastSeen, &expires, &method, &secondFactor)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.Session{}, db.ErrNotFound
	}
	if err != nil {
		return nil, db.Session{}, fmt.Errorf("postgres: load session: %w", err)
	}
	sess := db.Session{
		ID:           sessionID,
		UserID:       f.id,
		CreatedAt:    time.Unix(created, 0).UTC(),
		LastSeenAt:   time.Unix(lastSeen, 0).UTC(),
		ExpiresAt:    time.Unix(expires, 0).UTC(),
		Method:       method,
		SecondFactor: secondFactor,
	}
	return f.user(), sess, nil
}

// TouchSession moves a session's last-seen time forward. Callers rate-limit
// it so a page view does not write each time.
func (s *Store) TouchSession(ctx context.Context, sessionID int64, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE user_sessions SET last_seen_at = $1 WHERE id = $2`, db.LastSeenUnix(now), sessionID); err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	return nil
}

// RekeySession points a session at a new token after scs renewed it. Its
// absolute deadline stays: a renewal is not a new sign-in (product.md §5).
func (s *Store) RekeySession(ctx context.Context, sessionID int64, token string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE user_sessions SET token_hash = $1 WHERE id = $2`,
		db.HashToken(token), sessionID)
	if err == nil && tag.RowsAffected() == 0 {
		err = db.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: rekey session: %w", err)
	}
	return nil
}

// DeleteUserSession ends one session of one user and returns its token
// hash (the trigger also removes its scs row); db.ErrNotFound when the id
// is not one of theirs.
func (s *Store) DeleteUserSession(ctx context.Context, userID, sessionID int64) (string, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `
		DELETE FROM user_sessions WHERE id = $1 AND user_id = $2 RETURNING token_hash`,
		sessionID, userID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", db.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("postgres: end session: %w", err)
	}
	return hash, nil
}

// DeleteUserSessions ends every session of a user except keepID (0 keeps
// none) and returns the token hashes of those that ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID int64) ([]string, error) {
	hashes, err := deleteUserSessions(ctx, s.pool, userID, keepID)
	if err != nil {
		return nil, fmt.Errorf("postgres: end sessions: %w", err)
	}
	return hashes, nil
}

// deleteUserSessions is DeleteUserSessions inside a caller's transaction.
// Session ids start at 1, so keepID 0 keeps none.
func deleteUserSessions(ctx context.Context, q querier, userID, keepID int64) ([]string, error) {
	rows, err := q.Query(ctx, `
		DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2 RETURNING token_hash`, userID, keepID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// UserSessions lists a user's live sessions, newest first. The index on
// user_id keeps this from scanning other users' sessions.
func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]db.Session, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+sessionColumns+`
		FROM user_sessions AS s
		WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3
		ORDER BY last_seen_at DESC, id DESC`,
		userID, now.Unix(), now.Add(-idle).Unix())
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (db.Session, error) {
		var created, lastSeen, expires int64
		var sess db.Session
		err := r.Scan(&sess.ID, &sess.UserID, &created, &lastSeen, &expires, &sess.IP, &sess.UserAgent, &sess.Method, &sess.SecondFactor)
		sess.CreatedAt = time.Unix(created, 0).UTC()
		sess.LastSeenAt = time.Unix(lastSeen, 0).UTC()
		sess.ExpiresAt = time.Unix(expires, 0).UTC()
		return sess, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	if out == nil {
		out = []db.Session{}
	}
	return out, nil
}

// CountActiveSessions counts the signed-in sessions still live at now:
// before their deadline and used within idle (metrics, product.md §15).
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM user_sessions WHERE last_seen_at > $1 AND expires_at > $2`,
		now.Add(-idle).Unix(), now.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count sessions: %w", err)
	}
	return n, nil
}

// DeleteExpiredSessions removes sessions past their absolute deadline or
// idle for longer than idle (the trigger takes their scs rows along), and
// scs rows past their expiry (such as signed-out visitors' notice
// sessions). It returns how many signed-in sessions ended.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM user_sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		now.Unix(), now.Add(-idle).Unix())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < $1`, now); err != nil {
		return tag.RowsAffected(), fmt.Errorf("postgres: delete expired session data: %w", err)
	}
	return tag.RowsAffected(), nil
}
