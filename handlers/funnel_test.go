package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

// product.md §13: "after the right password (and code)": a disabled
// account with an authenticator is asked for its code like any other, and
// only the right code is answered 403 with the message; nothing signs in.
func TestSigninDisabledAccountWithSecondFactor(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)
	raw := apptest.OpenRawWritable(t, srv.DBPath)
	if _, err := raw.Exec(`UPDATE users SET disabled_at = 1767225600 WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second) // the enabling code is spent
	b := srv.NewClient(t)
	signinPassword(t, b, nil)
	right := codeAt(t, secret, clock.Now())
	wrong := string('0'+(right[0]-'0'+1)%10) + right[1:]
	if r := b.Post("/signin/2fa", url.Values{"code": {wrong}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong code: %d, want 401", r.StatusCode)
	}
	r := b.Post("/signin/2fa", url.Values{"code": {right}})
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "This account is disabled.") {
		t.Errorf("right code: %d, want 403 with the message\n%s", r.StatusCode, r.Body)
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/me after the refused second step: %d, want 401", me.StatusCode)
	}
}

// "Remember me" (product.md §5) carries through the second step (§10):
// the cookie set when the code is accepted is persistent only when the
// box was ticked on the password step.
func TestRememberMeThroughSecondStep(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)
	for _, remember := range []bool{false, true} {
		clock.Advance(30 * time.Second) // a fresh code each time
		b := srv.NewClient(t)
		form := url.Values{}
		if remember {
			form.Set("remember", "on")
		}
		signinPassword(t, b, form)
		r := b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, clock.Now())}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("remember=%v: second step %d", remember, r.StatusCode)
		}
		ck := sessionCookie(r)
		if ck == nil {
			t.Fatalf("remember=%v: no session cookie after the second step", remember)
		}
		raw := r.Header.Get("Set-Cookie")
		persistent := strings.Contains(raw, "Max-Age=") || strings.Contains(raw, "Expires=")
		if persistent != remember {
			t.Errorf("remember=%v: persistent cookie = %v (%q)", remember, persistent, raw)
		}
	}
}
