package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
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
// token before it reaches the database. Finds use the read pool (and the
// session cache, db/cache.go), writes the write pool.
type SessionStore struct {
	store *Store // its cache, and lazily for Commit
	read  *sqlite3store.SQLite3Store
	write *sqlite3store.SQLite3Store
}

// SessionStore returns the scs store for this database. Its own cleanup
// goroutine is off: Store.DeleteExpiredSessions does that job, for both
// tables at once.
func (s *Store) SessionStore() *SessionStore { return s.sessions }

func newSessionStore(s *Store) *SessionStore {
	cfg := sqlite3store.Config{CleanUpInterval: 0}
	return &SessionStore{
		store: s,
		read:  sqlite3store.NewWithConfig(s.read.DB, cfg),
		write: sqlite3store.NewWithConfig(s.write.DB, cfg),
	}
}

// Find implements scs.Store.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	hash := HashToken(token)
	if b, ok := s.store.cache.getData(hash); ok {
		return b, true, nil
	}
	gen := s.store.cache.generation()
	b, found, err := s.read.Find(hash)
	if err != nil || !found {
		return b, found, err
	}
	// scs's SQLite store does not return the row's expiry, which is the
	// session's deadline; the data holds it too.
	if deadline, _, err := (SessionCodec{}).Decode(b); err == nil {
		s.store.cache.putData(hash, b, deadline, gen)
	}
	return b, true, nil
}

// Commit implements scs.Store. It writes what sqlite3store would, but
// without waiting for the disk (durability.go): session data only adds to
// a session, and what ends one (Delete, and the user_sessions row that
// every signed-in request needs) still waits.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	hash := HashToken(token)
	ctx := context.Background()
	err := s.store.lazily(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `REPLACE INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))`,
			hash, b, expiry.UTC().Format("2006-01-02T15:04:05.999"))
		return err
	})
	if err != nil {
		s.store.cache.dropData(hash)
		return err
	}
	s.store.cache.putData(hash, b, expiry, s.store.cache.generation())
	return nil
}

// Delete implements scs.Store.
func (s *SessionStore) Delete(token string) error {
	hash := HashToken(token)
	s.store.cache.dropData(hash)
	return s.write.Delete(hash)
}

// DeleteHashed removes the session data stored under each token hash: the
// sessions that the account rules ended (revocation, password change,
// deletion). With SQLite the user_sessions trigger has already done it in
// the same transaction; this is the explicit step that every backend
// takes, so revocation never rests on a trigger alone.
func (s *SessionStore) DeleteHashed(ctx context.Context, hashes []string) error {
	for _, h := range hashes {
		s.store.cache.dropData(h)
		if err := s.write.Delete(h); err != nil {
			return fmt.Errorf("db: delete session data: %w", err)
		}
	}
	return nil
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
	// Method is how the session was signed in: "password",
	// "password+code", "recovery-code" or "passkey" (product.md §8).
	Method string
	// SecondFactor is true when the session passed a second factor (signed
	// in with one, or turned one on itself) and its account still has one:
	// §11's two-factor rule.
	SecondFactor bool
}

// sessionRow is how a session is stored: times as Unix seconds.
type sessionRow struct {
	ID           int64  `db:"id"`
	UserID       int64  `db:"user_id"`
	CreatedAt    int64  `db:"created_at"`
	LastSeenAt   int64  `db:"last_seen_at"`
	ExpiresAt    int64  `db:"expires_at"`
	IP           string `db:"ip"`
	UserAgent    string `db:"user_agent"`
	Method       string `db:"method"`
	SecondFactor bool   `db:"second_factor"`
}

func (r sessionRow) session() Session {
	return Session{
		ID:           r.ID,
		UserID:       r.UserID,
		CreatedAt:    time.Unix(r.CreatedAt, 0).UTC(),
		LastSeenAt:   time.Unix(r.LastSeenAt, 0).UTC(),
		ExpiresAt:    time.Unix(r.ExpiresAt, 0).UTC(),
		IP:           r.IP,
		UserAgent:    r.UserAgent,
		Method:       r.Method,
		SecondFactor: r.SecondFactor,
	}
}

// NewSession is a signed-in session about to start.
type NewSession struct {
	UserID int64
	// PasswordHash is the account's password hash as the sign-in read it:
	// the session starts only if it is still the account's hash, so a
	// sign-in with a password that was changed (or an account that was
	// deleted) while it was being checked starts nothing.
	PasswordHash string
	Token        string
	Now, Expires time.Time
	IP           string
	UserAgent    string
	Method       string // how it was signed in; "" is "password"
	SecondFactor bool   // it passed a second factor
	// Event, when set, is the sign-in's entry in the account's activity
	// (product.md §13), stored with the session in one transaction: the
	// two start together or not at all. Its UserID is UserID.
	Event *Event
}

// passedSecondFactor is a session's SecondFactor as read back (s is its
// user_sessions row): it passed a second factor and its account still has
// one. An account without a second factor never passes a two-factor rule
// (product.md §11), so removing the last factor (turning the authenticator
// off, deleting the last passkey, reset-2fa) takes the pass from every
// session at the next look-up, including sign-ins that checked a code just
// before; the stored flag alone would outlive the factor. Migration 0010
// makes the session cache see a change of factors. CASE reads the factor
// tables only for the sessions that passed one.
const passedSecondFactor = `CASE WHEN s.second_factor THEN
		EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = s.user_id AND secret IS NOT NULL)
		OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = s.user_id)
	ELSE 0 END`

// SessionMethod is the session's sign-in method as stored.
func (n NewSession) SessionMethod() string {
	if n.Method == "" {
		return "password"
	}
	return n.Method
}

// ErrAccountChanged means the account was changed or deleted after a
// sign-in read it: its password is no longer the one that was checked.
var ErrAccountChanged = errors.New("db: account changed while signing in")

// CreateSession records a new signed-in session, and n.Event with it,
// and returns the session's id, or ErrAccountChanged. The check and the
// insert are one statement on the one write connection, so a password
// change either comes before it (and nothing starts) or after it (and
// ends it with the others). The commit does not wait for the disk
// (durability.go).
func (s *Store) CreateSession(ctx context.Context, n NewSession) (int64, error) {
	var id int64
	err := s.lazily(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO user_sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, method, second_factor)
			SELECT `+highestID("user_sessions")+` + 1,
			       id, ?, ?, ?, ?, ?, ?, ?, ? FROM users WHERE id = ? AND password_hash = ?`,
			HashToken(n.Token), n.Now.Unix(), LastSeenUnix(n.Now), n.Expires.Unix(), n.IP, n.UserAgent,
			n.SessionMethod(), n.SecondFactor, n.UserID, n.PasswordHash)
		if err := oneRow(res, err); err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if n.Event == nil {
			return nil
		}
		e := *n.Event
		e.UserID = n.UserID
		return addEvent(ctx, tx, e)
	})
	if errors.Is(err, ErrNotFound) {
		return 0, ErrAccountChanged
	} else if err != nil {
		return 0, fmt.Errorf("db: create session: %w", err)
	}
	return id, nil
}

// SessionUser loads, in one query, a live session and its user: the
// per-request lookup for a signed-in page. token is the cookie's token:
// the session is found only while it is still the session's token, so a
// token replaced by a renewal stays dead even if a request that started
// before the renewal saved the session data back under it (product.md
// §5). It returns ErrNotFound when the session was ended (sign-out,
// revoke, account deleted) or its token replaced.
//
// It scans into plain variables rather than through sqlx's struct mapping:
// this runs on every signed-in request, and the reflection cost about a
// tenth of it (docs/PERFORMANCE.md).
func (s *Store) SessionUser(ctx context.Context, sessionID int64, token string) (*User, Session, error) {
	hash := HashToken(token)
	if u, sess, ok := s.cache.getUser(ctx, sessionID, hash); ok {
		return u, sess, nil
	}
	gen := s.cache.generation()
	var r userRow
	var created, lastSeen, expires int64
	var method string
	var secondFactor bool
	err := s.read.QueryRowContext(ctx, `
		SELECT u.id, u.username, u.email, u.password_hash, u.email_verified_at, u.created_at,
		       u.groups, u.is_admin, u.disabled_at,
		       s.created_at, s.last_seen_at, s.expires_at, s.method, `+passedSecondFactor+`
		FROM user_sessions AS s
		JOIN users AS u ON u.id = s.user_id
		WHERE s.id = ? AND s.token_hash = ?`, sessionID, hash).Scan(
		&r.ID, &r.Username, &r.Email, &r.PasswordHash, &r.EmailVerifiedAt, &r.CreatedAt,
		&r.Groups, &r.Admin, &r.DisabledAt,
		&created, &lastSeen, &expires, &method, &secondFactor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Session{}, ErrNotFound
	}
	if err != nil {
		return nil, Session{}, fmt.Errorf("db: load session: %w", err)
	}
	sess := Session{
		ID:           sessionID,
		UserID:       r.ID,
		CreatedAt:    time.Unix(created, 0).UTC(),
		LastSeenAt:   time.Unix(lastSeen, 0).UTC(),
		ExpiresAt:    time.Unix(expires, 0).UTC(),
		Method:       method,
		SecondFactor: secondFactor,
	}
	u := r.user()
	s.cache.putUser(sessionID, hash, u, sess, gen)
	return u, sess, nil
}

// LastSeenUnix is t as last_seen_at stores it: in whole seconds, rounded
// up. The idle timeout counts from the stored time, and a second cut off
// would end a session up to a second before it had really been idle that
// long (product.md §5); a second added only ends it up to a second late.
func LastSeenUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// TouchSession moves a session's last-seen time forward, without waiting
// for the disk (durability.go). Callers rate-limit it so a page view does
// not write each time.
func (s *Store) TouchSession(ctx context.Context, sessionID int64, now time.Time) error {
	err := s.lazily(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE user_sessions SET last_seen_at = ? WHERE id = ?`, LastSeenUnix(now), sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: touch session: %w", err)
	}
	s.cache.touched(sessionID, time.Unix(LastSeenUnix(now), 0).UTC())
	return nil
}

// RekeySession points a session at a new token after scs renewed it. Its
// absolute deadline stays: a renewal is not a new sign-in (product.md §5).
func (s *Store) RekeySession(ctx context.Context, sessionID int64, token string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE user_sessions SET token_hash = ? WHERE id = ?`,
		HashToken(token), sessionID)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("db: rekey session: %w", err)
	}
	return nil
}

// DeleteUserSession ends one session of one user and returns its token
// hash (the trigger also removes its scs row); ErrNotFound when the id is
// not one of theirs.
func (s *Store) DeleteUserSession(ctx context.Context, userID, sessionID int64) (string, error) {
	var hash string
	err := s.write.QueryRowContext(ctx, `
		DELETE FROM user_sessions WHERE id = ? AND user_id = ? RETURNING token_hash`,
		sessionID, userID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: end session: %w", err)
	}
	s.cache.dropData(hash)
	return hash, nil
}

// DeleteUserSessions ends every session of a user except keepID (0 keeps
// none) and returns the token hashes of those that ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID int64) ([]string, error) {
	hashes, err := deleteUserSessions(ctx, s.write, userID, keepID)
	if err != nil {
		return nil, fmt.Errorf("db: end sessions: %w", err)
	}
	s.cache.dropData(hashes...)
	return hashes, nil
}

// deleteUserSessions is DeleteUserSessions inside a caller's transaction.
// Session ids start at 1, so keepID 0 keeps none.
func deleteUserSessions(ctx context.Context, q sqlx.QueryerContext, userID, keepID int64) ([]string, error) {
	var hashes []string
	err := sqlx.SelectContext(ctx, q, &hashes, `
		DELETE FROM user_sessions WHERE user_id = ? AND id <> ? RETURNING token_hash`, userID, keepID)
	return hashes, err
}

// UserSessions lists a user's live sessions, newest first. The index on
// user_id keeps this from scanning other users' sessions.
func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]Session, error) {
	var rows []sessionRow
	err := s.read.SelectContext(ctx, &rows, `
		SELECT id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, method,
		       `+passedSecondFactor+` AS second_factor
		FROM user_sessions AS s
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

// CountActiveSessions counts the signed-in sessions still live at now:
// before their deadline and used within idle. It is read at every metrics
// scrape (product.md §15); the index on last_seen_at bounds it to recent
// sessions, and the session cleanup keeps the table near that size.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	var n int64
	err := s.read.GetContext(ctx, &n, `
		SELECT count(*) FROM user_sessions WHERE last_seen_at > ? AND expires_at > ?`,
		now.Add(-idle).Unix(), now.Unix())
	return n, err
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
