// Package db keeps everything Gatehouse stores in one SQLite file: users,
// sessions and tokens. It owns the schema and its migrations.
package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
)

// Sentinel errors, translated from SQLite results so callers never look at
// driver errors.
var (
	ErrNotFound          = errors.New("db: not found")
	ErrDuplicateUsername = errors.New("db: username taken")
	ErrDuplicateEmail    = errors.New("db: email in use")
	ErrNewerSchema       = errors.New("db: database is from a newer version of Gatehouse")
	ErrNoDatabase        = errors.New("db: database file does not exist")
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the database. Writes go through a pool of one connection so that
// concurrent writers queue in Go instead of spinning on SQLite's busy handler;
// reads use their own pool and, thanks to WAL, never wait for a writer.
type Store struct {
	read     *sqlx.DB
	write    *sqlx.DB
	path     string
	dsn      string // the DSN both pools share, for one-off connections (backups)
	cache    *cache
	sessions *SessionStore
}

// Options change how Open treats the file.
type Options struct {
	// MustExist refuses to create a new file: admin commands and backup must
	// not silently make an empty database when the path is mistyped.
	MustExist bool
}

// Open opens the database at path, creating it unless opts.MustExist, and
// migrates it to the current schema. A database from a newer version is
// refused untouched.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if opts.MustExist {
			return nil, fmt.Errorf("%w: %s", ErrNoDatabase, path)
		}
		// The file holds password hashes: readable by its owner only.
		// SQLite gives -wal and -shm the same permissions.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !os.IsExist(err) {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		if f != nil {
			f.Close()
		}
	}
	// Pragmas live in the DSN so that every pooled connection gets them.
	// _txlock=immediate makes BEGIN take the write lock up front, so a
	// transaction never fails half-way with "database is locked" when it
	// upgrades from reading to writing; _busy_timeout makes other processes
	// (the admin CLI, backup) wait for the lock instead of failing.
	// _stmt_cache_size keeps each connection's recent statements prepared:
	// compiling the SQL was a tenth of a signed-in page view's CPU time
	// (docs/PERFORMANCE.md), and the per-request queries are always the same.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=10000&_foreign_keys=on&_synchronous=FULL&_stmt_cache_size=32"
	write, err := sqlx.Open("sqlite3", base+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	s := &Store{write: write, path: path, dsn: base}

	// The version check comes before anything that could change the file,
	// so a database from a newer Gatehouse is left exactly as it was.
	if err := s.checkVersion(ctx); err != nil {
		write.Close()
		return nil, err
	}
	// WAL lets readers work while one writer writes; the mode is stored in
	// the file, so every later connection (and process) uses it.
	if _, err := write.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}

	read, err := sqlx.Open("sqlite3", base+"&_query_only=true")
	if err != nil {
		write.Close()
		return nil, err
	}
	// Keep idle connections: the default of two would close and reopen
	// connections under load, and opening one costs far more than a query.
	n := max(4, 2*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)
	read.SetConnMaxLifetime(0)
	s.read = read
	if s.cache, err = newCache(ctx, read.DB, path); err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	s.sessions = newSessionStore(s)
	return s, nil
}

// Close closes both pools. Closing the last connection checkpoints the WAL
// into the main file and removes -wal and -shm, so after Close the database
// file alone is complete.
func (s *Store) Close() error {
	cerr := s.cache.close()
	rerr := s.read.Close()
	// A final explicit checkpoint makes the file complete even if a reader
	// in another process keeps the WAL alive.
	_, _ = s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	werr := s.write.Close()
	s.cache.release() // after every connection: see shmFiles
	return errors.Join(cerr, rerr, werr)
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// SchemaVersion is the number of migrations this binary knows.
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

// version reads how many migrations the file has seen.
func (s *Store) version(ctx context.Context) (int, error) {
	var v int
	if err := s.write.GetContext(ctx, &v, "PRAGMA user_version"); err != nil {
		return 0, fmt.Errorf("open %s: %w", s.path, err)
	}
	return v, nil
}

// checkVersion refuses a database migrated by a newer Gatehouse.
func (s *Store) checkVersion(ctx context.Context) error {
	v, err := s.version(ctx)
	if err != nil {
		return err
	}
	if known := SchemaVersion(); v > known {
		return fmt.Errorf("%w: %s has schema version %d, this binary knows up to %d; use a newer gatehouse",
			ErrNewerSchema, s.path, v, known)
	}
	return nil
}

// migrate applies, in order, every embedded migration the database has not
// seen yet. PRAGMA user_version records how many have run; it is set in the
// same transaction as the migration, so a crash leaves either all of a
// migration or none of it.
func (s *Store) migrate(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	current, err := s.version(ctx)
	if err != nil {
		return err
	}
	for i := current; i < len(names); i++ {
		body, err := migrationFiles.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := s.write.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// isForeignKey reports whether err is a FOREIGN KEY constraint violation.
func isForeignKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

// isUnique reports whether err is a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}
