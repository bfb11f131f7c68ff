package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

// UserEvents returns up to limit of the account's events at or after
// since, newest first, skipping offset.
func (s *Store) UserEvents(ctx context.Context, userID int64, since time.Time, limit, offset int) ([]db.Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, user_id, at, kind, ip, user_agent, detail, actor_id
		FROM security_events
		WHERE user_id = $1 AND at >= $2
		ORDER BY at DESC, id DESC
		LIMIT $3 OFFSET $4`, userID, since.Unix(), limit, offset)
	if err != nil {
		return nil, fmt.Errorf("postgres: read events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (db.Event, error) {
		var e db.Event
		var at int64
		var actor *int64
		err := r.Scan(&e.ID, &e.UserID, &at, &e.Kind, &e.IP, &e.UserAgent, &e.Detail, &actor)
		e.At = time.Unix(at, 0).UTC()
		if actor != nil {
			e.ActorID = *actor
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read events: %w", err)
	}
	return out, nil
}

// SignedInWith reports whether the account has an event of kind with
// exactly this User-Agent header at or after since: one look-up in
// security_events_browser_idx.
func (s *Store) SignedInWith(ctx context.Context, userID int64, kind, userAgent string, since time.Time) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM security_events
		               WHERE user_id = $1 AND kind = $2 AND user_agent = $3 AND at >= $4)`,
		userID, kind, userAgent, since.Unix()).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("postgres: look up sign-in browser: %w", err)
	}
	return found, nil
}

// SignInUserAgents returns the distinct User-Agent headers of the
// account's sign-ins (events of kind) at or after since.
func (s *Store) SignInUserAgents(ctx context.Context, userID int64, kind string, since time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT user_agent FROM security_events
		WHERE user_id = $1 AND kind = $2 AND at >= $3`, userID, kind, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("postgres: read sign-in browsers: %w", err)
	}
	uas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: read sign-in browsers: %w", err)
	}
	return uas, nil
}

// DeleteSecurityEventsBefore removes events older than before (the
// retention of §13) and returns how many went.
func (s *Store) DeleteSecurityEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM security_events WHERE at < $1`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete old events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SearchUsers lists accounts whose username or email contains q (all when
// q is empty), by username in byte order (as SQLite sorts), up to limit
// after offset, with each one's last sign-in.
func (s *Store) SearchUsers(ctx context.Context, q string, signedInKind string, limit, offset int) ([]db.UserListing, error) {
	pattern := db.LikePattern(q)
	rows, err := s.pool.Query(ctx, `
		SELECT `+userColumns+`,
		       (SELECT max(at) FROM security_events e WHERE e.user_id = users.id AND e.kind = $1) AS last_signin
		FROM users
		WHERE username LIKE $2 ESCAPE '\' OR email LIKE $2 ESCAPE '\'
		ORDER BY username COLLATE "C"
		LIMIT $3 OFFSET $4`, signedInKind, pattern, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("postgres: search accounts: %w", err)
	}
	defer rows.Close()
	var out []db.UserListing
	for rows.Next() {
		var f userFields
		var last *int64
		if err := rows.Scan(append(f.dest(), &last)...); err != nil {
			return nil, fmt.Errorf("postgres: search accounts: %w", err)
		}
		l := db.UserListing{User: *f.user()}
		if last != nil {
			l.LastSignIn = time.Unix(*last, 0).UTC()
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: search accounts: %w", err)
	}
	return out, nil
}
