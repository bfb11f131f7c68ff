package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/db"
)

// TestChangePassword: the hash changes, every session but the kept one
// ends, every unused link of the account is void (product.md §7: a
// password change voids every pending link), other users are untouched.
func TestChangePassword(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	alice, err := s.CreateUser(ctx, "alice", "alice@example.com", "old-hash", now)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := s.CreateUser(ctx, "bob", "bob@example.com", "bob-hash", now)
	keep := startSession(t, s, alice, "tok-keep", now, "192.0.2.1")
	startSession(t, s, alice, "tok-other", now, "192.0.2.2")
	bobSess := startSession(t, s, bob, "tok-bob", now, "192.0.2.3")
	reset, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenReset, "", now, now.Add(time.Hour))
	verify, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	bobReset, _ := s.CreateLinkToken(ctx, bob.ID, db.TokenReset, "", now, now.Add(time.Hour))

	ended, err := s.ChangePassword(ctx, alice.ID, "new-hash", keep)
	if err != nil || len(ended) != 1 || ended[0] != db.HashToken("tok-other") {
		t.Fatalf("ChangePassword = %v, %v; want the hash of tok-other", ended, err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.PasswordHash != "new-hash" {
		t.Errorf("hash %q", u.PasswordHash)
	}
	list, _ := s.UserSessions(ctx, alice.ID, now, time.Hour)
	if len(list) != 1 || list[0].ID != keep {
		t.Errorf("sessions left %+v, want only %d", list, keep)
	}
	if _, err := s.PeekLinkToken(ctx, reset, now, db.TokenReset); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("reset link after password change: %v, want ErrNotFound", err)
	}
	if _, err := s.PeekLinkToken(ctx, verify, now, db.TokenVerify); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("verify link after password change: %v, want ErrNotFound", err)
	}
	if _, err := s.PeekLinkToken(ctx, bobReset, now, db.TokenReset); err != nil {
		t.Errorf("bob's reset link voided: %v", err)
	}
	if _, _, err := s.SessionUser(ctx, bobSess, "tok-bob"); err != nil {
		t.Errorf("bob's session ended: %v", err)
	}

	// Keep none (the admin command).
	if ended, err := s.ChangePassword(ctx, alice.ID, "newer-hash", 0); err != nil || len(ended) != 1 {
		t.Errorf("keep none: %v, %v", ended, err)
	}
	if _, err := s.ChangePassword(ctx, 9999, "x", 0); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}

func TestDeleteUserAndListUsers(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	alice, _ := s.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	bob, _ := s.CreateUser(ctx, "bob", "bob@example.com", "h", now)
	sid := startSession(t, s, alice, "tok-a", now, "192.0.2.1")
	if err := s.SessionStore().Commit("tok-a", []byte("data"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ended, err := s.DeleteUser(ctx, alice.ID); err != nil || len(ended) != 1 {
		t.Fatalf("DeleteUser = %v, %v", ended, err)
	}
	if _, _, err := s.SessionUser(ctx, sid, "tok-a"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session of deleted user: %v", err)
	}
	if _, found, _ := s.SessionStore().Find("tok-a"); found {
		t.Error("scs row of the deleted user's session survived")
	}
	if _, err := s.DeleteUser(ctx, alice.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 1 || users[0].ID != bob.ID || users[0].Username != "bob" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
}

// startSession records a signed-in session of u under token.
func startSession(t *testing.T, s *db.Store, u *db.User, token string, now time.Time, ip string) int64 {
	t.Helper()
	id, err := s.CreateSession(context.Background(), db.NewSession{
		UserID: u.ID, PasswordHash: u.PasswordHash, Token: token,
		Now: now, Expires: now.Add(time.Hour), IP: ip, UserAgent: "ua",
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return id
}

// TestSessionStartsOnlyWithTheCheckedPassword: product.md §5 — a password
// change ends every session signed in with the old password, including
// sign-ins that were still being checked. A session whose sign-in read an
// older password hash (or an account since deleted) does not start.
func TestSessionStartsOnlyWithTheCheckedPassword(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	alice, _ := s.CreateUser(ctx, "alice", "alice@example.com", "old-hash", now)
	if _, err := s.ChangePassword(ctx, alice.ID, "new-hash", 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateSession(ctx, db.NewSession{UserID: alice.ID, PasswordHash: "old-hash", Token: "t1", Now: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("session with the old password's hash: %v, want ErrAccountChanged", err)
	}
	if list, _ := s.UserSessions(ctx, alice.ID, now, time.Hour); len(list) != 0 {
		t.Errorf("sessions %+v, want none", list)
	}
	_, err = s.CreateSession(ctx, db.NewSession{UserID: 999, PasswordHash: "x", Token: "t2", Now: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("session of a missing account: %v, want ErrAccountChanged", err)
	}
	// A rehash with newer parameters never undoes a change in between.
	if err := s.UpgradePasswordHash(ctx, alice.ID, "old-hash", "rehash"); !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("upgrade of a changed hash: %v, want ErrAccountChanged", err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.PasswordHash != "new-hash" {
		t.Errorf("hash %q, want new-hash", u.PasswordHash)
	}
}

// TestReplacedTokenStaysDead: product.md §5 — a dead token never comes
// back. After a renewal the session is found only under its new token,
// even when the old token's session data is saved again, and the renewal
// keeps the absolute deadline.
func TestReplacedTokenStaysDead(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	alice, _ := s.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	sid := startSession(t, s, alice, "old-token", now, "192.0.2.1")
	if err := s.RekeySession(ctx, sid, "new-token"); err != nil {
		t.Fatal(err)
	}
	// A request that began before the renewal saves under the old token.
	if err := s.SessionStore().Commit("old-token", []byte("sid"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, sid, "old-token"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("old token after renewal: %v, want ErrNotFound", err)
	}
	_, sess, err := s.SessionUser(ctx, sid, "new-token")
	if err != nil {
		t.Fatalf("new token: %v", err)
	}
	if want := now.Add(time.Hour).Unix(); sess.ExpiresAt.Unix() != want {
		t.Errorf("deadline %v after renewal, want the original %v", sess.ExpiresAt, time.Unix(want, 0))
	}
}
