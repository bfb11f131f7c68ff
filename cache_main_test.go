package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// product.md §5 with the per-process cache of the signed-in look-ups
// (db/cache.go): a sign-out, a revocation, a password change and an admin
// command run by another process take effect at the very next request,
// however warm the cache is. The admin commands run as a separate process
// (this test binary re-run as the gatehouse command).
func TestChangesTakeEffectAtTheNextRequest(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"gatehouse"}, strings.Split(os.Getenv("GATEHOUSE_TEST_ARGS"), "\x1f")...)
		main()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	gatehouse := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestChangesTakeEffectAtTheNextRequest$")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_RUN_MAIN=1", "GATEHOUSE_TEST_ARGS="+strings.Join(args, "\x1f"))
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gatehouse %v: %v\n%s", args, err, out)
		}
	}
	// warm asks for /api/me until the answers come from the cache.
	warm := func(b *browser) {
		t.Helper()
		for range 5 {
			if s, body := b.do("GET", "/api/me", nil); s != http.StatusOK {
				t.Fatalf("warm-up: %d %s", s, body)
			}
		}
	}
	signedOut := func(b *browser, what string) {
		t.Helper()
		if s, _ := b.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
			t.Fatalf("%s: the next request answered %d, want 401", what, s)
		}
	}
	signup(t, base, "alice")

	// gatehouse user signout, from another process.
	a := newBrowser(t, base)
	a.signin("alice", cliPW)
	warm(a)
	gatehouse("", "user", "signout", "-db", path, "alice")
	signedOut(a, "user signout")

	// gatehouse user set-password, from another process.
	a = newBrowser(t, base)
	a.signin("alice", cliPW)
	warm(a)
	gatehouse("another long password\n", "user", "set-password", "-db", path, "alice")
	signedOut(a, "user set-password")

	// A revocation from another session of the same server.
	a, b := newBrowser(t, base), newBrowser(t, base)
	a.signin("alice", "another long password")
	b.signin("alice", "another long password")
	warm(a)
	warm(b)
	if s, _ := b.do("POST", "/account/sessions/revoke", url.Values{"id": {"others"}}); s != http.StatusSeeOther {
		t.Fatalf("revoke others: %d", s)
	}
	signedOut(a, "sign out everywhere else")
	warm(b)

	// A password change on the account page ends the other session.
	a = newBrowser(t, base)
	a.signin("alice", "another long password")
	warm(a)
	warm(b)
	if s, _ := b.do("POST", "/account/password", url.Values{"current_password": {"another long password"},
		"new_password": {cliPW}, "new_password_confirm": {cliPW}}); s != http.StatusSeeOther {
		t.Fatalf("password change: %d", s)
	}
	signedOut(a, "password change")
	warm(b)

	// Sign-out, and an account change from another process shows at once.
	gatehouse("", "user", "verify", "-db", path, "alice")
	if _, body := b.do("GET", "/account", nil); !strings.Contains(body, "Verified") {
		t.Error("user verify from another process not shown at the next request")
	}
	if s, _ := b.do("POST", "/signout", url.Values{}); s != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", s)
	}
	signedOut(b, "sign-out")
}
