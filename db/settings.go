package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Setting returns a server-wide value (the secret key's check, a sealed
// signing key, ...), or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.read.GetContext(ctx, &v, `SELECT value FROM settings WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: read setting %s: %w", name, err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value under name unless the name already has
// one, and returns what is stored: two instances that start together and
// each make a value (a key check, a signing key) end up using the same.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := s.write.GetContext(ctx, &v, `
		INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = settings.value
		RETURNING value`, name, value)
	if err != nil {
		return nil, fmt.Errorf("db: store setting %s: %w", name, err)
	}
	return v, nil
}

// Event is one entry of an account's security activity (product.md §13).
// Kind and Detail are fixed words (account.Event*), never a password, a
// token or a code.
type Event struct {
	ID        int64
	UserID    int64
	At        time.Time
	Kind      string
	IP        string
	UserAgent string
	Detail    string
	ActorID   int64 // the admin who acted; 0 for the account itself
}

// AddEvent records a security event of an account, or returns ErrNotFound
// when the account is gone (deleted while a sign-in finished, say).
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	return addEvent(ctx, s.write, e)
}

func addEvent(ctx context.Context, x sqlx.ExecerContext, e Event) error {
	var actor sql.NullInt64
	if e.ActorID != 0 {
		actor = sql.NullInt64{Int64: e.ActorID, Valid: true}
	}
	res, err := x.ExecContext(ctx, `
		INSERT INTO security_events (user_id, at, kind, ip, user_agent, detail, actor_id)
		SELECT id, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?`,
		e.At.Unix(), e.Kind, e.IP, e.UserAgent, e.Detail, actor, e.UserID)
	if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
		return err
	} else if err != nil {
		return fmt.Errorf("db: record event %s: %w", e.Kind, err)
	}
	return nil
}
