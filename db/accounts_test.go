package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/db"
)

// TestChangePassword: the hash changes, every session but the kept one
// ends, unused reset links are void, other users are untouched.
func TestChangePassword(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	alice, err := s.CreateUser(ctx, "alice", "alice@example.com", "old-hash", now)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := s.CreateUser(ctx, "bob", "bob@example.com", "bob-hash", now)
	keep, _ := s.CreateSession(ctx, alice.ID, "tok-keep", now, now.Add(time.Hour), "192.0.2.1", "ua")
	s.CreateSession(ctx, alice.ID, "tok-other", now, now.Add(time.Hour), "192.0.2.2", "ua")
	bobSess, _ := s.CreateSession(ctx, bob.ID, "tok-bob", now, now.Add(time.Hour), "192.0.2.3", "ua")
	reset, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenReset, "", now, now.Add(time.Hour))
	verify, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	bobReset, _ := s.CreateLinkToken(ctx, bob.ID, db.TokenReset, "", now, now.Add(time.Hour))

	ended, err := s.ChangePassword(ctx, alice.ID, "new-hash", keep)
	if err != nil || ended != 1 {
		t.Fatalf("ChangePassword = %d, %v; want 1 ended", ended, err)
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
	if _, err := s.PeekLinkToken(ctx, verify, now, db.TokenVerify); err != nil {
		t.Errorf("verify link voided by a password change: %v", err)
	}
	if _, err := s.PeekLinkToken(ctx, bobReset, now, db.TokenReset); err != nil {
		t.Errorf("bob's reset link voided: %v", err)
	}
	if _, _, err := s.SessionUser(ctx, bobSess); err != nil {
		t.Errorf("bob's session ended: %v", err)
	}

	// Keep none (the admin command).
	if ended, err := s.ChangePassword(ctx, alice.ID, "newer-hash", 0); err != nil || ended != 1 {
		t.Errorf("keep none: %d, %v", ended, err)
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
	sid, _ := s.CreateSession(ctx, alice.ID, "tok-a", now, now.Add(time.Hour), "192.0.2.1", "ua")
	if err := s.SessionStore().Commit("tok-a", []byte("data"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, sid); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session of deleted user: %v", err)
	}
	if _, found, _ := s.SessionStore().Find("tok-a"); found {
		t.Error("scs row of the deleted user's session survived")
	}
	if err := s.DeleteUser(ctx, alice.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 1 || users[0].ID != bob.ID || users[0].Username != "bob" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
}
