package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrNotEmpty means the database already holds data: a copy goes only
// into an empty database, so nothing is ever mixed or overwritten.
var ErrNotEmpty = errors.New("postgres: the database is not empty")

// Import copies rows into this (empty) database in one transaction:
// table by table, as rows(table) gives them, then every identity moves
// past the highest id copied (or the table's IDsAbove) so new rows do not
// collide. Either all of it
// is there afterwards or none. ErrNotEmpty when any table has a row.
func (s *Store) Import(ctx context.Context, tables []ImportTable) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, t := range tables {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t.Name}.Sanitize()+`)`).Scan(&has); err != nil {
			return fmt.Errorf("postgres: import: %w", err)
		}
		if has {
			return fmt.Errorf("%w: table %s has rows", ErrNotEmpty, t.Name)
		}
	}
	for _, t := range tables {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, pgx.CopyFromRows(t.Rows)); err != nil {
			return fmt.Errorf("postgres: import %s: %w", t.Name, err)
		}
	}
	above := map[string]int64{}
	for _, t := range tables {
		above[t.Name] = t.IDsAbove
	}
	for _, table := range []string{"users", "user_sessions", "link_tokens", "security_events", "passkeys", "admin_log"} {
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'), greatest(coalesce(max(id), 0), $1) + 1, false) FROM `+table,
			above[table])
		if err != nil {
			return fmt.Errorf("postgres: import: move the ids of %s: %w", table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	return nil
}

// ImportTable is one table's rows for Import.
type ImportTable struct {
	Name    string
	Columns []string
	Rows    [][]any
	// IDsAbove, when more than the highest id copied, is where new ids
	// start above: ids given to rows since deleted (an account's id is
	// never given twice, product.md §12, and neither is a session's).
	IDsAbove int64
}
