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
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed-secret"), nil, now); err != nil {
		t.Fatal(err)
	}
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

// product.md §11: an account without a second factor never passes, so a
// session's pass ends at the next look-up when the account's last factor
// goes (authenticator off, last passkey deleted, reset), whatever the
// session once proved, and comes back only with a factor this session
// proves. Each look-up is made once before the change, so a backend that
// caches look-ups is checked to drop what it held.
func testSecondFactorEndsWithTheLastFactor(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	bob := newUser(t, s, "bob", "hash")
	start := func(user *db.User, token string) int64 {
		t.Helper()
		id, err := s.CreateSession(ctx, db.NewSession{
			UserID: user.ID, PasswordHash: user.PasswordHash, Token: token,
			Now: now, Expires: now.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua",
			Method: "password+code", SecondFactor: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	passes := func(id int64, token string) bool {
		t.Helper()
		_, sess, err := s.SessionUser(ctx, id, token)
		if err != nil {
			t.Fatalf("SessionUser(%d): %v", id, err)
		}
		return sess.SecondFactor
	}
	listed := func(user *db.User, id int64) bool {
		t.Helper()
		list, err := s.UserSessions(ctx, user.ID, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			if x.ID == id {
				return x.SecondFactor
			}
		}
		t.Fatalf("session %d not listed: %+v", id, list)
		return false
	}

	// A flag with no factor behind it never passes.
	a := start(u, "tok-a")
	if passes(a, "tok-a") || listed(u, a) {
		t.Error("a session of an account without a second factor passes")
	}
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed"), []string{"c1"}, now); err != nil {
		t.Fatal(err)
	}
	b := start(bob, "tok-b")
	if err := s.EnableTOTP(ctx, bob.ID, []byte("sealed-bob"), nil, now); err != nil {
		t.Fatal(err)
	}
	if !passes(a, "tok-a") || !listed(u, a) || !passes(b, "tok-b") {
		t.Fatal("sessions that passed a second factor of accounts that have one do not pass")
	}

	// Authenticator off: alice's pass ends; bob's stays.
	if err := s.DisableTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if passes(a, "tok-a") || listed(u, a) {
		t.Error("session passes after the authenticator went off")
	}
	if !passes(b, "tok-b") {
		t.Error("another account's session lost its pass")
	}
	// A pending setup is no factor.
	if err := s.SetPendingTOTP(ctx, u.ID, []byte("pending")); err != nil {
		t.Fatal(err)
	}
	if passes(a, "tok-a") {
		t.Error("session passes with only a pending setup")
	}

	// The last passkey deleted: the pass ends; with one left, it stays.
	a = start(u, "tok-a2")
	p1, err := s.AddPasskey(ctx, db.Passkey{UserID: u.ID, CredentialID: []byte("cred-1"), Name: "one", Credential: []byte("{}"), CreatedAt: now}, []string{"c2"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.AddPasskey(ctx, db.Passkey{UserID: u.ID, CredentialID: []byte("cred-2"), Name: "two", Credential: []byte("{}"), CreatedAt: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !passes(a, "tok-a2") {
		t.Fatal("session does not pass with two passkeys")
	}
	if err := s.DeletePasskey(ctx, u.ID, p1); err != nil {
		t.Fatal(err)
	}
	if !passes(a, "tok-a2") {
		t.Error("session lost its pass with a passkey left")
	}
	if err := s.DeletePasskey(ctx, u.ID, p2); err != nil {
		t.Fatal(err)
	}
	if passes(a, "tok-a2") {
		t.Error("session passes after the last passkey went")
	}

	// Reset of every factor.
	a = start(u, "tok-a3")
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed"), []string{"c3"}, now); err != nil {
		t.Fatal(err)
	}
	if !passes(a, "tok-a3") {
		t.Fatal("session does not pass with the authenticator on")
	}
	if err := s.ResetSecondFactors(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if passes(a, "tok-a3") {
		t.Error("session passes after its account's factors were reset")
	}
	// A session that proves a new factor itself passes again.
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed"), []string{"c4"}, now); err != nil {
		t.Fatal(err)
	}
	c := startSession(t, s, u, "tok-c", now, "192.0.2.3")
	if err := s.MarkSecondFactor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !passes(c, "tok-c") {
		t.Error("session that turned the authenticator on does not pass")
	}
}
