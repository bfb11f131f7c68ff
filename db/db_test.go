package db_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"gatehouse/db"
)

func openTemp(t *testing.T) (*db.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsFreshAndRestart(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, want := userVersion(t, path), db.SchemaVersion(); got != want || want < 1 {
		t.Fatalf("user_version = %d, want %d", got, want)
	}
	// A restart on an existing database keeps the data and migrates nothing again.
	s2, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if n, _ := s2.CountUsers(ctx); n != 1 {
		t.Fatalf("users after restart = %d, want 1", n)
	}
}

func TestNewerSchemaRefusedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	future := db.SchemaVersion() + 5
	if _, err := raw.Exec("CREATE TABLE future (x); PRAGMA user_version = " + strconv.Itoa(future)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(path)

	_, err = db.Open(context.Background(), path, db.Options{})
	if !errors.Is(err, db.ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("message %q should say the database is newer", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a newer database was modified")
	}
	if got := userVersion(t, path); got != future {
		t.Errorf("user_version = %d, want %d", got, future)
	}
}

func TestMustExistDoesNotCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if !errors.Is(err, db.ErrNoDatabase) {
		t.Fatalf("Open = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("MustExist created the file")
	}
}

func TestDuplicateUsernameAndEmail(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "other@example.com", "h", time.Now()); !errors.Is(err, db.ErrDuplicateUsername) {
		t.Errorf("same username: %v, want ErrDuplicateUsername", err)
	}
	if _, err := s.CreateUser(ctx, "bob", "alice@example.com", "h", time.Now()); !errors.Is(err, db.ErrDuplicateEmail) {
		t.Errorf("same email: %v, want ErrDuplicateEmail", err)
	}
	if _, err := s.UserByUsername(ctx, "nobody"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	for _, login := range []string{"alice", "alice@example.com"} {
		if u, err := s.UserByLogin(ctx, login); err != nil || u.Username != "alice" {
			t.Errorf("UserByLogin(%q) = %v, %v; want alice", login, u, err)
		}
	}
	for _, login := range []string{"nobody", "alice@", "other@example.com"} {
		if _, err := s.UserByLogin(ctx, login); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("UserByLogin(%q): %v, want ErrNotFound", login, err)
		}
	}
}

// Concurrent writers queue instead of failing with "database is locked".
func TestConcurrentWritesWait(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	// A second store on the same file plays the admin CLI's process.
	other, err := db.Open(ctx, path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			name := "user" + strconv.Itoa(i+100)
			if _, err := st.CreateUser(ctx, name, name+"@example.com", "h", time.Now()); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent insert: %v", err)
	}
	if n, _ := s.CountUsers(ctx); n != 100 {
		t.Fatalf("users = %d, want 100", n)
	}
}

// Ending a session row removes its scs row, also through the cascade when
// the user is deleted.
func TestSessionRowsEndTogether(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	u, _ := s.CreateUser(ctx, "alice", "alice@example.com", "h", time.Now())
	store := s.SessionStore()
	now := time.Now()
	for _, tok := range []string{"tok-a", "tok-b"} {
		if err := store.Commit(tok, []byte("data"), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		startSession(t, s, u, tok, now, "127.0.0.1")
	}
	if _, found, _ := store.Find("tok-a"); !found {
		t.Fatal("committed session not found")
	}
	if ended, err := s.DeleteUserSessions(ctx, u.ID, 0); err != nil || len(ended) != 2 {
		t.Fatalf("DeleteUserSessions = %v, %v", ended, err)
	}
	for _, tok := range []string{"tok-a", "tok-b"} {
		if _, found, _ := store.Find(tok); found {
			t.Errorf("scs row of %s survived its session", tok)
		}
	}
}

// The database holds only hashes of session tokens.
func TestSessionStoreHashesTokens(t *testing.T) {
	s, path := openTemp(t)
	store := s.SessionStore()
	token := "plain-token-value"
	if err := store.Commit(token, []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var stored string
	if err := raw.QueryRow("SELECT token FROM sessions").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == token || stored != db.HashToken(token) {
		t.Fatalf("stored token %q, want the SHA-256 of the token", stored)
	}
	if _, found, _ := store.Find(stored); found {
		t.Fatal("the stored hash works as a token")
	}
}

func TestBackupOfLiveDatabase(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for i := 0; i < 50; i++ {
		name := "user" + strconv.Itoa(i+100)
		if _, err := s.CreateUser(ctx, name, name+"@example.com", "h", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dest); err == nil {
		t.Error("backup overwrote an existing file")
	}
	c, err := db.Open(ctx, dest, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var check string
	raw, _ := sql.Open("sqlite3", dest)
	defer raw.Close()
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	if n, _ := c.CountUsers(ctx); n != 50 {
		t.Fatalf("users in backup = %d, want 50", n)
	}
}

func TestCloseLeavesNoWAL(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("expected a WAL while open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Close", suffix)
		}
	}
}

func TestNewFileIsPrivate(t *testing.T) {
	_, path := openTemp(t)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("new database has mode %o, want 600", perm)
	}
}

// product.md §7: "gatehouse backup ... writes its copy with mode 0600,
// like the database", whatever the umask: VACUUM INTO alone would create
// it 0644 under the usual umask 022.
func TestSpec7BackupIsMode0600(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, mask := range []int{0o022, 0} {
		old := syscall.Umask(mask)
		dest := filepath.Join(t.TempDir(), "copy.db")
		// A temporary file left by a backup that was killed must not lend
		// the copy its mode.
		if err := os.WriteFile(dest+".tmp", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		err := s.Backup(ctx, dest)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dest)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("umask %03o: backup has mode %03o, want 600", mask, m)
		}
		if left, _ := filepath.Glob(dest + "?*"); len(left) != 0 {
			t.Errorf("files left beside the backup: %v", left)
		}
		c, err := db.Open(ctx, dest, db.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := c.CountUsers(ctx); n != 1 {
			t.Errorf("users in backup = %d, want 1", n)
		}
		c.Close()
	}
}
