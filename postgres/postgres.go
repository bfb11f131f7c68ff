// Package postgres keeps everything Gatehouse stores in PostgreSQL (14 or
// later) instead of one SQLite file: users, sessions, link tokens,
// throttle events and scs's session data. Several Gatehouse instances can
// share one database (product.md §14). It mirrors package db method for
// method, with the same meanings and the same sentinel errors (db.ErrNotFound
// and the others), so the web layer, the account rules and the admin
// commands cannot tell the two apart. It owns the PostgreSQL form of the
// schema and its migrations.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/db"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the database.
//
// It holds one pgxpool.Pool and nothing else. pgxpool rather than sqlx over
// pgx/v5/stdlib: scs's pgxstore takes a *pgxpool.Pool, so with sqlx the
// session data would need a second pool of its own, and every query here is
// a literal with a few scanned columns, which pgx does without sqlx's
// reflection. PostgreSQL serialises writers itself, so unlike SQLite there
// is no separate one-connection write pool.
type Store struct {
	pool  *pgxpool.Pool
	where string // "database NAME on HOST:PORT", for messages: never the password
}

// Open connects to the database a postgres:// or postgresql:// URL names
// and migrates it to the current schema, under an advisory lock so that
// instances starting together on an empty database do not race. A
// database from a newer version is refused untouched (db.ErrNewerSchema).
//
// The URL may carry pgx's pool settings (pool_max_conns=…); behind a
// transaction-pooling PgBouncer add default_query_exec_mode=exec, since
// the default caches prepared statements per connection.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "gatehouse"
	}
	s := &Store{where: describe(cfg.ConnConfig)}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", s.where, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", s.where, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// CheckURL reports whether rawURL is a postgres:// or postgresql:// URL
// that pgx takes (host, port, sslmode, pool settings), connecting to
// nothing, so a bad one stops a command at its flags in one line
// (product.md §1). Its errors never show the password.
func CheckURL(rawURL string) error {
	if _, err := parseURL(rawURL); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// parseURL checks rawURL and returns pgx's pool configuration for it.
func parseURL(rawURL string) (*pgxpool.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("the database URL cannot be parsed (a password with characters such as @ / : % must be percent-encoded); its form is postgres://USER:PASS@HOST:5432/NAME?sslmode=…")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, errors.New("the database must be a postgres:// or postgresql:// URL")
	}
	// pgx's errors show the URL with the password masked.
	return pgxpool.ParseConfig(rawURL)
}

// describe names a database for messages: its name, host and port.
func describe(c *pgx.ConnConfig) string {
	host := c.Host
	if len(host) > 0 && host[0] != '/' {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return fmt.Sprintf("database %q on %s", c.Database, host)
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// SchemaVersion is the number of migrations this binary knows. They hold
// the tables of db/migrations, but not one for one: SQLite's own (the
// cache generation's triggers, the id floor) have no counterpart here,
// so the two version numbers differ.
func SchemaVersion() int {
	names, _ := migrationNames()
	return len(names)
}

func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// Advisory lock keys, in the two-int4 form (class, object): the classes
// keep Gatehouse's locks apart from other applications' on a shared
// server, and PostgreSQL keeps the two-int4 and the one-bigint forms in
// separate key spaces. 0x67617465 is "gate".
const (
	lockMigrate  = 0x67617465 // object 0: the migrations at start
	lockThrottle = 0x67617466 // object hashtext(key): one throttle key (TakeEvent)
)

// migrate applies, in order and in one transaction, every embedded
// migration the database has not seen yet, and records the new version in
// the one-row table gatehouse_schema.
//
// The transaction first takes a transaction-level advisory lock: a second
// instance starting at the same time waits there, then reads the version
// the first one committed and finds nothing to do. The transaction form
// (pg_advisory_xact_lock) is released by COMMIT or ROLLBACK, so the lock
// can neither outlive a failed start nor stay behind on a pooled
// connection. DDL is transactional in PostgreSQL: a failure leaves every
// migration of this start undone, none half-applied.
//
// The version is read before anything is written, and a newer version
// ends the transaction with a ROLLBACK: that database is left exactly as
// it was.
func (s *Store) migrate(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	known := len(names)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockMigrate); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('gatehouse_schema') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		current := 0
		if exists {
			err := tx.QueryRow(ctx, `SELECT version FROM gatehouse_schema`).Scan(&current)
			if errors.Is(err, pgx.ErrNoRows) {
				return errors.New("table gatehouse_schema has no row; this is not a database Gatehouse made")
			}
			if err != nil {
				return err
			}
		}
		if current > known {
			return fmt.Errorf("%w: %s has schema version %d, this binary knows up to %d; use a newer gatehouse",
				db.ErrNewerSchema, s.where, current, known)
		}
		if current == known {
			return nil
		}
		if !exists {
			// One row at most: the primary key is a boolean that can only be true.
			_, err := tx.Exec(ctx, `
				CREATE TABLE gatehouse_schema (
				    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
				    version INTEGER NOT NULL
				);
				INSERT INTO gatehouse_schema (version) VALUES (0)`)
			if err != nil {
				return err
			}
		}
		for _, name := range names[current:] {
			body, err := migrationFiles.ReadFile(name)
			if err != nil {
				return err
			}
			// Exec without arguments uses the simple protocol, which runs
			// a file of several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE gatehouse_schema SET version = $1`, known)
		return err
	})
	if errors.Is(err, db.ErrNewerSchema) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: migrate %s: %w", s.where, err)
	}
	return nil
}

// Constraint names of migrations/0001_init.sql that map to sentinel errors.
const (
	constraintUsername = "users_username_key"
	constraintEmail    = "users_email_key"
)

// pgError returns err's PostgreSQL error, if it is one.
func pgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}

// uniqueViolation returns the name of the unique constraint err violated,
// or "" when err is no unique violation (SQLSTATE 23505).
func uniqueViolation(err error) string {
	if pe, ok := pgError(err); ok && pe.Code == "23505" {
		return pe.ConstraintName
	}
	return ""
}

// isForeignKey reports whether err is a foreign key violation (SQLSTATE
// 23503): the row it points to is gone.
func isForeignKey(err error) bool {
	pe, ok := pgError(err)
	return ok && pe.Code == "23503"
}

// duplicate maps a unique violation on users to its sentinel error, and
// returns any other error unchanged.
func duplicate(err error) error {
	switch uniqueViolation(err) {
	case constraintUsername:
		return db.ErrDuplicateUsername
	case constraintEmail:
		return db.ErrDuplicateEmail
	}
	return err
}

// String names the database for logs and messages (never the password).
func (s *Store) String() string { return s.where }
