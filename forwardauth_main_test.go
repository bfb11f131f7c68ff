package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/internal/pgtest"
	"gatehouse/internal/redistest"
)

// product.md §11: -cookie-domain must be the base URL's host or a parent
// of it, and not a public suffix; anything else stops the start with one
// line. Nothing is created for a refused start.
func TestSpec11BadCookieDomainStopsWithOneLine(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		base, domain, want string
	}{
		{"https://auth.example.com", "com", "is a public suffix"},
		{"https://auth.example.co.uk", "co.uk", "is a public suffix"},
		{"https://auth.someone.github.io", "github.io", "is a public suffix"},
		{"https://auth.example.com", "example.org", "must be the host of -base-url (auth.example.com) or a parent"},
		{"https://auth.example.com", "other.auth.example.com", "must be the host of -base-url"},
		{"https://auth.example.com", "ample.com", "must be the host of -base-url"},
		{"https://auth.example.com", "https://example.com", "no scheme, port or path"},
		{"https://auth.example.com", "example.com:443", "no scheme, port or path"},
		{"https://auth.example.com", "example.com/", "no scheme, port or path"},
		{"https://auth.example.com", "example.com.", "no scheme, port or path"},
		{"https://auth.example.com", ".", "want a domain name"},
		{"http://127.0.0.1:8080", "127.0.0.1", "not an IP address"},
		{"http://localhost:8080", "localhost", "is a public suffix"},
	}
	for _, c := range cases {
		args := []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "auth.db"), "-base-url", c.base, "-cookie-domain", c.domain}
		err := run(context.Background(), args, env(nil), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-cookie-domain (GATEHOUSE_COOKIE_DOMAIN)") || strings.Contains(err.Error(), "\n") {
			t.Errorf("-base-url %s -cookie-domain %q: got %v, want one line with %q", c.base, c.domain, err, c.want)
		}
	}
	// The variable is read as well.
	err := run(context.Background(), []string{"serve", "-db", filepath.Join(dir, "auth.db"), "-base-url", "https://auth.example.com"},
		env(map[string]string{"GATEHOUSE_COOKIE_DOMAIN": "com"}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "public suffix") {
		t.Errorf("GATEHOUSE_COOKIE_DOMAIN=com: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "auth.db")); err == nil {
		t.Error("a refused start created the database")
	}
	// Good values.
	for _, c := range []struct{ base, domain, want string }{
		{"https://auth.example.com", "example.com", "example.com"},
		{"https://auth.example.com", ".Example.COM", "example.com"},
		{"https://auth.example.com:8443", "auth.example.com", "auth.example.com"},
		{"https://auth.example.co.uk", "example.co.uk", "example.co.uk"},
		{"http://auth.gatehouse.test", "gatehouse.test", "gatehouse.test"},
	} {
		var cfg serveConfig
		if err := parseFlags(serveFlags(&cfg), []string{"-base-url", c.base, "-cookie-domain", c.domain}, env(nil)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cfg.validate(); err != nil || cfg.CookieDomain != c.want {
			t.Errorf("-base-url %s -cookie-domain %s: %v, domain %q, want %q", c.base, c.domain, err, cfg.CookieDomain, c.want)
		}
	}
}

// product.md §11: a bad rules file stops the start with one line naming
// the file, the rule and the problem.
func TestSpec11BadAccessRulesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - hosts: [a.example.com]\n    policy: signed-in\n  - hosts: [b.example.com]\n    policy: alow\n"), 0o600)
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-access-rules", rules}, nil, "access rules " + rules + `: rule 2: unknown policy "alow"`},
		{nil, map[string]string{"GATEHOUSE_ACCESS_RULES": rules}, "access rules " + rules + ": rule 2:"},
		{[]string{"-access-rules", filepath.Join(dir, "none.yaml")}, nil, "access rules " + filepath.Join(dir, "none.yaml") + ": no such file"},
	} {
		args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "auth.db")}, c.args...)
		err := run(context.Background(), args, env(c.env), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: got %v, want one line with %q", c.args, c.env, err, c.want)
		}
	}
}

// product.md §11: SIGHUP reloads the rules; a bad file at reload keeps
// the old rules and logs an error. The signal is real, sent to this
// process, which serve listens to.
func TestSpec11SighupReloadsAccessRules(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(rules, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - hosts: [open.example.com]\n    policy: bypass\n")
	base, logs, stop := startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "auth.db"), "-access-rules", rules})
	defer stop()
	check := func(host string) int {
		req, _ := http.NewRequest("GET", base+"/api/authz/forward-auth", nil)
		req.Header.Set("X-Forwarded-Host", host)
		req.Header.Set("X-Forwarded-Uri", "/")
		req.Header.Set("X-Forwarded-Method", "GET")
		r, err := noRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if check("open.example.com") != 200 || check("new.example.com") != 403 {
		t.Fatal("the first rules are not in force")
	}
	hangup := func(wantLog string, n int) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); strings.Count(logs.String(), wantLog) < n; {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", wantLog, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write("rules:\n  - hosts: [new.example.com]\n    policy: bypass\n")
	hangup("access rules reloaded", 1)
	if check("open.example.com") != 403 || check("new.example.com") != 200 {
		t.Fatal("the reloaded rules are not in force")
	}
	write("rules:\n  - hosts: [new.example.com]\n    policy: nobody\n")
	hangup("access rules not reloaded", 1)
	if !strings.Contains(logs.String(), `level=ERROR msg="access rules not reloaded; the previous rules stay in force"`) ||
		!strings.Contains(logs.String(), `unknown policy`) {
		t.Fatalf("the bad reload was not logged as an error:\n%s", logs.String())
	}
	if check("new.example.com") != 200 {
		t.Fatal("a bad reload changed the rules in force")
	}
}

// check asks instance base's forward-auth endpoint about GET
// https://HOST/ with b's cookies, and returns the status and Remote-Groups
// (with whether it was there).
func (b *browser) check(base, host string) (int, string, bool) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/authz/forward-auth", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", host)
	req.Header.Set("X-Forwarded-Uri", "/")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	g, ok := resp.Header["Remote-Groups"]
	return resp.StatusCode, strings.Join(g, "|"), ok
}

const groupRules = `rules:
  - hosts: ["admin.example.com"]
    groups: ["admins"]
    policy: signed-in
  - hosts: ["*.example.com"]
    policy: signed-in
`

func TestSpec11GroupsOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	testGroups(t, []string{"-db", path}, 1, path, nil)
	// Each change is in the account's activity as an admin action (§13);
	// the refused ones are not. (Other admin commands, such as the
	// signout above, are recorded too; this looks at the groups.)
	rows, err := apptest.OpenRaw(t, path).Query(`SELECT detail FROM security_events WHERE kind = 'admin_action' AND detail LIKE 'groups%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var d string
		rows.Scan(&d)
		got = append(got, d)
	}
	want := []string{"groups set: admins, family", "groups set: family", "groups cleared"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("admin actions recorded %q, want %q", got, want)
	}
}

func TestSpec11GroupsOnPostgres(t *testing.T) {
	dbURL := pgtest.URL(t)
	key := filepath.Join(t.TempDir(), "gatehouse.key")
	testGroups(t, []string{"-db", dbURL, "-secret-key-file", key}, 2, dbURL, env(map[string]string{"GATEHOUSE_SECRET_KEY_FILE": key}))
}

func TestSpec11GroupsOnPostgresAndRedis(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	dbURL := pgtest.URL(t)
	key := filepath.Join(t.TempDir(), "gatehouse.key")
	testGroups(t, []string{"-db", dbURL, "-secret-key-file", key, "-redis-url", r.URL}, 2, dbURL,
		env(map[string]string{"GATEHOUSE_SECRET_KEY_FILE": key, "GATEHOUSE_REDIS_URL": r.URL}))
}

// testGroups: `gatehouse user groups` sets and clears an account's
// groups while n instances serve; the next forward-auth check on every
// instance answers by the new groups, /api/me lists them, and `user
// signout` ends the forward-auth session at once (product.md §11, §14).
func testGroups(t *testing.T, serveArgs []string, n int, dbArg string, cmdEnv func(string) string) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(groupRules), 0o600); err != nil {
		t.Fatal(err)
	}
	if cmdEnv == nil {
		cmdEnv = env(nil)
	}
	var bases []string
	for range n {
		base, _, stop := startWith(t, append([]string{"serve", "-addr", "127.0.0.1:0", "-access-rules", rules}, serveArgs...))
		t.Cleanup(stop)
		bases = append(bases, base)
	}
	signup(t, bases[0], "alice")
	alice := newBrowser(t, bases[0])
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", s)
	}
	groups := func(args ...string) string {
		t.Helper()
		out, err := userCmd(t, "", cmdEnv, append([]string{"groups", "-db", dbArg}, args...)...)
		if err != nil {
			t.Fatalf("user groups %v: %v", args, err)
		}
		return out
	}
	expect := func(when string, status int, wantGroups string, me string) {
		t.Helper()
		for _, base := range bases {
			s, g, _ := alice.check(base, "admin.example.com")
			if s != status || g != wantGroups {
				t.Errorf("%s, on %s: %d Remote-Groups %q, want %d %q", when, base, s, g, status, wantGroups)
			}
			if s, body := alice.on(base).do("GET", "/api/me", nil); s != 200 || !strings.Contains(body, `"groups":`+me) {
				t.Errorf("%s, /api/me on %s: %d %s, want groups %s", when, base, s, body, me)
			}
		}
	}
	expect("no groups", http.StatusForbidden, "", "[]")
	if out := groups("alice", "family, admins,family"); out != "groups of alice: admins,family\n" {
		t.Errorf("user groups output %q", out)
	}
	expect("in admins", http.StatusOK, "admins,family", `["admins","family"]`)
	if out := groups("alice", "family"); out != "groups of alice: family\n" {
		t.Errorf("user groups output %q", out)
	}
	expect("out of admins", http.StatusForbidden, "", `["family"]`)
	if out := groups("alice", ""); out != "groups of alice cleared\n" {
		t.Errorf("user groups (clear) output %q", out)
	}
	expect("cleared", http.StatusForbidden, "", "[]")
	if s, g, ok := alice.check(bases[0], "wiki.example.com"); s != 200 || g != "" || !ok {
		t.Errorf("no groups on a signed-in host: %d %q present %v, want 200 with an empty Remote-Groups", s, g, ok)
	}

	// Errors: one line, nothing changed.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"alice", "Admins"}, `bad group "Admins": A group name is 1 to 32 characters`},
		{[]string{"alice", "ok,bad group"}, `bad group "bad group"`},
		{[]string{"alice", strings.Repeat("a", 33)}, "bad group"},
		{[]string{"nobody", "admins"}, `unknown user "nobody"`},
		{[]string{"alice"}, "usage: gatehouse user groups -db FILE USERNAME GROUP,GROUP"},
	} {
		_, err := userCmd(t, "", cmdEnv, append([]string{"groups", "-db", dbArg}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("user groups %q: %v, want %q", c.args, err, c.want)
		}
	}
	expect("after refused changes", http.StatusForbidden, "", "[]")

	// `user signout` ends the session for forward-auth at once.
	if _, err := userCmd(t, "", cmdEnv, "signout", "-db", dbArg, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, base := range bases {
		if s, _, _ := alice.check(base, "wiki.example.com"); s != http.StatusUnauthorized {
			t.Errorf("after user signout, on %s: %d, want 401", base, s)
		}
	}
}
