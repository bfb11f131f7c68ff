package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

// Setting returns a server-wide value, or db.ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read setting %s: %w", name, err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value under name unless the name already has
// one, and returns what is stored, so that instances starting together
// agree on one value.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	// DO UPDATE (a no-op) rather than DO NOTHING, so RETURNING gives the
	// row that won in both cases.
	err := s.pool.QueryRow(ctx, `
		INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = settings.value
		RETURNING value`, name, value).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("postgres: store setting %s: %w", name, err)
	}
	return v, nil
}

// AddEvent records a security event of an account, or returns
// db.ErrNotFound when the account is gone.
func (s *Store) AddEvent(ctx context.Context, e db.Event) error {
	var actor *int64
	if e.ActorID != 0 {
		actor = &e.ActorID
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO security_events (user_id, at, kind, ip, user_agent, detail, actor_id)
		SELECT id, $2, $3, $4, $5, $6, $7 FROM users WHERE id = $1`,
		e.UserID, e.At.Unix(), e.Kind, e.IP, e.UserAgent, e.Detail, actor)
	if err != nil {
		return fmt.Errorf("postgres: record event %s: %w", e.Kind, err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}
