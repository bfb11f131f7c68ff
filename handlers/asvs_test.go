package handlers_test

// Tests for OWASP ASVS 5.0 requirements that no other test shows; see
// docs/SECURITY.md for the whole list.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// ASVS 6.2.8 and 6.2.9: long passwords are allowed, and a password is
// checked exactly as typed: not trimmed, not case-folded, not truncated.
func TestPasswordCheckedExactly(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	pw := "  Mixed Case and spaces: " + strings.Repeat("x", 40) + "  " // 67 characters
	srv.NewClient(t).Signup("exact", "exact@example.com", pw)
	long := strings.Repeat("pässwörd ", 28)[:256]
	srv.NewClient(t).Signup("longpw", "longpw@example.com", long)

	for _, tc := range []struct {
		login, pw string
		want      int
	}{
		{"exact", pw, http.StatusSeeOther},
		{"exact", strings.TrimSpace(pw), http.StatusUnauthorized},
		{"exact", strings.ToLower(pw), http.StatusUnauthorized},
		{"exact", pw[:64], http.StatusUnauthorized},
		{"longpw", long, http.StatusSeeOther},
		{"longpw", long[:255], http.StatusUnauthorized},
	} {
		r := srv.NewClient(t).Post("/signin", url.Values{"username": {tc.login}, "password": {tc.pw}})
		if r.StatusCode != tc.want {
			t.Errorf("%s with a %d-byte variant: got %d, want %d", tc.login, len(tc.pw), r.StatusCode, tc.want)
		}
	}
}

// ASVS 7.2.3: session tokens are unique and carry at least 128 random bits.
func TestSessionTokensAreLongAndUnique(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("tokens", "tokens@example.com", "tokens long password")
	seen := map[string]bool{}
	for range 20 {
		c := srv.NewClient(t)
		c.Signin("tokens", "tokens long password")
		tok := c.Cookie("session")
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) < 16 {
			t.Fatalf("session token %q: %d bytes (%v), want at least 16 random bytes", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatal("a session token was issued twice")
		}
		seen[tok] = true
	}
}

// ASVS 7.4.4: every signed-in page offers sign-out.
func TestSignoutOnEveryPrivatePage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("pages", "pages@example.com", "pages long password")
	for _, path := range []string{"/dashboard", "/account", "/account/sessions"} {
		r := c.Get(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if !strings.Contains(r.Body, `action="/signout"`) {
			t.Errorf("%s has no sign-out button", path)
		}
	}
}
