package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
)

// product.md §7: links are single use, of one kind, expire, and a new
// reset link voids the older one.
func testLinkTokenLifecycle(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	tok, err := s.CreateLinkToken(ctx, u.ID, db.TokenVerify, "", now, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	peek, err := s.PeekLinkToken(ctx, tok, now, db.TokenVerify, db.TokenEmailChange)
	if err != nil || peek.UserID != u.ID || peek.Kind != db.TokenVerify || peek.NewEmail != "" ||
		!peek.CreatedAt.Equal(now) || !peek.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Errorf("PeekLinkToken = %+v, %v", peek, err)
	}
	// A verify token is not a reset token.
	if _, err := s.PeekLinkToken(ctx, tok, now, db.TokenReset); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("peek a verify token as a reset token: %v, want ErrNotFound", err)
	}
	if _, _, err := s.ResetPassword(ctx, tok, "new", now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("reset with a verify token: %v, want ErrNotFound", err)
	}
	used, err := s.UseEmailToken(ctx, tok, now)
	if err != nil || used.ID != peek.ID || used.Kind != db.TokenVerify {
		t.Fatalf("UseEmailToken = %+v, %v", used, err)
	}
	if got, _ := s.UserByID(ctx, u.ID); !got.EmailVerifiedAt.Equal(now) {
		t.Errorf("verified at %v after the link, want %v", got.EmailVerifiedAt, now)
	}
	if _, err := s.UseEmailToken(ctx, tok, now); !errors.Is(err, db.ErrTokenUsed) {
		t.Errorf("second use: %v, want ErrTokenUsed", err)
	}
	if _, err := s.PeekLinkToken(ctx, tok, now, db.TokenVerify); !errors.Is(err, db.ErrTokenUsed) {
		t.Errorf("peek a used token: %v, want ErrTokenUsed", err)
	}
	if _, err := s.UseEmailToken(ctx, tok+"x", now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("tampered: %v, want ErrNotFound", err)
	}

	old, _ := s.CreateLinkToken(ctx, u.ID, db.TokenReset, "", now, now.Add(time.Hour))
	newer, _ := s.CreateLinkToken(ctx, u.ID, db.TokenReset, "", now, now.Add(time.Hour))
	if _, err := s.PeekLinkToken(ctx, old, now, db.TokenReset); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("older reset token after a new one: %v, want ErrNotFound", err)
	}
	if _, err := s.PeekLinkToken(ctx, newer, now.Add(time.Hour), db.TokenReset); !errors.Is(err, db.ErrTokenExpired) {
		t.Errorf("peek at expiry: %v, want ErrTokenExpired", err)
	}
	if _, _, err := s.ResetPassword(ctx, newer, "h2", now.Add(time.Hour)); !errors.Is(err, db.ErrTokenExpired) {
		t.Errorf("reset at expiry: %v, want ErrTokenExpired", err)
	}
	if _, _, err := s.ResetPassword(ctx, newer, "h2", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "h2" {
		t.Errorf("hash = %q after reset", got.PasswordHash)
	}
	if _, _, err := s.ResetPassword(ctx, newer, "h3", now); !errors.Is(err, db.ErrTokenUsed) {
		t.Errorf("second reset: %v, want ErrTokenUsed", err)
	}
	if _, err := s.CreateLinkToken(ctx, u.ID+1000, db.TokenReset, "", now, now.Add(time.Hour)); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("link for a missing account: %v, want ErrNotFound", err)
	}
}

// product.md §5, §7: a reset ends every session, voids every other
// pending link and verifies the address the link reached.
func testResetPassword(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "old")
	bob := newUser(t, s, "bob", "h")
	startSession(t, s, u, "tok-1", now, "192.0.2.1")
	startSession(t, s, u, "tok-2", now, "192.0.2.2")
	bobSid := startSession(t, s, bob, "tok-bob", now, "192.0.2.3")
	change, _ := s.CreateLinkToken(ctx, u.ID, db.TokenEmailChange, "intruder@example.net", now, now.Add(time.Hour))
	verify, _ := s.CreateLinkToken(ctx, u.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	reset, _ := s.CreateLinkToken(ctx, u.ID, db.TokenReset, "", now, now.Add(time.Hour))

	tk, ended, err := s.ResetPassword(ctx, reset, "new", now.Add(time.Minute))
	if err != nil || tk.UserID != u.ID || tk.Kind != db.TokenReset || len(ended) != 2 {
		t.Fatalf("ResetPassword = %+v, %v, %v", tk, ended, err)
	}
	want := map[string]bool{db.HashToken("tok-1"): true, db.HashToken("tok-2"): true}
	for _, h := range ended {
		if !want[h] {
			t.Errorf("ended hash %q is not one of alice's sessions", h)
		}
	}
	got, _ := s.UserByID(ctx, u.ID)
	if got.PasswordHash != "new" || !got.EmailVerifiedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("after reset: hash %q, verified at %v", got.PasswordHash, got.EmailVerifiedAt)
	}
	for tok, kind := range map[string]db.TokenKind{change: db.TokenEmailChange, verify: db.TokenVerify} {
		if _, err := s.PeekLinkToken(ctx, tok, now, kind); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("%s link after a reset: %v, want ErrNotFound", kind, err)
		}
	}
	if list, _ := s.UserSessions(ctx, u.ID, now, time.Hour); len(list) != 0 {
		t.Errorf("sessions after a reset: %+v", list)
	}
	if _, _, err := s.SessionUser(ctx, bobSid, "tok-bob"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
	// An address verified before keeps its first time.
	if err := s.MarkEmailVerified(ctx, bob.ID, now); err != nil {
		t.Fatal(err)
	}
	r2, _ := s.CreateLinkToken(ctx, bob.ID, db.TokenReset, "", now, now.Add(time.Hour))
	if _, _, err := s.ResetPassword(ctx, r2, "new", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, bob.ID); !got.EmailVerifiedAt.Equal(now) {
		t.Errorf("bob verified at %v, want the first time %v", got.EmailVerifiedAt, now)
	}
}

// An email-change link moves the account and verifies the new address,
// unless another account took it meanwhile; then nothing changes.
func testChangeEmailToken(t *testing.T, s Store) {
	ctx := t.Context()
	a := newUser(t, s, "alice", "hash")
	newUser(t, s, "bob", "hash")
	verify, _ := s.CreateLinkToken(ctx, a.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	taken, _ := s.CreateLinkToken(ctx, a.ID, db.TokenEmailChange, "bob@example.com", now, now.Add(time.Hour))
	if tk, _ := s.PeekLinkToken(ctx, taken, now, db.TokenEmailChange); tk == nil || tk.NewEmail != "bob@example.com" {
		t.Errorf("PeekLinkToken = %+v, want the new address", tk)
	}
	if _, err := s.UseEmailToken(ctx, taken, now); !errors.Is(err, db.ErrDuplicateEmail) {
		t.Fatalf("change to a taken address: %v, want ErrDuplicateEmail", err)
	}
	// Nothing was half-written: the token is still unused, the address kept.
	if _, err := s.PeekLinkToken(ctx, taken, now, db.TokenEmailChange); err != nil {
		t.Errorf("token after a refused change: %v", err)
	}
	if got, _ := s.UserByID(ctx, a.ID); got.Email != "alice@example.com" || got.EmailVerified() {
		t.Errorf("after a refused change: %q verified=%v", got.Email, got.EmailVerified())
	}
	change, _ := s.CreateLinkToken(ctx, a.ID, db.TokenEmailChange, "alice@new.example", now, now.Add(time.Hour))
	// The newer change voided the older one.
	if _, err := s.PeekLinkToken(ctx, taken, now, db.TokenEmailChange); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("older change link after a newer one: %v, want ErrNotFound", err)
	}
	tk, err := s.UseEmailToken(ctx, change, now)
	if err != nil || tk.Kind != db.TokenEmailChange || tk.NewEmail != "alice@new.example" {
		t.Fatalf("UseEmailToken = %+v, %v", tk, err)
	}
	got, _ := s.UserByID(ctx, a.ID)
	if got.Email != "alice@new.example" || !got.EmailVerified() {
		t.Errorf("after change: %q verified=%v", got.Email, got.EmailVerified())
	}
	if u, err := s.UserByLogin(ctx, "alice@new.example"); err != nil || u.ID != a.ID {
		t.Errorf("sign-in by the new address: %+v, %v", u, err)
	}
	// The verify link mailed to the old address is void now.
	if _, err := s.UseEmailToken(ctx, verify, now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("old verify link after the change: %v, want ErrNotFound", err)
	}
}

// Of many requests opening one link at once, exactly one uses it.
func testConcurrentLinkUse(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "h")
	tok, err := s.CreateLinkToken(ctx, u.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.UseEmailToken(ctx, tok, now) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, db.ErrTokenUsed):
			t.Errorf("UseEmailToken: %v, want nil or ErrTokenUsed", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d requests used the link, want exactly 1", ok)
	}
}

// Cleanup removes links that expired before the time given.
func testDeleteExpiredTokens(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "h")
	gone, _ := s.CreateLinkToken(ctx, u.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	kept, _ := s.CreateLinkToken(ctx, u.ID, db.TokenReset, "", now, now.Add(3*time.Hour))
	n, err := s.DeleteExpiredTokens(ctx, now.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredTokens = %d, %v; want 1", n, err)
	}
	if _, err := s.PeekLinkToken(ctx, gone, now, db.TokenVerify); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("removed link: %v, want ErrNotFound", err)
	}
	if _, err := s.PeekLinkToken(ctx, kept, now, db.TokenReset); err != nil {
		t.Errorf("live link: %v", err)
	}
}
