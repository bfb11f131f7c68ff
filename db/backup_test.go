package db_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gatehouse/db"
)

// goodCopy returns a checked copy of a database with 30 accounts and 2
// sessions.
func goodCopy(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	s, _ := openTemp(t)
	var first *db.User
	for i := range 30 {
		name := "user" + strconv.Itoa(i+100)
		u, err := s.CreateUser(ctx, name, name+"@example.com", "h", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = u
		}
	}
	for _, tok := range []string{"tok-a", "tok-b"} {
		if _, err := s.CreateSession(ctx, db.NewSession{UserID: first.ID, PasswordHash: "h", Token: tok,
			Now: time.Now(), Expires: time.Now().Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua"}); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	return dest
}

// product.md §15: Check reports integrity, schema version and counts, and
// only reads the file.
func TestCheckGoodCopy(t *testing.T) {
	path := goodCopy(t)
	before, _ := os.ReadFile(path)
	sum, err := db.Check(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SchemaVersion != db.SchemaVersion() || sum.Accounts != 30 || sum.Sessions != 2 {
		t.Errorf("summary %+v, want version %d, 30 accounts, 2 sessions", sum, db.SchemaVersion())
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("Check changed the file")
	}
	for _, suffix := range []string{"-wal", "-shm", ".tmp"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("%s left beside the copy", suffix)
		}
	}
}

func TestCheckRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := goodCopy(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A page in the middle overwritten: the b-tree no longer adds up.
	damaged := bytes.Clone(data)
	for i := 4096 + 100; i < 3*4096 && i < len(damaged); i++ {
		damaged[i] = 0x5a
	}
	// Newer: a schema this binary does not know.
	newer := filepath.Join(dir, "newer.db")
	if err := os.WriteFile(newer, data, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	cases := map[string]string{
		"truncated":   write("truncated.db", data[:len(data)/2]),
		"header only": write("header.db", data[:100]),
		"not sqlite":  write("notes.txt", []byte("these are not the droids\n")),
		"empty":       write("empty.db", nil),
		"damaged":     write("damaged.db", damaged),
		"newer":       newer,
	}
	for name, path := range cases {
		_, err := db.Check(context.Background(), path)
		if !errors.Is(err, db.ErrUnusable) {
			t.Errorf("%s: Check = %v, want ErrUnusable", name, err)
		}
	}
	if _, err := db.Check(context.Background(), filepath.Join(dir, "missing.db")); err == nil || errors.Is(err, db.ErrUnusable) {
		t.Errorf("missing file: Check = %v, want a not-found error", err)
	}
}
