package db_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/db"
)

// openElsewhere opens the database at path a second time, as another
// process would: its own pools, connections and cache.
func openElsewhere(t *testing.T, path string) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// aliceSignedIn opens a new database twice, as two processes would, and
// starts session "tok" of a new account, alice, in the first.
func aliceSignedIn(t *testing.T) (a, b *db.Store, alice *db.User, sid int64) {
	t.Helper()
	a, path := openTemp(t)
	b = openElsewhere(t, path)
	alice, err := a.CreateUser(context.Background(), "alice", "alice@example.com", "h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a, b, alice, startSession(t, a, alice, "tok", time.Now(), "192.0.2.1")
}

// The session cache answers repeated look-ups from memory, keeps doing so
// through writes that do not matter (a last-seen touch, a new session, a
// throttle event, from any process), and never answers with what another
// process has ended or changed: product.md §5 at the very next look-up.
func TestSessionCacheFollowsOtherProcesses(t *testing.T) {
	// b is another process: its own connections to the same file.
	a, b, alice, sid := aliceSignedIn(t)
	ctx := context.Background()
	now := time.Now()
	if err := a.SessionStore().Commit("tok", []byte("data"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	lookup := func(what string) error {
		t.Helper()
		_, _, err := a.SessionUser(ctx, sid, "tok")
		return err
	}
	if err := lookup("first"); err != nil {
		t.Fatal(err)
	}
	before := a.CacheHits()
	if err := lookup("second"); err != nil || a.CacheHits() != before+1 {
		t.Fatalf("second look-up: %v, hits %d → %d; want one hit", err, before, a.CacheHits())
	}
	// Writes that change no session or account keep the cache.
	if err := b.TouchSession(ctx, sid, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	startSession(t, b, alice, "tok2", now, "192.0.2.2")
	if err := b.AddEvents(ctx, []string{"k"}, now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	before = a.CacheHits()
	if err := lookup("after harmless writes"); err != nil || a.CacheHits() != before+1 {
		t.Errorf("after harmless writes: %v, hits %d → %d; want a hit", err, before, a.CacheHits())
	}
	// An account change and then the session's end elsewhere show at
	// once. The ended session's data may still be in memory (it grants
	// nothing without the session); the server destroys it on that
	// request, and then it is gone.
	changesShowAtOnce(t, a, b, alice.ID, sid, "tok")
	if err := a.SessionStore().Delete("tok"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := a.SessionStore().Find("tok"); found {
		t.Error("session data found after it was deleted")
	}
}

// product.md §11: when another process (gatehouse user reset-2fa) takes
// an account's last second factor, the cached look-up here stops saying
// that its session passed one at the very next look-up.
func TestSessionCacheFollowsFactorChangesElsewhere(t *testing.T) {
	a, path := openTemp(t)
	b := openElsewhere(t, path)
	ctx := context.Background()
	now := time.Now()
	alice, _ := a.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	if err := a.EnableTOTP(ctx, alice.ID, []byte("sealed"), []string{"c"}, now); err != nil {
		t.Fatal(err)
	}
	sid, err := a.CreateSession(ctx, db.NewSession{
		UserID: alice.ID, PasswordHash: alice.PasswordHash, Token: "tok",
		Now: now, Expires: now.Add(time.Hour), Method: "password+code", SecondFactor: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from the cache
		if _, sess, err := a.SessionUser(ctx, sid, "tok"); err != nil || !sess.SecondFactor {
			t.Fatalf("before: %+v, %v", sess, err)
		}
	}
	if err := b.ResetSecondFactors(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, sess, err := a.SessionUser(ctx, sid, "tok"); err != nil || sess.SecondFactor {
		t.Errorf("after reset elsewhere: %+v, %v; want no second factor", sess, err)
	}
}

// The cache asks SQLite whether anything changed (PRAGMA data_version)
// only after a commit: while the wal-index header it maps reads as at its
// last check, look-ups make no query at all. A commit anywhere moves the
// header, and the next look-up asks again.
func TestSessionCacheAsksOnlyAfterACommit(t *testing.T) {
	a, b, alice, sid := aliceSignedIn(t)
	if !a.CacheMapsWALIndex() {
		if runtime.GOOS == "windows" {
			t.Skip("the wal-index is not mapped on Windows")
		}
		t.Fatal("the session cache did not map the wal-index")
	}
	ctx := context.Background()
	now := time.Now()
	lookups := func(n int) (hits, checks int64) {
		t.Helper()
		h0, c0 := a.CacheHits(), a.CacheChecks()
		for range n {
			if _, _, err := a.SessionUser(ctx, sid, "tok"); err != nil {
				t.Fatal(err)
			}
		}
		return a.CacheHits() - h0, a.CacheChecks() - c0
	}
	lookups(1) // fills the cache
	if hits, checks := lookups(50); hits != 50 || checks != 0 {
		t.Errorf("50 look-ups, no commit: %d hits, %d data_version queries; want 50, 0", hits, checks)
	}
	// A harmless commit elsewhere: one query, and the cache stays.
	if err := b.TouchSession(ctx, sid, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if hits, checks := lookups(10); hits != 10 || checks != 1 {
		t.Errorf("10 look-ups after a touch elsewhere: %d hits, %d queries; want 10, 1", hits, checks)
	}
	changesShowAtOnce(t, a, b, alice.ID, sid, "tok")
}

// changesShowAtOnce changes the account uid in b and then ends its
// sessions there, and checks that a's next look-up of session sid sees
// each change.
func changesShowAtOnce(t *testing.T, a, b *db.Store, uid, sid int64, token string) {
	t.Helper()
	ctx := context.Background()
	if err := b.MarkEmailVerified(ctx, uid, time.Now()); err != nil {
		t.Fatal(err)
	}
	if u, _, err := a.SessionUser(ctx, sid, token); err != nil || !u.EmailVerified() {
		t.Errorf("after verify elsewhere: %v verified=%v", err, u != nil && u.EmailVerified())
	}
	if _, err := b.DeleteUserSessions(ctx, uid, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SessionUser(ctx, sid, token); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("after revocation elsewhere: %v, want ErrNotFound", err)
	}
}

// SQLite keeps the -shm file beside the database's real path. Opened
// through a symbolic link, beside which a stale -shm file lies (a copy of
// a live one: a well-formed header that never moves again), the cache
// still follows changes made elsewhere.
func TestSessionCacheThroughASymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	realDir, linkDir := t.TempDir(), t.TempDir()
	realPath, linkPath := filepath.Join(realDir, "auth.db"), filepath.Join(linkDir, "auth.db")
	ctx := context.Background()
	now := time.Now()
	b, err := db.Open(ctx, realPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	alice, _ := b.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	sid := startSession(t, b, alice, "tok", now, "192.0.2.1")
	shm, err := os.ReadFile(realPath + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(linkPath+"-shm", shm, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(realPath, linkPath); err != nil {
		t.Fatal(err)
	}
	a := openElsewhere(t, linkPath)
	for range 3 {
		if _, _, err := a.SessionUser(ctx, sid, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.DeleteUserSessions(ctx, alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SessionUser(ctx, sid, "tok"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("after revocation through the real path: %v, want ErrNotFound", err)
	}
}

// While another process commits without pause (harmless touches, and
// changes that matter), no look-up that starts after a change has been
// committed answers from before it, and the cache still answers most
// look-ups from memory. The wal-index header is read here while the
// other side rewrites it.
func TestSessionCacheNeverStaleUnderConcurrentCommits(t *testing.T) {
	a, b, alice, sid := aliceSignedIn(t)
	ctx := context.Background()
	now := time.Now()
	var committed atomic.Int64 // the last change b has committed
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := int64(1); n <= 150; n++ {
			if err := b.TouchSession(ctx, sid, now.Add(time.Duration(n)*time.Second)); err != nil {
				t.Error(err)
				return
			}
			if err := b.SetGroups(ctx, alice.ID, []string{fmt.Sprintf("g%d", n)}); err != nil {
				t.Error(err)
				return
			}
			committed.Store(n)
			time.Sleep(time.Millisecond) // room for look-ups from memory
		}
	}()
	hits0 := a.CacheHits()
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				want := committed.Load()
				u, _, err := a.SessionUser(ctx, sid, "tok")
				if err != nil {
					t.Error(err)
					return
				}
				lookups.Add(1)
				got := int64(0)
				if len(u.Groups) == 1 {
					fmt.Sscanf(u.Groups[0], "g%d", &got)
				}
				if got < want {
					t.Errorf("look-up after change %d committed saw groups %v", want, u.Groups)
					return
				}
			}
		}()
	}
	wg.Wait()
	if hits := a.CacheHits() - hits0; hits < lookups.Load()/2 {
		t.Errorf("%d of %d look-ups answered from memory; want most", hits, lookups.Load())
	}
}
