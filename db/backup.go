package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Backup writes a consistent copy of the live database to dest, checked
// (Check) before it takes dest's name: dest is either absent or a copy
// that passed PRAGMA integrity_check. It refuses to overwrite an existing
// file. Like the database, the copy is readable by its owner only.
func (s *Store) Backup(ctx context.Context, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s already exists; choose a new file name", dest)
	}
	tmp := dest + ".tmp"
	os.Remove(tmp)
	if err := s.WriteCopy(ctx, tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	if _, err := Check(ctx, tmp); err != nil {
		RemoveCopy(tmp)
		return fmt.Errorf("backup to %s: the copy is not usable: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		RemoveCopy(tmp)
		return err
	}
	return nil
}

// WriteCopy writes a consistent copy of the live database to path with
// VACUUM INTO, which reads one snapshot while other connections keep
// writing. path must not exist, or be empty.
//
// The copy runs on a connection of its own: the write pool has one
// connection, and a VACUUM INTO of a large database would hold it for
// seconds, so every sign-in (which writes its session) would wait for the
// backup. On its own connection the copy is one more WAL reader, and
// readers never block the writer.
func (s *Store) WriteCopy(ctx context.Context, path string) error {
	// The copy holds password hashes, but a file VACUUM INTO creates gets
	// SQLite's 0644. It also accepts an empty existing file, and keeps its
	// mode: so the file is made first, 0600 and empty.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	// Not the read pool: query_only connections may not write even to
	// another file. VACUUM INTO only reads this database.
	conn, err := sql.Open("sqlite3", s.dsn)
	if err != nil {
		os.Remove(path)
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// RemoveCopy deletes a copy and the -wal and -shm files that checking it
// may have left beside it.
func RemoveCopy(path string) {
	os.Remove(path)
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}

// Summary is what Check found in a copy of the database.
type Summary struct {
	SchemaVersion int   // PRAGMA user_version: migrations the file has seen
	Accounts      int64 // rows of users
	Sessions      int64 // rows of user_sessions (signed-in sessions, ended or not yet cleaned up)
}

func (s Summary) String() string {
	return fmt.Sprintf("schema version %d, %d accounts, %d sessions", s.SchemaVersion, s.Accounts, s.Sessions)
}

// ErrUnusable says that a file is not a usable Gatehouse database: not
// SQLite, damaged, from a newer version, or not Gatehouse's.
var ErrUnusable = errors.New("not a usable Gatehouse database")

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Check tells whether the file at path is a usable Gatehouse database:
// an SQLite file whose PRAGMA integrity_check answers ok, with Gatehouse's
// tables, at a schema version this binary can open. It reads the file
// only (errors wrap ErrUnusable unless the file could not be read at all).
func Check(ctx context.Context, path string) (Summary, error) {
	var sum Summary
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	head := make([]byte, len(sqliteHeader))
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || !bytes.Equal(head, sqliteHeader) {
		return sum, fmt.Errorf("%w: not an SQLite database file", ErrUnusable)
	}
	// mode=ro: checking never changes the file, and refuses to create one.
	conn, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return sum, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)

	// integrity_check answers one row "ok", or up to 100 rows naming what
	// is wrong; a file damaged badly enough fails the query itself.
	rows, err := conn.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return sum, fmt.Errorf("%w: integrity check: %v", ErrUnusable, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return sum, fmt.Errorf("%w: integrity check: %v", ErrUnusable, err)
		}
		if line == "ok" {
			continue
		}
		// One row may hold several problems, one a line, under a
		// header line ("*** in database main ***"): one problem each,
		// so the message stays on one line.
		n := len(problems)
		for _, l := range strings.Split(line, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "*** ") {
				problems = append(problems, l)
			}
		}
		if len(problems) == n { // never "ok" by filtering
			problems = append(problems, strings.Join(strings.Fields(line), " "))
		}
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("%w: integrity check: %v", ErrUnusable, err)
	}
	rows.Close()
	if len(problems) > 0 {
		return sum, fmt.Errorf("%w: integrity check failed (%d problems; first: %s)", ErrUnusable, len(problems), problems[0])
	}

	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&sum.SchemaVersion); err != nil {
		return sum, fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	if known := SchemaVersion(); sum.SchemaVersion > known {
		return sum, fmt.Errorf("%w: schema version %d is from a newer Gatehouse (this one knows up to %d)", ErrUnusable, sum.SchemaVersion, known)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&sum.Accounts); err != nil {
		return sum, fmt.Errorf("%w: no accounts table (%v)", ErrUnusable, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM user_sessions").Scan(&sum.Sessions); err != nil {
		return sum, fmt.Errorf("%w: no sessions table (%v)", ErrUnusable, err)
	}
	return sum, nil
}
