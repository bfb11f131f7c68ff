package storetest

import (
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
)

// Creating an account returns it as stored, and every look-up finds it.
func testCreateAndFindUser(t *testing.T, s Store) {
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A time within a second is stored as Unix seconds.
	u, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", now.Add(700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID <= 0 || u.Username != "alice" || u.Email != "alice@example.com" || u.PasswordHash != "hash" ||
		!u.CreatedAt.Equal(now) || u.CreatedAt.Location() != time.UTC || u.EmailVerified() {
		t.Errorf("CreateUser = %+v", u)
	}
	lookups := map[string]func() (*db.User, error){
		"UserByID":             func() (*db.User, error) { return s.UserByID(ctx, u.ID) },
		"UserByUsername":       func() (*db.User, error) { return s.UserByUsername(ctx, "alice") },
		"UserByEmail":          func() (*db.User, error) { return s.UserByEmail(ctx, "alice@example.com") },
		"UserByLogin(name)":    func() (*db.User, error) { return s.UserByLogin(ctx, "alice") },
		"UserByLogin(address)": func() (*db.User, error) { return s.UserByLogin(ctx, "alice@example.com") },
	}
	for name, f := range lookups {
		got, err := f()
		if err != nil || !reflect.DeepEqual(got, u) {
			t.Errorf("%s = %+v, %v; want %+v", name, got, err, u)
		}
	}
	missing := map[string]func() (*db.User, error){
		"UserByID":             func() (*db.User, error) { return s.UserByID(ctx, u.ID+1000) },
		"UserByUsername":       func() (*db.User, error) { return s.UserByUsername(ctx, "nobody") },
		"UserByEmail":          func() (*db.User, error) { return s.UserByEmail(ctx, "nobody@example.com") },
		"UserByLogin(name)":    func() (*db.User, error) { return s.UserByLogin(ctx, "nobody") },
		"UserByLogin(address)": func() (*db.User, error) { return s.UserByLogin(ctx, "other@example.com") },
		"UserByLogin(alice@)":  func() (*db.User, error) { return s.UserByLogin(ctx, "alice@") },
	}
	for name, f := range missing {
		if got, err := f(); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("%s of a missing account = %+v, %v; want ErrNotFound", name, got, err)
		}
	}
	for _, c := range []struct {
		what  string
		check func(string) (bool, error)
		value string
		want  bool
	}{
		{"UsernameTaken", func(v string) (bool, error) { return s.UsernameTaken(ctx, v) }, "alice", true},
		{"UsernameTaken", func(v string) (bool, error) { return s.UsernameTaken(ctx, v) }, "bob", false},
		{"EmailTaken", func(v string) (bool, error) { return s.EmailTaken(ctx, v) }, "alice@example.com", true},
		{"EmailTaken", func(v string) (bool, error) { return s.EmailTaken(ctx, v) }, "bob@example.com", false},
	} {
		if got, err := c.check(c.value); err != nil || got != c.want {
			t.Errorf("%s(%q) = %v, %v; want %v", c.what, c.value, got, err, c.want)
		}
	}
	bob := newUser(t, s, "bob", "h")
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}
	list, err := s.ListUsers(ctx)
	if err != nil || len(list) != 2 || list[0].ID != u.ID || list[1].ID != bob.ID {
		t.Errorf("ListUsers = %+v, %v; want alice, then bob", list, err)
	}
}

// product.md §4: usernames and addresses are unique. When both are taken,
// the username is reported.
func testDuplicateUsernameAndEmail(t *testing.T, s Store) {
	ctx := t.Context()
	newUser(t, s, "alice", "h")
	newUser(t, s, "bob", "h")
	for _, c := range []struct {
		username, email string
		want            error
	}{
		{"alice", "other@example.com", db.ErrDuplicateUsername},
		{"carol", "alice@example.com", db.ErrDuplicateEmail},
		{"alice", "bob@example.com", db.ErrDuplicateUsername},
		{"alice", "alice@example.com", db.ErrDuplicateUsername},
	} {
		if _, err := s.CreateUser(ctx, c.username, c.email, "h", now); !errors.Is(err, c.want) {
			t.Errorf("CreateUser(%s, %s) = %v, want %v", c.username, c.email, err, c.want)
		}
	}
	if n, _ := s.CountUsers(ctx); n != 2 {
		t.Errorf("users = %d after refused sign-ups, want 2", n)
	}
}

// Concurrent sign-ups: of many with one username (or one address) exactly
// one gets the account and every other gets the duplicate error; many
// distinct sign-ups at once all succeed.
func testConcurrentSignups(t *testing.T, s Store) {
	ctx := t.Context()
	const n = 20
	run := func(names func(i int) (string, string)) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				name, email := names(i)
				_, errs[i] = s.CreateUser(ctx, name, email, "h", now)
			})
		}
		wg.Wait()
		return errs
	}
	tally := func(what string, errs []error, dup error) {
		t.Helper()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, dup):
				t.Errorf("%s: %v, want nil or %v", what, err, dup)
			}
		}
		if ok != 1 {
			t.Errorf("%s: %d sign-ups succeeded, want exactly 1", what, ok)
		}
	}
	tally("one username", run(func(i int) (string, string) {
		return "same", "same" + strconv.Itoa(i) + "@example.com"
	}), db.ErrDuplicateUsername)
	tally("one address", run(func(i int) (string, string) {
		return "user" + strconv.Itoa(i), "shared@example.com"
	}), db.ErrDuplicateEmail)
	for i, err := range run(func(i int) (string, string) {
		name := "distinct" + strconv.Itoa(i)
		return name, name + "@example.com"
	}) {
		if err != nil {
			t.Errorf("distinct sign-up %d: %v", i, err)
		}
	}
	if got, err := s.CountUsers(ctx); err != nil || got != n+2 {
		t.Errorf("CountUsers = %d, %v; want %d", got, err, n+2)
	}
}

// A rehash with newer parameters never undoes a password change in
// between; verifying an address keeps the first time.
func testUpgradeHashAndVerify(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "old-params")
	if err := s.UpgradePasswordHash(ctx, alice.ID, "old-params", "new-params"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if err := s.UpgradePasswordHash(ctx, alice.ID, "old-params", "again"); !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("upgrade of a hash that changed: %v, want ErrAccountChanged", err)
	}
	if err := s.UpgradePasswordHash(ctx, alice.ID+1000, "x", "y"); !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("upgrade of a missing account: %v, want ErrAccountChanged", err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.PasswordHash != "new-params" {
		t.Errorf("hash %q, want new-params", u.PasswordHash)
	}

	if err := s.MarkEmailVerified(ctx, alice.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmailVerified(ctx, alice.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); !u.EmailVerifiedAt.Equal(now) {
		t.Errorf("verified at %v, want the first time %v", u.EmailVerifiedAt, now)
	}
	if err := s.MarkEmailVerified(ctx, alice.ID+1000, now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("verify a missing account: %v, want ErrNotFound", err)
	}
}

// product.md §5, §7: a password change ends every session but the kept
// one and voids every unused link of the account; other users are
// untouched.
func testChangePassword(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "old-hash")
	bob := newUser(t, s, "bob", "bob-hash")
	keep := startSession(t, s, alice, "tok-keep", now, "192.0.2.1")
	startSession(t, s, alice, "tok-other", now, "192.0.2.2")
	bobSess := startSession(t, s, bob, "tok-bob", now, "192.0.2.3")
	reset, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenReset, "", now, now.Add(time.Hour))
	verify, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenVerify, "", now, now.Add(time.Hour))
	change, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenEmailChange, "alice@new.example", now, now.Add(time.Hour))
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
	for tok, kind := range map[string]db.TokenKind{reset: db.TokenReset, verify: db.TokenVerify, change: db.TokenEmailChange} {
		if _, err := s.PeekLinkToken(ctx, tok, now, kind); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("%s link after a password change: %v, want ErrNotFound", kind, err)
		}
	}
	if _, err := s.PeekLinkToken(ctx, bobReset, now, db.TokenReset); err != nil {
		t.Errorf("bob's reset link voided: %v", err)
	}
	if _, _, err := s.SessionUser(ctx, bobSess, "tok-bob"); err != nil {
		t.Errorf("bob's session ended: %v", err)
	}
	// Keep none (the admin command).
	if ended, err := s.ChangePassword(ctx, alice.ID, "newer-hash", 0); err != nil || len(ended) != 1 || ended[0] != db.HashToken("tok-keep") {
		t.Errorf("keep none: %v, %v", ended, err)
	}
	if _, err := s.ChangePassword(ctx, alice.ID+1000, "x", 0); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}

// Deleting an account takes its sessions, their data and its links along,
// and leaves other accounts alone.
func testDeleteUser(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	sid := startSession(t, s, alice, "tok-a", now, "192.0.2.1")
	bobSid := startSession(t, s, bob, "tok-b", now, "192.0.2.2")
	store := s.Sessions()
	for _, tok := range []string{"tok-a", "tok-b"} {
		if err := store.Commit(tok, []byte("data"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	link, _ := s.CreateLinkToken(ctx, alice.ID, db.TokenVerify, "", now, now.Add(time.Hour))

	ended, err := s.DeleteUser(ctx, alice.ID)
	if err != nil || len(ended) != 1 || ended[0] != db.HashToken("tok-a") {
		t.Fatalf("DeleteUser = %v, %v; want the hash of tok-a", ended, err)
	}
	if err := store.DeleteHashed(ctx, ended); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, sid, "tok-a"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session of the deleted user: %v, want ErrNotFound", err)
	}
	if _, found, _ := store.Find("tok-a"); found {
		t.Error("session data of the deleted user survived")
	}
	if _, err := s.PeekLinkToken(ctx, link, now, db.TokenVerify); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("link of the deleted user: %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, alice.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("deleted user found: %v", err)
	}
	if _, err := s.DeleteUser(ctx, alice.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, _, err := s.SessionUser(ctx, bobSid, "tok-b"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
	if _, found, _ := store.Find("tok-b"); !found {
		t.Error("bob's session data went with alice's account")
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 1 || users[0].ID != bob.ID {
		t.Fatalf("ListUsers = %+v, %v; want bob alone", users, err)
	}
}

// product.md §12: an app knows an account by its id (sub), so no account
// ever gets an id another had, even when the newest account was deleted
// (SQLite gives a row the highest id present plus one) or several were.
func testUserIDsNeverGivenTwice(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	carol := newUser(t, s, "carol", "h")
	for _, u := range []*db.User{carol, bob} { // the newest first
		if _, err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	dave := newUser(t, s, "dave", "h")
	if dave.ID <= carol.ID {
		t.Fatalf("ids: alice %d, bob %d, carol %d (bob and carol deleted), then dave %d: an id given twice",
			alice.ID, bob.ID, carol.ID, dave.ID)
	}
	if _, err := s.DeleteUser(ctx, dave.ID); err != nil {
		t.Fatal(err)
	}
	if erin := newUser(t, s, "erin", "h"); erin.ID <= dave.ID {
		t.Fatalf("dave %d deleted, then erin %d: an id given twice", dave.ID, erin.ID)
	}
}
