package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/internal/pgtest"
	"gatehouse/internal/redistest"
)

var setupSecretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// totpNow is the authenticator code of secret now; step moves it by steps
// of 30 s.
func totpNow(t *testing.T, secret string, step int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now().Add(time.Duration(step)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// turnOnTOTP signs b in as alice and turns her authenticator on through
// the pages; it returns the secret.
func turnOnTOTP(t *testing.T, b *browser) string {
	t.Helper()
	if s := b.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("signin: %d", s)
	}
	s, body := b.do("POST", "/account/totp/setup", url.Values{"current_password": {cliPW}})
	m := setupSecretRE.FindStringSubmatch(body)
	if s != http.StatusOK || m == nil {
		t.Fatalf("setup: %d\n%s", s, body)
	}
	if s, body := b.do("POST", "/account/totp/enable", url.Values{"code": {totpNow(t, m[1], 0)}}); s != http.StatusOK {
		t.Fatalf("enable: %d\n%s", s, body)
	}
	return m[1]
}

// product.md §10: gatehouse user reset-2fa turns off every second factor
// and ends the account's sessions; the next sign-in takes the password
// alone.
func TestUserResetSecondFactors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice")
	alice := newBrowser(t, base)
	turnOnTOTP(t, alice)
	if s, _ := newBrowser(t, base).do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password step: %d", s)
	}
	out := mustUser(t, "", "reset-2fa", "-db", path, "alice")
	if !strings.Contains(out, "reset two-step sign-in of alice: 1 session ended") {
		t.Errorf("reset-2fa said %q", out)
	}
	if s, _ := alice.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("alice's session after reset-2fa: %d, want 401", s)
	}
	b := newBrowser(t, base)
	b.do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}})
	if s, _ := b.do("GET", "/api/me", nil); s != http.StatusOK {
		t.Errorf("sign-in after reset-2fa: /api/me %d, want 200 (no second step)", s)
	}
	if _, err := userCmd(t, "", env(nil), "reset-2fa", "-db", path, "nobody"); err == nil {
		t.Error("reset-2fa of an unknown user succeeded")
	}
}

// product.md §10: with second-factor data in the database, a start
// without its key file, or with another key, is refused in one line; the
// key named by -secret-key-file elsewhere works, and the authenticator
// still checks codes with it.
func TestKeyFileWithSecondFactors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	secret := turnOnTOTP(t, newBrowser(t, base))
	stop()

	moved := filepath.Join(t.TempDir(), "elsewhere.key")
	if err := os.Rename(path+".key", moved); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-db", path}, env(nil), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing") || strings.Contains(err.Error(), "\n") {
		t.Errorf("start without the key: %v, want one line saying it is missing", err)
	}
	if _, err := os.Stat(path + ".key"); err == nil {
		t.Error("a refused start created a new key file")
	}

	base, _, stop = startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", path, "-secret-key-file", moved})
	defer stop()
	b := newBrowser(t, base)
	if s, _ := b.do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password step: %d", s)
	}
	if s, body := b.do("POST", "/signin/2fa", url.Values{"code": {totpNow(t, secret, 1)}}); s != http.StatusSeeOther {
		t.Errorf("code with the key from -secret-key-file: %d\n%s", s, body)
	}
	if s, _ := b.do("GET", "/api/me", nil); s != http.StatusOK {
		t.Errorf("/api/me after the second step: %d", s)
	}
}

// product.md §14: gatehouse copy moves the second factors too: after the
// copy, on PostgreSQL with the same key file, the authenticator still
// asks for and checks its code, and the recovery codes still count.
func TestCopyKeepsSecondFactors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	secret := turnOnTOTP(t, newBrowser(t, base))
	stop()

	dbURL := pgtest.URL(t)
	var out strings.Builder
	if err := run(context.Background(), []string{"copy", "-from", path, "-to", dbURL}, env(nil), nil, &out, &out); err != nil {
		t.Fatalf("copy: %v\n%s", err, out.String())
	}
	base, _, stop = startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dbURL, "-secret-key-file", path + ".key"})
	defer stop()
	b := newBrowser(t, base)
	if s, _ := b.do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password step on PostgreSQL: %d", s)
	}
	if s, _ := b.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("/api/me before the code: %d, want 401", s)
	}
	if s, body := b.do("POST", "/signin/2fa", url.Values{"code": {totpNow(t, secret, 1)}}); s != http.StatusSeeOther {
		t.Fatalf("code on PostgreSQL: %d\n%s", s, body)
	}
	if _, body := b.do("GET", "/account/security", nil); !strings.Contains(body, "<strong>10</strong> unused recovery codes") {
		t.Errorf("security page after the copy:\n%s", body)
	}
}

// product.md §10, §14: two instances on one PostgreSQL and one Redis: the
// pending second step started on one passes on the other, and a code
// accepted on one is refused on the other (the replay guard is shared).
func TestSecondStepAcrossInstances(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	c := startCluster(t, 2, pgtest.URL(t), r.URL)
	signup(t, c.urls[0], "alice")
	secret := turnOnTOTP(t, newBrowser(t, c.urls[0]))

	b := newBrowser(t, c.urls[0])
	if s, _ := b.do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password step on instance 0: %d", s)
	}
	code := totpNow(t, secret, 1)
	if s, body := b.on(c.urls[1]).do("POST", "/signin/2fa", url.Values{"code": {code}}); s != http.StatusSeeOther {
		t.Fatalf("second step on instance 1: %d\n%s", s, body)
	}
	if s, _ := b.on(c.urls[0]).do("GET", "/api/me", nil); s != http.StatusOK {
		t.Errorf("/api/me on instance 0 after the second step on 1: %d", s)
	}
	other := newBrowser(t, c.urls[1])
	if s, _ := other.do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password step on instance 1: %d", s)
	}
	if s, _ := other.on(c.urls[0]).do("POST", "/signin/2fa", url.Values{"code": {code}}); s != http.StatusUnauthorized {
		t.Errorf("the same code on instance 0: %d, want 401 (replay)", s)
	}
}
