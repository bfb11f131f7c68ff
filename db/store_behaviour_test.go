package db_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"gatehouse/db"
	"gatehouse/internal/storetest"
)

// sqliteStore is the SQLite backend as the shared behaviour tests see it.
type sqliteStore struct {
	*db.Store
	path string
}

func (s sqliteStore) Sessions() storetest.SessionStore { return s.SessionStore() }

// Dump returns the database file and its write-ahead log: what a copy of
// auth.db (taken while the server runs) would hold.
func (s sqliteStore) Dump(ctx context.Context) ([]byte, error) {
	main, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	wal, err := os.ReadFile(s.path + "-wal")
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return append(main, wal...), nil
}

func (s sqliteStore) SessionDataRows(ctx context.Context) (int, error) {
	raw, err := sql.Open("sqlite3", s.path)
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	var n int
	err = raw.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n)
	return n, err
}

// TestStoreBehaviour runs the behaviour tests every backend passes on a
// fresh SQLite file per test.
func TestStoreBehaviour(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		path := filepath.Join(t.TempDir(), "auth.db")
		s, err := db.Open(context.Background(), path, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return sqliteStore{Store: s, path: path}
	})
}
