package db

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLinkTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	u, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateLinkToken(ctx, u.ID, TokenVerify, "", now, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 {
		t.Errorf("token %q has %d characters, want 43 (32 bytes base64url)", tok, len(tok))
	}
	// Only the hash is stored.
	var n int
	if err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM link_tokens WHERE token_hash = ? OR token_hash = ?`, tok, HashToken(tok)); err != nil || n != 1 {
		t.Fatalf("rows matching the hash = %d, %v", n, err)
	}
	if err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM link_tokens WHERE token_hash = ?`, tok); err != nil || n != 0 {
		t.Fatalf("rows holding the plain token = %d, %v", n, err)
	}
	// A verify token is not a reset token.
	if _, _, err := s.ResetPassword(ctx, tok, "new", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("reset with a verify token: %v, want ErrNotFound", err)
	}
	if _, err := s.UseEmailToken(ctx, tok, now); err != nil {
		t.Fatal(err)
	}
	got, _ := s.UserByID(ctx, u.ID)
	if !got.EmailVerified() {
		t.Error("not verified after the link")
	}
	if _, err := s.UseEmailToken(ctx, tok, now); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("second use: %v, want ErrTokenUsed", err)
	}
	if _, err := s.UseEmailToken(ctx, tok+"x", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("tampered: %v, want ErrNotFound", err)
	}

	old, _ := s.CreateLinkToken(ctx, u.ID, TokenReset, "", now, now.Add(time.Hour))
	newer, _ := s.CreateLinkToken(ctx, u.ID, TokenReset, "", now, now.Add(time.Hour))
	if _, err := s.PeekLinkToken(ctx, old, now, TokenReset); !errors.Is(err, ErrNotFound) {
		t.Errorf("older reset token after a new one: %v, want ErrNotFound", err)
	}
	if _, _, err := s.ResetPassword(ctx, newer, "h2", now.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("reset at expiry: %v, want ErrTokenExpired", err)
	}
	if _, _, err := s.ResetPassword(ctx, newer, "h2", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "h2" {
		t.Errorf("hash = %q after reset", got.PasswordHash)
	}
}

func TestChangeEmailToken(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	a, _ := s.CreateUser(ctx, "alice", "alice@example.com", "hash", now)
	if _, err := s.CreateUser(ctx, "bob", "bob@example.com", "hash", now); err != nil {
		t.Fatal(err)
	}
	verify, _ := s.CreateLinkToken(ctx, a.ID, TokenVerify, "", now, now.Add(time.Hour))
	taken, _ := s.CreateLinkToken(ctx, a.ID, TokenEmailChange, "bob@example.com", now, now.Add(time.Hour))
	if _, err := s.UseEmailToken(ctx, taken, now); !errors.Is(err, ErrDuplicateEmail) {
		t.Fatalf("change to a taken address: %v, want ErrDuplicateEmail", err)
	}
	// Nothing was half-written: the token is still unused.
	if _, err := s.PeekLinkToken(ctx, taken, now, TokenEmailChange); err != nil {
		t.Errorf("token after a refused change: %v", err)
	}
	change, _ := s.CreateLinkToken(ctx, a.ID, TokenEmailChange, "alice@new.example", now, now.Add(time.Hour))
	tk, err := s.UseEmailToken(ctx, change, now)
	if err != nil || tk.Kind != TokenEmailChange || tk.NewEmail != "alice@new.example" {
		t.Fatalf("UseEmailToken = %+v, %v", tk, err)
	}
	got, _ := s.UserByID(ctx, a.ID)
	if got.Email != "alice@new.example" || !got.EmailVerified() {
		t.Errorf("after change: %q verified=%v", got.Email, got.EmailVerified())
	}
	// The verify link mailed to the old address is void now.
	if _, err := s.UseEmailToken(ctx, verify, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("old verify link after the change: %v, want ErrNotFound", err)
	}
	// Deleting the user deletes their tokens.
	if _, err := s.write.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM link_tokens`); err != nil || n != 0 {
		t.Errorf("tokens left after the user was deleted: %d, %v", n, err)
	}
}
