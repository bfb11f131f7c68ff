package account_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/password"
	"gatehouse/rules"
	"gatehouse/throttle"
)

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// service is the account rules over a real SQLite file.
func service(t *testing.T) (*account.Service, *db.Store) {
	t.Helper()
	s, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return account.New(account.Config{
		Store: s, Sessions: s.SessionStore(), Hasher: password.NewHasher(cheap, 2),
		Limits: throttle.New(s, nil),
	}), s
}

const pw = "correct horse battery"

// product.md §3: every problem in one answer, in page order, "taken"
// included, whoever calls (web form or admin command).
func TestCreateReportsEveryProblemInPageOrder(t *testing.T) {
	svc, _ := service(t)
	ctx := context.Background()
	if _, err := svc.Create(ctx, account.NewAccount{Username: "alice", Email: "alice@example.com", Password: pw, PasswordConfirm: pw}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Create(ctx, account.NewAccount{Username: "bob", Email: "ALICE@example.com", Password: pw, PasswordConfirm: "other"})
	var p *account.Problems
	if !errors.As(err, &p) {
		t.Fatalf("err %v, want *Problems", err)
	}
	want := []string{"email", "password_confirm"}
	if len(p.Order) != 2 || p.Order[0] != want[0] || p.Order[1] != want[1] {
		t.Errorf("order %v, want %v", p.Order, want)
	}
	if p.Fields["email"] != rules.MsgEmailTaken || p.Fields["password_confirm"] != rules.MsgConfirmMismatch {
		t.Errorf("problems %v", p.Fields)
	}
}

// The password way in: one error for a wrong name or password, throttled
// per name typed after 10 failures (a count shared by username and
// address would tell which address is whose), and the session key of the
// account forms kept apart from it (product.md §6).
func TestSignInWithPasswordThrottle(t *testing.T) {
	svc, _ := service(t)
	ctx := context.Background()
	u, err := svc.Create(ctx, account.NewAccount{Username: "alice", Email: "alice@example.com", Password: pw, PasswordConfirm: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignInWithPassword(ctx, "nobody", pw, "192.0.2.1"); !errors.Is(err, account.ErrWrongPassword) {
		t.Errorf("unknown name: %v", err)
	}
	for i := range 10 {
		if _, err := svc.SignInWithPassword(ctx, " ALICE", "wrong", "192.0.2."+strconv.Itoa(i+10)); !errors.Is(err, account.ErrWrongPassword) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err = svc.SignInWithPassword(ctx, "alice", pw, "198.51.100.1")
	var th *account.ThrottledError
	if !errors.As(err, &th) || th.Rule.Name != account.SignInFailures.Name || th.Wait <= 9*time.Minute {
		t.Fatalf("11th attempt: %v, want the sign-in limit for about 10 minutes", err)
	}
	// The address is another name: not linked to the username's count.
	if _, err := svc.SignInWithPassword(ctx, "alice@example.com", pw, "198.51.100.1"); err != nil {
		t.Errorf("sign-in by address while the username is throttled: %v", err)
	}
	// The account forms count per session: still open.
	if err := svc.CheckCurrentPassword(ctx, u, 1, pw); err != nil {
		t.Errorf("current password while sign-in is throttled: %v", err)
	}
}
