package db

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Table names a table a copy to another database takes, with its columns.
type Table struct {
	Name    string
	Columns []string
	// Bools are the columns SQLite keeps as 0/1 and PostgreSQL as
	// BOOLEAN: Export gives them as bool.
	Bools []string
}

// ExportTables are the tables `gatehouse copy` moves, parents before
// children so foreign keys hold at every row, with their columns. The
// generation counter (migration 0004) belongs to this file's cache and
// stays behind.
var ExportTables = []Table{
	{"users", []string{"id", "username", "email", "password_hash", "email_verified_at", "created_at", "groups", "is_admin", "disabled_at"}, []string{"is_admin"}},
	{"user_sessions", []string{"id", "user_id", "token_hash", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "method", "second_factor"}, []string{"second_factor"}},
	{"link_tokens", []string{"id", "token_hash", "kind", "user_id", "new_email", "created_at", "expires_at", "used_at"}, nil},
	{"throttle_events", []string{"key_hash", "at"}, nil},
	{"sessions", []string{"token", "data", "expiry"}, nil},
	{"settings", []string{"name", "value"}, nil},
	{"security_events", []string{"id", "user_id", "at", "kind", "ip", "user_agent", "detail", "actor_id"}, nil},
	{"oidc_clients", []string{"id", "name", "secret_hash", "redirect_uris", "public", "trusted", "created_at"}, []string{"public", "trusted"}},
	{"oidc_auth_requests", []string{"id", "client_id", "user_id", "code_hash", "data", "created_at", "expires_at"}, nil},
	{"oidc_tokens", []string{"token_hash", "kind", "grant_id", "client_id", "user_id", "scopes", "auth_time", "amr", "created_at", "expires_at", "used_at"}, nil},
	{"oidc_consents", []string{"user_id", "client_id", "scopes", "created_at"}, nil},
	{"admin_log", []string{"id", "at", "actor_id", "actor_name", "target_id", "target_name", "action", "detail", "ip"}, nil},
	{"totp_secrets", []string{"user_id", "secret", "pending", "enabled_at"}, nil},
	{"recovery_codes", []string{"user_id", "code_hash"}, nil},
	{"passkeys", []string{"id", "user_id", "credential_id", "name", "credential", "created_at", "last_used_at"}, nil},
	{"one_time", []string{"key_hash", "value", "expires_at"}, nil},
}

// Export calls fn with every row of every table of ExportTables, in that
// order, from one read transaction, so the copy is one consistent moment
// even while the server writes. Values are int64, string, []byte, nil,
// and for the scs table's expiry a time.Time (SQLite keeps it as a Julian
// day).
func (s *Store) Export(ctx context.Context, fn func(t Table, row []any) error) error {
	tx, err := s.read.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: export: %w", err)
	}
	defer tx.Rollback()
	for _, t := range ExportTables {
		cols := strings.Join(t.Columns, ", ")
		rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM `+t.Name)
		if err != nil {
			return fmt.Errorf("db: export %s: %w", t.Name, err)
		}
		for rows.Next() {
			row := make([]any, len(t.Columns))
			ptrs := make([]any, len(row))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("db: export %s: %w", t.Name, err)
			}
			for i, c := range t.Columns {
				if n, ok := row[i].(int64); ok && slices.Contains(t.Bools, c) {
					row[i] = n != 0
				}
			}
			if t.Name == "sessions" {
				if jd, ok := row[2].(float64); ok {
					row[2] = julianTime(jd)
				}
			}
			if err := fn(t, row); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: export %s: %w", t.Name, err)
		}
		rows.Close()
	}
	return nil
}

// julianTime converts SQLite's Julian day number to a time.
func julianTime(jd float64) time.Time {
	secs := (jd - 2440587.5) * 86400
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}
