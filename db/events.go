package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Reading and expiring the security activity (product.md §13), and the
// admin page's list of accounts, which shows each account's last sign-in
// from it.

type eventRow struct {
	ID        int64         `db:"id"`
	UserID    int64         `db:"user_id"`
	At        int64         `db:"at"`
	Kind      string        `db:"kind"`
	IP        string        `db:"ip"`
	UserAgent string        `db:"user_agent"`
	Detail    string        `db:"detail"`
	ActorID   sql.NullInt64 `db:"actor_id"`
}

func (r eventRow) event() Event {
	return Event{ID: r.ID, UserID: r.UserID, At: time.Unix(r.At, 0).UTC(), Kind: r.Kind, IP: r.IP,
		UserAgent: r.UserAgent, Detail: r.Detail, ActorID: r.ActorID.Int64}
}

// UserEvents returns up to limit of the account's events at or after
// since, newest first, skipping offset.
func (s *Store) UserEvents(ctx context.Context, userID int64, since time.Time, limit, offset int) ([]Event, error) {
	var rows []eventRow
	err := s.read.SelectContext(ctx, &rows, `
		SELECT id, user_id, at, kind, ip, user_agent, detail, actor_id
		FROM security_events
		WHERE user_id = ? AND at >= ?
		ORDER BY at DESC, id DESC
		LIMIT ? OFFSET ?`, userID, since.Unix(), limit, offset)
	if err != nil {
		return nil, fmt.Errorf("db: read events: %w", err)
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// SignedInWith reports whether the account has an event of kind with
// exactly this User-Agent header at or after since: one look-up in
// security_events_browser_idx.
func (s *Store) SignedInWith(ctx context.Context, userID int64, kind, userAgent string, since time.Time) (bool, error) {
	var found bool
	err := s.read.GetContext(ctx, &found, `
		SELECT EXISTS (SELECT 1 FROM security_events
		               WHERE user_id = ? AND kind = ? AND user_agent = ? AND at >= ?)`,
		userID, kind, userAgent, since.Unix())
	if err != nil {
		return false, fmt.Errorf("db: look up sign-in browser: %w", err)
	}
	return found, nil
}

// SignInUserAgents returns the distinct User-Agent headers of the
// account's sign-ins (events of kind) at or after since: the browsers the
// new-device mail counts as known.
func (s *Store) SignInUserAgents(ctx context.Context, userID int64, kind string, since time.Time) ([]string, error) {
	var uas []string
	err := s.read.SelectContext(ctx, &uas, `
		SELECT DISTINCT user_agent FROM security_events
		WHERE user_id = ? AND kind = ? AND at >= ?`, userID, kind, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("db: read sign-in browsers: %w", err)
	}
	return uas, nil
}

// DeleteSecurityEventsBefore removes events older than before (the
// retention of §13) and returns how many went.
func (s *Store) DeleteSecurityEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM security_events WHERE at < ?`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("db: delete old events: %w", err)
	}
	return res.RowsAffected()
}

// UserListing is an account as the admin list shows it, with the time of
// its last sign-in recorded in its activity (zero for none).
type UserListing struct {
	User       User
	LastSignIn time.Time
}

// LikePattern is the LIKE pattern that finds q anywhere, with LIKE's own
// wildcards (and the escape character) taken literally; '\' escapes.
func LikePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// SearchUsers lists accounts whose username or email contains q (all when
// q is empty), by username, up to limit after offset. Usernames and
// addresses are stored lowercased, so the search ignores case.
func (s *Store) SearchUsers(ctx context.Context, q string, signedInKind string, limit, offset int) ([]UserListing, error) {
	var rows []struct {
		userRow
		LastSignIn sql.NullInt64 `db:"last_signin"`
	}
	pattern := LikePattern(q)
	err := s.read.SelectContext(ctx, &rows, `
		SELECT `+userColumns+`,
		       (SELECT max(at) FROM security_events e WHERE e.user_id = users.id AND e.kind = ?) AS last_signin
		FROM users
		WHERE username LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\'
		ORDER BY username
		LIMIT ? OFFSET ?`, signedInKind, pattern, pattern, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("db: search accounts: %w", err)
	}
	out := make([]UserListing, len(rows))
	for i, r := range rows {
		out[i] = UserListing{User: *r.userRow.user()}
		if r.LastSignIn.Valid {
			out[i].LastSignIn = time.Unix(r.LastSignIn.Int64, 0).UTC()
		}
	}
	return out, nil
}
