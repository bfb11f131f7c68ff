package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// product.md §13: a disabled account learns it is disabled only from the
// right password (403 and the message); a wrong one is answered as for
// anyone (401); neither signs in.
func TestSigninDisabledAccount(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	raw := apptest.OpenRawWritable(t, srv.DBPath)
	if _, err := raw.Exec(`UPDATE users SET disabled_at = 1767225600 WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pw     string
		status int
		msg    string
	}{
		{"correct horse battery", http.StatusForbidden, "This account is disabled."},
		{"wrong password here", http.StatusUnauthorized, "Incorrect username or password."},
	} {
		b := srv.NewClient(t)
		r := b.Post("/signin", url.Values{"username": {"alice"}, "password": {c.pw}})
		if r.StatusCode != c.status || !strings.Contains(r.Body, c.msg) {
			t.Errorf("password %q: %d, want %d with %q", c.pw, r.StatusCode, c.status, c.msg)
		}
		if me := b.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
			t.Errorf("password %q: /api/me %d after sign-in, want 401", c.pw, me.StatusCode)
		}
	}
}

// Every sign-in is recorded in the account's security activity with its
// method, address and browser (§13), and the session remembers the method.
func TestSigninRecordsEvent(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	b := srv.NewClient(t)
	b.Signup("alice", "alice@example.com", "correct horse battery")
	b.Post("/signout", nil)
	b.Signin("alice", "correct horse battery")
	raw := apptest.OpenRaw(t, srv.DBPath)
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM security_events WHERE kind = 'signed_in' AND detail = 'password' AND ip <> ''`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("%d signed_in events, want at least 1", n)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM user_sessions WHERE method = 'password' AND second_factor = 0`).Scan(&n); err != nil || n != 1 {
		t.Errorf("sessions signed in by password: %d, %v; want 1", n, err)
	}
}
