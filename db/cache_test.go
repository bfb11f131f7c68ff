package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/db"
)

// The session cache answers repeated look-ups from memory, keeps doing so
// through writes that do not matter (a last-seen touch, a new session, a
// throttle event, from any process), and never answers with what another
// process has ended or changed: product.md §5 at the very next look-up.
func TestSessionCacheFollowsOtherProcesses(t *testing.T) {
	a, path := openTemp(t)
	// b is another process: its own connections to the same file.
	b, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	alice, _ := a.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	sid := startSession(t, a, alice, "tok", now, "192.0.2.1")
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
	// An account change elsewhere shows at once.
	if err := b.MarkEmailVerified(ctx, alice.ID, now); err != nil {
		t.Fatal(err)
	}
	if u, _, err := a.SessionUser(ctx, sid, "tok"); err != nil || !u.EmailVerified() {
		t.Errorf("after verify elsewhere: %v verified=%v", err, u != nil && u.EmailVerified())
	}
	// Ending the session elsewhere ends it here, data included.
	if _, err := b.DeleteUserSessions(ctx, alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := lookup("after revocation"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("after revocation elsewhere: %v, want ErrNotFound", err)
	}
	// Its session data may still be in memory (it grants nothing without
	// the session); the server destroys it on that request, and then it
	// is gone.
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
	b, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
