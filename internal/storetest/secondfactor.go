package storetest

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/account"
	"gatehouse/db"
)

// product.md §10: the authenticator (sealed secrets, as given), recovery
// codes (hashes, each used once, ending with the last factor) and
// passkeys, and what deleting an account or resetting its factors leaves.
func testSecondFactors(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	other := newUser(t, s, "bob", "hash")
	if tt, err := s.TOTP(ctx, u.ID); err != nil || tt.On() || tt.Pending != nil {
		t.Fatalf("TOTP of a new account = %+v, %v", tt, err)
	}
	if err := s.SetPendingTOTP(ctx, u.ID, []byte("sealed-pending")); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Error("a pending setup counts as a second factor")
	}
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed-secret"), []string{"h1", "h2", "h3"}, now); err != nil {
		t.Fatal(err)
	}
	tt, err := s.TOTP(ctx, u.ID)
	if err != nil || !tt.On() || !bytes.Equal(tt.Secret, []byte("sealed-secret")) || tt.Pending != nil || !tt.EnabledAt.Equal(now) {
		t.Fatalf("TOTP after enable = %+v, %v", tt, err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 3 {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 3", n, err)
	}
	if err := s.UseRecoveryCode(ctx, other.ID, "h1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("another account uses alice's code: %v, want ErrNotFound", err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, "h1"); err != nil {
		t.Errorf("UseRecoveryCode: %v", err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, "h1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a code used twice: %v, want ErrNotFound", err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, "h2"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("an old code after renewal: %v, want ErrNotFound", err)
	}

	p := db.Passkey{UserID: u.ID, CredentialID: []byte{1, 2, 3, 0}, Name: "Laptop", Credential: []byte(`{"id":"AQID"}`), CreatedAt: now}
	id, err := s.AddPasskey(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPasskey(ctx, db.Passkey{UserID: other.ID, CredentialID: p.CredentialID, Name: "x", Credential: []byte("{}"), CreatedAt: now}, nil); !errors.Is(err, db.ErrDuplicatePasskey) {
		t.Errorf("the same credential twice: %v, want ErrDuplicatePasskey", err)
	}
	got, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
	if err != nil || got.ID != id || got.UserID != u.ID || got.Name != "Laptop" || !got.CreatedAt.Equal(now) || !got.LastUsedAt.IsZero() {
		t.Fatalf("PasskeyByCredentialID = %+v, %v", got, err)
	}
	if err := s.PasskeyUsed(ctx, id, []byte(`{"id":"AQID","n":2}`), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := s.Passkeys(ctx, u.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(now.Add(time.Hour)) || string(list[0].Credential) != `{"id":"AQID","n":2}` {
		t.Fatalf("Passkeys = %+v, %v", list, err)
	}
	// The authenticator goes; the passkey remains, and so do the codes.
	if err := s.DisableTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 2 {
		t.Errorf("codes after disable with a passkey left: %d, want 2", n)
	}
	if has, _ := s.HasSecondFactor(ctx, u.ID); !has {
		t.Error("HasSecondFactor false with a passkey")
	}
	if err := s.DeletePasskey(ctx, other.ID, id); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("bob deletes alice's passkey: %v, want ErrNotFound", err)
	}
	if err := s.DeletePasskey(ctx, u.ID, id); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("codes after the last factor went: %d, want 0", n)
	}
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Error("HasSecondFactor true with nothing left")
	}

	// Reset and deletion leave nothing behind.
	if _, err := s.AddPasskey(ctx, p, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, u.ID, []byte("s"), []string{"r2"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetSecondFactors(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Error("HasSecondFactor after reset")
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("codes after reset: %d", n)
	}
	if _, err := s.AddPasskey(ctx, p, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, u.ID, []byte("s"), []string{"r2"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeyByCredentialID(ctx, p.CredentialID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("passkey after account deletion: %v", err)
	}
	if tt, _ := s.TOTP(ctx, u.ID); tt.On() {
		t.Error("authenticator after account deletion")
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("codes after account deletion: %d", n)
	}
}

// product.md §11: a session that turned a factor on itself counts as
// having passed one, at the next look-up.
func testMarkSecondFactor(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	id := startSession(t, s, u, "tok", now, "127.0.0.1")
	if _, sess, err := s.SessionUser(ctx, id, "tok"); err != nil || sess.SecondFactor {
		t.Fatalf("before: %+v, %v", sess, err)
	}
	if err := s.MarkSecondFactor(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, sess, err := s.SessionUser(ctx, id, "tok"); err != nil || !sess.SecondFactor {
		t.Errorf("after MarkSecondFactor: %+v, %v", sess, err)
	}
}

func testOneTimeSQL(t *testing.T, s Store) {
	RunOneTime(t, s)
	// Expired records are cleaned up.
	ctx := t.Context()
	if err := s.PutOneTime(ctx, "old", []byte("v"), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpiredOneTime(ctx, now); err != nil || n < 1 {
		t.Errorf("DeleteExpiredOneTime = %d, %v", n, err)
	}
}

// RunOneTime is the behaviour of every account.OneTime (the SQL stores,
// Redis): a key is claimed once until it expires, even by many at once;
// a value is taken once, and not after it expires. Times are near the
// real clock, since Redis expires keys by its own.
func RunOneTime(t *testing.T, o account.OneTime) {
	ctx := t.Context()
	at := time.Now()
	ok, err := o.ClaimOnce(ctx, "totp-used:1:5", at, at.Add(time.Minute))
	if err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, err := o.ClaimOnce(ctx, "totp-used:1:5", at, at.Add(time.Minute)); err != nil || ok {
		t.Errorf("second claim = %v, %v; want false", ok, err)
	}
	if ok, _ := o.ClaimOnce(ctx, "totp-used:2:5", at, at.Add(time.Minute)); !ok {
		t.Error("another key refused")
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ok, err := o.ClaimOnce(ctx, "race", at, at.Add(time.Minute)); err == nil && ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d of 8 concurrent claims won, want 1", wins.Load())
	}

	if err := o.PutOneTime(ctx, "challenge", []byte{0, 1, 2}, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if v, err := o.TakeOneTime(ctx, "challenge", at); err != nil || !bytes.Equal(v, []byte{0, 1, 2}) {
		t.Errorf("TakeOneTime = %v, %v", v, err)
	}
	if _, err := o.TakeOneTime(ctx, "challenge", at); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second take: %v, want ErrNotFound", err)
	}
	if _, err := o.TakeOneTime(ctx, "never", at); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("take of nothing: %v, want ErrNotFound", err)
	}
	if err := o.PutOneTime(ctx, "short", []byte("v"), at.Add(1100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Past its expiry (by the store's clock: Redis's own, or the time given).
	time.Sleep(2100 * time.Millisecond)
	if _, err := o.TakeOneTime(ctx, "short", time.Now()); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("take after expiry: %v, want ErrNotFound", err)
	}
}
