package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"gatehouse/db"
)

// userCmd runs `gatehouse user ARGS...` in-process with stdin, and returns
// its output and error.
func userCmd(t *testing.T, stdin string, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"user"}, args...), getenv, strings.NewReader(stdin), &out, &errOut)
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("user %v: error is more than one line: %q", args, err)
	}
	return out.String(), err
}

// mustUser runs a user command that must succeed.
func mustUser(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := userCmd(t, stdin, env(nil), args...)
	if err != nil {
		t.Fatalf("user %v: %v", args, err)
	}
	return out
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	s, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(s)
}

func (b *browser) signin(login, pw string) int {
	b.t.Helper()
	status, _ := b.do("POST", "/signin", url.Values{"username": {login}, "password": {pw}})
	return status
}

const cliPW = "correct horse battery"

// TestUserCommandsAgainstLiveServer runs every admin command while the real
// server (run "serve") is up on the same file, and checks the effect over
// HTTP.
func TestUserCommandsAgainstLiveServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice") // password cliPW
	alice := newBrowser(t, base)
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("alice signin: %d", s)
	}

	out := mustUser(t, "", "list", "-db", path)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[0] != "ID" || !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "CREATED") {
		t.Fatalf("list:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 5 || f[0] != "1" || f[1] != "alice" || f[2] != "alice@example.com" || f[3] != "no" || !strings.HasPrefix(f[4], "20") {
		t.Fatalf("list row %q", lines[1])
	}

	// verify: the account page says so.
	mustUser(t, "", "verify", "-db", path, "alice")
	if _, body := alice.do("GET", "/account", nil); !strings.Contains(body, `badge-ok">Verified`) {
		t.Error("after user verify, /account does not show Verified")
	}
	if out := mustUser(t, "", "list", "-db", path); !strings.Contains(out, " yes ") {
		t.Errorf("list after verify:\n%s", out)
	}

	// signout: the server answers alice signed-out.
	if s, _ := alice.do("GET", "/dashboard", nil); s != http.StatusOK {
		t.Fatalf("alice before signout: %d", s)
	}
	out = mustUser(t, "", "signout", "-db", path, "alice")
	// One from the sign-up, one from the sign-in.
	if !strings.Contains(out, "2 sessions ended") {
		t.Errorf("signout said %q", out)
	}
	if s, _ := alice.do("GET", "/dashboard", nil); s != http.StatusSeeOther {
		t.Errorf("alice after user signout: %d, want 303", s)
	}

	// set-password: the new one signs in, the old one does not, and the
	// sessions from before are over.
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatal("sign in again")
	}
	mustUser(t, "a brand new secret\n", "set-password", "-db", path, "alice")
	if s, _ := alice.do("GET", "/dashboard", nil); s != http.StatusSeeOther {
		t.Errorf("session survived set-password: %d", s)
	}
	if s := newBrowser(t, base).signin("alice", cliPW); s != http.StatusUnauthorized {
		t.Errorf("old password after set-password: %d, want 401", s)
	}
	if s := newBrowser(t, base).signin("ALICE@example.com", "a brand new secret"); s != http.StatusSeeOther {
		t.Errorf("new password after set-password: %d, want 303", s)
	}

	// add: the account signs in over HTTP; CRLF line ends are fine and
	// inner spaces are kept.
	out = mustUser(t, "  spaced out password \r\n", "add", "-db", path, " Bob ", "Bob@Example.com")
	if !strings.Contains(out, "created user bob <bob@example.com>") {
		t.Errorf("add said %q", out)
	}
	if s := newBrowser(t, base).signin("bob", "  spaced out password "); s != http.StatusSeeOther {
		t.Errorf("bob signin: %d", s)
	}

	// delete: bob can no longer sign in, and is gone from the list.
	bob := newBrowser(t, base)
	bob.signin("bob", "  spaced out password ")
	mustUser(t, "", "delete", "-db", path, "bob")
	if s, _ := bob.do("GET", "/dashboard", nil); s != http.StatusSeeOther {
		t.Errorf("bob's session survived delete: %d", s)
	}
	if s := newBrowser(t, base).signin("bob", "  spaced out password "); s != http.StatusUnauthorized {
		t.Errorf("bob signin after delete: %d, want 401", s)
	}
	if out := mustUser(t, "", "list", "-db", path); strings.Contains(out, "bob") {
		t.Errorf("list after delete:\n%s", out)
	}

	// GATEHOUSE_DB stands in for -db.
	out, err := userCmd(t, "", env(map[string]string{"GATEHOUSE_DB": path}), "list")
	if err != nil || !strings.Contains(out, "alice") {
		t.Errorf("list with GATEHOUSE_DB: %v\n%s", err, out)
	}
}

// TestUserCommandErrors: each failure is one clear line, and changes
// nothing.
func TestUserCommandErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice")
	missing := filepath.Join(t.TempDir(), "none.db")
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(otherKey, bytes.Repeat([]byte{9}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", nil, "usage: gatehouse user"},
		{"", []string{"frobnicate", "-db", path}, "unknown command 'user frobnicate'"},
		{"", []string{"list", "-db", missing}, "does not exist"},
		{"", []string{"add", "-db", path, "bob"}, "usage: gatehouse user add -db FILE USERNAME EMAIL"},
		{"", []string{"delete", "-db", path}, "usage: gatehouse user delete -db FILE USERNAME"},
		{"", []string{"delete", "alice", "-db", path}, "usage: gatehouse user delete -db FILE USERNAME"},
		{"", []string{"list", "-db", path, "-bogus"}, "flag provided but not defined: -bogus"},
		// product.md §14: the key is accepted, and must be the database's.
		{"", []string{"list", "-db", path, "-secret-key-file", filepath.Join(t.TempDir(), "none.key")}, "none.key"},
		{"", []string{"list", "-db", path, "-secret-key-file", otherKey}, "not the key this database was used with"},
		{cliPW + "\n", []string{"add", "-db", path, "alice", "other@example.com"}, `username "alice" is taken`},
		{cliPW + "\n", []string{"add", "-db", path, "carol", "ALICE@example.com"}, `email address "alice@example.com" is used by another account`},
		{cliPW + "\n", []string{"add", "-db", path, "x", "x@example.com"}, "bad username \"x\": Username must be 3 to 31 characters long."},
		{cliPW + "\n", []string{"add", "-db", path, "carol", "not-an-address"}, "bad email address \"not-an-address\": Enter an email address like name@example.com."},
		{"short\n", []string{"add", "-db", path, "carol", "carol@example.com"}, "bad password: Password must be at least 8 characters."},
		{"password123\n", []string{"add", "-db", path, "carol", "carol@example.com"}, "bad password: That password is one of the most common ones. Choose another."},
		{"carol@example.com\n", []string{"add", "-db", path, "carol", "carol@example.com"}, "bad password: Password must not be your username or email address."},
		{strings.Repeat("x", 300) + "\n", []string{"add", "-db", path, "carol", "carol@example.com"}, "bad password: Password must be at most 256 characters."},
		{strings.Repeat("x", 5000), []string{"add", "-db", path, "carol", "carol@example.com"}, "bad password: Password must be at most 256 characters."},
		{"", []string{"add", "-db", path, "carol", "carol@example.com"}, "no password"},
		{"\n", []string{"set-password", "-db", path, "alice"}, "no password"},
		{"short\n", []string{"set-password", "-db", path, "alice"}, "bad password: Password must be at least 8 characters."},
		{cliPW + "\n", []string{"set-password", "-db", path, "nobody"}, `unknown user "nobody"`},
		{"", []string{"delete", "-db", path, "nobody"}, `unknown user "nobody"`},
		{"", []string{"signout", "-db", path, "nobody"}, `unknown user "nobody"`},
		{"", []string{"verify", "-db", path, "nobody@example.com"}, `unknown user "nobody@example.com"`},
	}
	for _, tc := range tests {
		_, err := userCmd(t, tc.stdin, env(nil), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("user %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("a user command created a missing database")
	}
	out := mustUser(t, "", "list", "-db", path)
	if strings.Count(strings.TrimSpace(out), "\n") != 1 || strings.Contains(out, "carol") {
		t.Errorf("a failed command changed the accounts:\n%s", out)
	}
	if s := signinStatus(t, base, "alice"); s != http.StatusSeeOther {
		t.Errorf("alice's password changed by a failed set-password: %d", s)
	}
}

// TestUserAddWhileSigningUp: admin commands and the server write the same
// file at once; every write lands.
func TestUserAddWhileSigningUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("web%d", i)
			r, err := http.PostForm(base+"/signup", url.Values{"username": {name}, "email": {name + "@example.com"},
				"password": {cliPW}, "password_confirm": {cliPW}})
			if err != nil {
				errs <- err
				return
			}
			r.Body.Close()
			// The default client follows the 303 to the dashboard.
			if r.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("signup %s: %d", name, r.StatusCode)
			}
		}()
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("cli%d", i)
			var out bytes.Buffer
			err := run(context.Background(), []string{"user", "add", "-db", path, name, name + "@example.com"}, env(nil),
				strings.NewReader(cliPW+"\n"), &out, io.Discard)
			if err != nil {
				errs <- fmt.Errorf("user add %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out := mustUser(t, "", "list", "-db", path)
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 16 {
		t.Errorf("%d accounts, want 16:\n%s", n, out)
	}
	for i := 0; i < 8; i++ {
		if s := signinStatus(t, base, fmt.Sprintf("cli%d", i)); s != http.StatusSeeOther {
			t.Errorf("cli%d cannot sign in: %d", i, s)
		}
	}
}

// TestUserExitStatus runs the real binary's main: 0 on success, non-zero
// with one line on stderr on failure.
func TestUserExitStatus(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_RUN_MAIN") == "1" {
		// The child: be the gatehouse command.
		os.Args = append([]string{"gatehouse"}, strings.Split(os.Getenv("GATEHOUSE_TEST_ARGS"), "\x1f")...)
		main()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	stop()
	child := func(stdin string, args ...string) (int, string, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUserExitStatus$")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_RUN_MAIN=1", "GATEHOUSE_TEST_ARGS="+strings.Join(args, "\x1f"))
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String(), errOut.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errOut.String()
	}
	if code, out, _ := child(cliPW+"\n", "user", "add", "-db", path, "bob", "bob@example.com"); code != 0 || !strings.Contains(out, "created user bob") {
		t.Errorf("add: exit %d, out %q", code, out)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "signout", "-db", path, "nobody"}, `gatehouse: unknown user "nobody"`},
		{cliPW + "\n", []string{"user", "add", "-db", path, "bob", "bob2@example.com"}, `gatehouse: username "bob" is taken`},
		{"short\n", []string{"user", "set-password", "-db", path, "alice"}, "gatehouse: bad password: Password must be at least 8 characters."},
	} {
		code, _, stderr := child(tc.stdin, tc.args...)
		if code == 0 || strings.TrimSpace(stderr) != tc.want || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want non-zero and the one line %q", tc.args, code, stderr, tc.want)
		}
	}
}

// newDB makes an empty database for the admin commands.
func newDB(t *testing.T) (string, *db.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s
}

// product.md §4: "an internationalised domain is stored in its ASCII
// (punycode) form, so one mailbox cannot hold two accounts".
func TestSpec4UserAddIDNIsOneAccount(t *testing.T) {
	path, _ := newDB(t)
	mustUser(t, cliPW+"\n", "add", "-db", path, "idn1", "idn@exämple.com")
	_, err := userCmd(t, cliPW+"\n", env(nil), "add", "-db", path, "idn2", "idn@xn--exmple-cua.com")
	if err == nil || !strings.Contains(err.Error(), "is used by another account") {
		t.Fatalf("second account for the same mailbox: %v", err)
	}
	if out := mustUser(t, "", "list", "-db", path); !strings.Contains(out, "idn@xn--exmple-cua.com") {
		t.Errorf("list does not show the punycode form:\n%s", out)
	}
	_, err = userCmd(t, cliPW+"\n", env(nil), "add", "-db", path, "lit", "x@[127.0.0.1]")
	if err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("address literal: %v", err)
	}
}

// product.md §7 `gatehouse user list`: rows written before the §4 rules
// may hold bidi overrides or C1 controls; the list shows them escaped, so
// a terminal neither obeys them nor turns the row round.
func TestSpec7UserListEscapesBidiAndControls(t *testing.T) {
	path, s := newDB(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "eve\u202egnp.exe", "eve\u009b31m@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "mal\x1b[2Jlory", "m\u200b\\u202e@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "bad\xffutf8", "tab\there@example.com", "h", time.Now()); err != nil {
		t.Fatal(err)
	}
	out := mustUser(t, "", "list", "-db", path)
	if !utf8.ValidString(out) {
		t.Errorf("list prints invalid UTF-8: %q", out)
	}
	for _, r := range out {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("list prints %U raw:\n%q", r, out)
		}
	}
	for _, want := range []string{`eve\u202egnp.exe`, `eve\u009b31m@example.com`, `mal\u001b[2Jlory`, `m\u200b\\u202e@example.com`,
		`bad\xffutf8`, `tab\u0009here@example.com`} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %s:\n%q", want, out)
		}
	}
}

// user admin [-remove], disable and enable (product.md §13) against a
// live server: /api/me says admin; disabling ends the sessions at once
// and the right password then gets 403; enabling lets the account in
// again; each is in the admin log and the account's activity.
func TestUserAdminDisableEnable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice")
	alice := newBrowser(t, base)
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("alice signin: %d", s)
	}
	if out := mustUser(t, "", "admin", "-db", path, "alice"); !strings.Contains(out, "alice is an admin") {
		t.Errorf("admin said %q", out)
	}
	if _, body := alice.do("GET", "/api/me", nil); !strings.Contains(body, `"admin":true`) {
		t.Errorf("/api/me after user admin: %s", body)
	}
	if out := mustUser(t, "", "admin", "-db", path, "-remove", "alice"); !strings.Contains(out, "alice is no longer an admin") {
		t.Errorf("admin -remove said %q", out)
	}
	if _, body := alice.do("GET", "/api/me", nil); !strings.Contains(body, `"admin":false`) {
		t.Errorf("/api/me after user admin -remove: %s", body)
	}

	if out := mustUser(t, "", "disable", "-db", path, "alice"); !strings.Contains(out, "disabled alice: 2 sessions ended") {
		t.Errorf("disable said %q", out)
	}
	if s, _ := alice.do("GET", "/dashboard", nil); s != http.StatusSeeOther {
		t.Errorf("alice's session after disable: %d, want 303", s)
	}
	if s, body := newBrowser(t, base).do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusForbidden ||
		!strings.Contains(body, "This account is disabled.") {
		t.Errorf("right password of a disabled account: %d", s)
	}
	if s := newBrowser(t, base).signin("alice", "not the password"); s != http.StatusUnauthorized {
		t.Errorf("wrong password of a disabled account: %d, want 401", s)
	}
	if out := mustUser(t, "", "enable", "-db", path, "alice"); !strings.Contains(out, "enabled alice") {
		t.Errorf("enable said %q", out)
	}
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Errorf("alice after enable: %d", s)
	}
	if _, body := alice.do("GET", "/account/activity", nil); !strings.Contains(body, "Disabled the account (command line)") ||
		!strings.Contains(body, "Granted admin (command line)") {
		t.Errorf("activity lacks the commands:\n%s", body)
	}

	for _, args := range [][]string{{"admin", "-db", path, "nobody"}, {"disable", "-db", path, "nobody"}, {"enable", "-db", path, "nobody"}} {
		if _, err := userCmd(t, "", env(nil), args...); err == nil || err.Error() != `unknown user "nobody"` {
			t.Errorf("user %v: %v", args, err)
		}
	}
	if _, err := userCmd(t, "", env(nil), "disable", "-db", path, "-remove", "alice"); err == nil {
		t.Error("disable accepted -remove")
	}

	log, err := adminLogOf(t, path)
	if err != nil || len(log) != 4 || log[0].Action != "enabled the account" || log[0].ActorName != "(command line)" || log[0].TargetName != "alice" {
		t.Errorf("admin log = %+v, %v", log, err)
	}
}

// adminLogOf reads the newest entries (up to 10) of the admin log of the
// database at path.
func adminLogOf(t *testing.T, path string) ([]db.AdminLogEntry, error) {
	t.Helper()
	s, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.AdminLog(context.Background(), 10, 0)
}

// user groups is an admin action like the others (product.md §13): the
// admin log has it with the names, by the command line; a refused change
// writes nothing.
func TestUserGroupsInAdminLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice")
	mustUser(t, "", "groups", "-db", path, "alice", "family, admins")
	mustUser(t, "", "groups", "-db", path, "alice", "")
	if _, err := userCmd(t, "", env(nil), "groups", "-db", path, "alice", "Bad"); err == nil {
		t.Error("a bad group was accepted")
	}

	log, err := adminLogOf(t, path)
	if err != nil || len(log) != 2 {
		t.Fatalf("admin log = %+v, %v", log, err)
	}
	for i, want := range []string{"none", "family, admins"} { // as typed, as the page logs it
		if e := log[i]; e.Action != "set groups" || e.Detail != want || e.ActorName != "(command line)" || e.TargetName != "alice" || e.TargetID == 0 {
			t.Errorf("admin log entry %d = %+v, want set groups %q", i, e, want)
		}
	}
}

// product.md §14: admin commands take the server's key file; the right
// one is accepted.
func TestUserCommandTakesTheKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	stop()
	var out strings.Builder
	if err := run(context.Background(), []string{"user", "list", "-db", path, "-secret-key-file", path + ".key"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("user list with the database's key: %v", err)
	}
	if !strings.Contains(out.String(), "alice") {
		t.Errorf("user list printed %q", out.String())
	}
}
