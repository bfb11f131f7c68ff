package main

// Tests of product.md §14: several Gatehouse instances on one PostgreSQL
// database and one Redis behave as one. The instances are the real
// program (run "serve") on their own loopback ports, each with its own
// pools and clients, against a throwaway PostgreSQL cluster and
// redis-server started by the tests.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/pgtest"
	"gatehouse/internal/redistest"
	"gatehouse/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// cluster is several instances on one database (and Redis, when given).
type cluster struct {
	urls  []string
	logs  []interface{ String() string }
	stops []func()
}

// startCluster starts n instances on dbURL (and redisURL, when not
// empty), believing X-Forwarded-For from loopback so a test can speak for
// many client addresses, all with one secret key file.
func startCluster(t *testing.T, n int, dbURL, redisURL string) *cluster {
	t.Helper()
	return startClusterWithKey(t, n, dbURL, redisURL, filepath.Join(t.TempDir(), "gatehouse.key"))
}

// startClusterWithKey is startCluster with the secret key file given: a
// database copied from SQLite is opened with the key it was used with.
func startClusterWithKey(t *testing.T, n int, dbURL, redisURL, key string) *cluster {
	t.Helper()
	c := &cluster{}
	for range n {
		args := []string{"serve", "-addr", "127.0.0.1:0", "-db", dbURL, "-secret-key-file", key, "-trusted-proxies", "127.0.0.1"}
		if redisURL != "" {
			args = append(args, "-redis-url", redisURL)
		}
		base, logs, stop := startWith(t, args)
		c.urls = append(c.urls, base)
		c.logs = append(c.logs, logs)
		c.stops = append(c.stops, stop)
		t.Cleanup(stop)
	}
	return c
}

// on returns a browser that sends every request to instance i, with the
// cookies it already holds.
func (b *browser) on(base string) *browser {
	return &browser{t: b.t, base: base, c: b.c}
}

func TestTwoInstancesOnPostgresAndRedis(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	testTwoInstances(t, pgtest.URL(t), r.URL)
}

func TestTwoInstancesOnPostgres(t *testing.T) {
	testTwoInstances(t, pgtest.URL(t), "")
}

// testTwoInstances: a session started on A works on B; sign-out on B
// ends it on A; revocation and password change on one reach the other at
// its next request; the throttle and the reset-mail cap are shared.
func testTwoInstances(t *testing.T, dbURL, redisURL string) {
	c := startCluster(t, 2, dbURL, redisURL)
	a, b := c.urls[0], c.urls[1]
	signup(t, a, "alice")

	// A session from A works on B, and the other way.
	onA := newBrowser(t, a)
	if s := onA.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("sign-in on A: %d", s)
	}
	onB := onA.on(b)
	for i := range 6 {
		via := onA
		if i%2 == 1 {
			via = onB
		}
		if s, body := via.do("GET", "/api/me", nil); s != http.StatusOK || !strings.Contains(body, `"username":"alice"`) {
			t.Fatalf("request %d alternating A and B: %d %s", i, s, body)
		}
	}
	// Sign-out on B ends it on A at once.
	if s, _ := onB.do("POST", "/signout", url.Values{}); s != http.StatusSeeOther {
		t.Fatal("sign-out on B")
	}
	old := newBrowser(t, a)
	old.signin("alice", cliPW)
	other := newBrowser(t, b)
	other.signin("alice", cliPW)
	old.do("GET", "/api/me", nil)
	// "Sign out everywhere else" on B ends the session on A.
	if s, _ := other.do("POST", "/account/sessions/revoke", url.Values{"id": {"others"}}); s != http.StatusSeeOther {
		t.Fatal("revoke others on B")
	}
	if s, _ := old.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("a session revoked on B still answers on A: %d", s)
	}
	// A password change on A ends B's other sessions.
	third := newBrowser(t, b)
	third.signin("alice", cliPW)
	if s, _ := other.on(a).do("POST", "/account/password", url.Values{"current_password": {cliPW},
		"new_password": {"another long password"}, "new_password_confirm": {"another long password"}}); s != http.StatusSeeOther {
		t.Fatal("password change on A")
	}
	if s, _ := third.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("a session on B survived a password change on A: %d", s)
	}

	// The throttle is shared: five failures on each, the 11th refused on
	// either.
	fail := func(base string, i int) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"username": {"alice"}, "password": {"wrong"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		resp, err := noRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		base := a
		if i%2 == 1 {
			base = b
		}
		if s := fail(base, i); s != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, s)
		}
	}
	for _, base := range []string{a, b} {
		if s := fail(base, 50); s != http.StatusTooManyRequests {
			t.Errorf("11th failure on %s: %d, want 429", base, s)
		}
	}

	// The reset-mail cap is shared: three mails an hour for one address,
	// whichever instance is asked (without SMTP, each mail is logged).
	for i := range 4 {
		base := []string{a, b}[i%2]
		resp, err := http.PostForm(base+"/forgot", url.Values{"email": {"alice@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond) // mail is sent in the background
	mails := 0
	for _, l := range c.logs {
		mails += strings.Count(l.String(), `subject="Reset your password"`)
	}
	if mails != 3 {
		t.Errorf("%d reset mails for 4 requests across the instances, want 3", mails)
	}

	// An admin command with the same settings reaches the sessions,
	// wherever they live.
	last := newBrowser(t, a)
	if s := last.signin("alice@example.com", "another long password"); s != http.StatusSeeOther {
		t.Fatalf("sign-in after the window: %d", s)
	}
	args := []string{"user", "signout", "-db", dbURL}
	if redisURL != "" {
		args = append(args, "-redis-url", redisURL)
	}
	var out strings.Builder
	if err := run(context.Background(), append(args, "alice"), env(nil), nil, &out, &out); err != nil {
		t.Fatalf("user signout: %v", err)
	}
	if s, _ := last.on(b).do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("after gatehouse user signout: %d, want 401", s)
	}
}

// 200 concurrent sign-ups split across two instances: 200 accounts, zero
// errors.
func TestConcurrentSignupsAcrossInstances(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	dbURL := pgtest.URL(t)
	c := startCluster(t, 2, dbURL, r.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			base := c.urls[i%2]
			name := fmt.Sprintf("user%03d", i)
			req, _ := http.NewRequest("POST", base+"/signup", strings.NewReader(url.Values{"username": {name}, "email": {name + "@example.com"},
				"password": {cliPW}, "password_confirm": {cliPW}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%250+1))
			resp, err := noRedirects().Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				errs <- fmt.Errorf("%s: %d", name, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountUsers(context.Background()); err != nil || n != 200 {
		t.Errorf("%d accounts, %v; want 200", n, err)
	}
}

// /healthz answers 503 while Redis does not answer, and 200 again when it
// is back; sessions in Redis survive (they are Redis's to keep).
func TestHealthzFollowsRedis(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	c := startCluster(t, 1, pgtest.URL(t), r.URL)
	health := func() int {
		resp, err := http.Get(c.urls[0] + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := health(); s != http.StatusOK {
		t.Fatalf("healthz with Redis up: %d", s)
	}
	r.Stop(t)
	if s := health(); s != http.StatusServiceUnavailable {
		t.Errorf("healthz with Redis stopped: %d, want 503", s)
	}
	r.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for health() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("healthz did not come back to 200 after Redis returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// While Redis does not answer, a signed-in request whose session data
// cannot be read answers as one whose database does not answer: 500, and
// on a JSON route a JSON error (product.md §2: "JSON routes answer JSON
// errors"), on a page the error page; signed in again once Redis is back.
func TestSessionStoreDownAnswersErrorsInKind(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	c := startCluster(t, 1, pgtest.URL(t), r.URL)
	signup(t, c.urls[0], "alice")
	alice := newBrowser(t, c.urls[0])
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", s)
	}
	r.Stop(t)
	if s, body := alice.do("GET", "/api/me", nil); s != http.StatusInternalServerError || body != `{"error":"internal error"}` {
		t.Errorf("/api/me with Redis stopped: %d %q, want 500 {\"error\":\"internal error\"}", s, body)
	}
	if s, body := alice.do("GET", "/dashboard", nil); s != http.StatusInternalServerError || !strings.Contains(body, "<html") {
		t.Errorf("/dashboard with Redis stopped: %d %q, want 500 and the error page", s, body)
	}
	r.Restart(t)
	// Redis without persistence comes back empty: the session is gone,
	// and the answer is the signed-out one again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := alice.do("GET", "/api/me", nil)
		if s == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/me after Redis returned: %d, want 401", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two instances starting at the same moment on an empty database both
// come up (the migrations run under an advisory lock).
func TestInstancesStartTogetherOnAnEmptyDatabase(t *testing.T) {
	dbURL := pgtest.URL(t)
	key := filepath.Join(t.TempDir(), "gatehouse.key")
	var wg sync.WaitGroup
	urls := make([]string, 2)
	for i := range 2 {
		wg.Go(func() {
			base, _, stop := startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dbURL, "-secret-key-file", key})
			t.Cleanup(stop)
			urls[i] = base
		})
	}
	wg.Wait()
	signup(t, urls[0], "alice")
	if s := signinStatus(t, urls[1], "alice"); s != http.StatusSeeOther {
		t.Errorf("sign-in on the other instance: %d", s)
	}
}

// gatehouse copy moves an SQLite database, every row, into an empty
// PostgreSQL database: accounts sign in with their passwords and existing
// sessions keep working; a second copy into the same database is refused
// with one line; backup refuses PostgreSQL with a pointer to pg_dump.
func TestCopySQLiteToPostgres(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	signup(t, base, "bob")
	kept := newBrowser(t, base)
	kept.signin("bob", cliPW)
	if s, _ := kept.do("GET", "/api/me", nil); s != http.StatusOK {
		t.Fatal("bob's session before the copy")
	}
	// The admin log and the security activity (§13) go along.
	mustUser(t, "", "admin", "-db", path, "bob")
	// The newest account deleted before the copy: its id is not given
	// again on PostgreSQL either (§12, sub).
	signup(t, base, "zed")
	zed := newBrowser(t, base)
	zed.signin("zed", cliPW)
	zedID, zedSession := apiMeID(t, zed), currentSessionID(t, zed)
	mustUser(t, "", "delete", "-db", path, "zed")
	stop()

	dbURL := pgtest.URL(t)
	var out strings.Builder
	if err := run(context.Background(), []string{"copy", "-from", path, "-to", dbURL}, env(nil), nil, &out, &out); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if !strings.Contains(out.String(), "2 accounts") {
		t.Errorf("copy said %q", out.String())
	}
	err := run(context.Background(), []string{"copy", "-from", path, "-to", dbURL}, env(nil), nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "copy only into an empty database") || strings.Contains(err.Error(), "\n") {
		t.Errorf("second copy: %v, want one line refusing a database that is not empty", err)
	}
	err = run(context.Background(), []string{"backup", "-db", dbURL, filepath.Join(dir, "b.db")}, env(nil), nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of PostgreSQL: %v, want a pointer to pg_dump", err)
	}

	c := startClusterWithKey(t, 1, dbURL, "", path+".key")
	if s := signinStatus(t, c.urls[0], "alice"); s != http.StatusSeeOther {
		t.Errorf("alice signs in on PostgreSQL: %d", s)
	}
	if s, body := kept.on(c.urls[0]).do("GET", "/api/me", nil); s != http.StatusOK || !strings.Contains(body, `"username":"bob"`) {
		t.Errorf("bob's session after the copy: %d %s", s, body)
	}
	signup(t, c.urls[0], "carol") // new ids do not collide with copied ones
	carol := newBrowser(t, c.urls[0])
	carol.signin("carol", cliPW)
	if id := apiMeID(t, carol); id <= zedID {
		t.Errorf("carol, the first account after the copy, got id %d; zed, deleted before it, had %d", id, zedID)
	}
	// Every session carol has (her sign-up's and this sign-in's) is
	// newer than zed's.
	if ids := sessionIDs(t, carol); len(ids) != 2 || slices.Min(ids) <= zedSession {
		t.Errorf("carol's sessions after the copy have ids %v; zed's, ended before them, had %d", ids, zedSession)
	}
	if _, body := kept.on(c.urls[0]).do("GET", "/admin/log", nil); !strings.Contains(body, "granted admin") {
		t.Errorf("the admin log after the copy:\n%s", body)
	}
	if _, body := kept.on(c.urls[0]).do("GET", "/account/activity", nil); !strings.Contains(body, "Granted admin (command line)") ||
		!strings.Contains(body, "Signed in with password") {
		t.Errorf("bob's activity after the copy:\n%s", body)
	}
}

// gatehouse copy for a setup with Redis (product.md §14: outgrowing one
// machine keeps every session; README: "sessions keep working"): with
// -redis-url (or GATEHOUSE_REDIS_URL, as the README exports it) the copied
// sessions' data goes to Redis, where the instances read it.
func TestCopySQLiteToPostgresAndRedis(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "bob")
	kept := newBrowser(t, base)
	kept.signin("bob", cliPW)
	if s, _ := kept.do("GET", "/api/me", nil); s != http.StatusOK {
		t.Fatal("bob's session before the copy")
	}
	stop()

	r := redistest.Start(t, redistest.Options{Password: "hunter2"})
	dbURL := pgtest.URL(t)
	var out strings.Builder
	err := run(context.Background(), []string{"copy", "-from", path, "-to", dbURL},
		env(map[string]string{"GATEHOUSE_REDIS_URL": r.URL}), nil, &out, &out)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("copy shows the Redis password: %q", out.String())
	}
	c := startClusterWithKey(t, 2, dbURL, r.URL, path+".key")
	for _, u := range c.urls {
		if s, body := kept.on(u).do("GET", "/api/me", nil); s != http.StatusOK || !strings.Contains(body, `"username":"bob"`) {
			t.Errorf("bob's session after the copy, on PostgreSQL and Redis: %d %s", s, body)
		}
	}
	if s := signinStatus(t, c.urls[1], "bob"); s != http.StatusSeeOther {
		t.Errorf("bob signs in after the copy: %d", s)
	}
}

// Admin actions and disabling on PostgreSQL and Redis (product.md §13,
// §14): an admin on one instance disables an account, and its session on
// the other ends at its next request; the right password then gets 403
// on every instance; the new-device mail cap is shared.
func TestAdminAcrossInstances(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	dbURL := pgtest.URL(t)
	c := startCluster(t, 2, dbURL, r.URL)
	a, b := c.urls[0], c.urls[1]
	signup(t, a, "root")
	signup(t, a, "alice")
	if err := run(context.Background(), []string{"user", "admin", "-db", dbURL, "-redis-url", r.URL, "root"}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("user admin: %v", err)
	}
	root := newBrowser(t, b)
	if s := root.signin("root", cliPW); s != http.StatusSeeOther {
		t.Fatalf("root signs in: %d", s)
	}
	alice := newBrowser(t, a)
	if s := alice.signin("alice", cliPW); s != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d", s)
	}
	if s, body := root.do("GET", "/admin?q=alice", nil); s != http.StatusOK || !strings.Contains(body, ">alice<") {
		t.Fatalf("root's admin list on B: %d", s)
	}
	i := strings.Index(getBody(t, root, "/admin?q=alice"), `href="/admin/users/`)
	if i < 0 {
		t.Fatal("no link to alice's page")
	}
	link := getBody(t, root, "/admin?q=alice")[i+len(`href="`):]
	link = link[:strings.Index(link, `"`)]
	if s, _ := root.do("POST", link+"/disable", url.Values{}); s != http.StatusSeeOther {
		t.Fatalf("disable on B: %d", s)
	}
	if s, _ := alice.do("GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Errorf("alice's session on A after the disable on B: %d, want 401", s)
	}
	for _, base := range []string{a, b} {
		if s, _ := newBrowser(t, base).do("POST", "/signin", url.Values{"username": {"alice"}, "password": {cliPW}}); s != http.StatusForbidden {
			t.Errorf("disabled alice signs in on %s: %d, want 403", base, s)
		}
	}
	if _, log := root.on(a).do("GET", "/admin/log", nil); !strings.Contains(log, "disabled the account") {
		t.Error("the admin log on A lacks the disable done on B")
	}

	// Two new browsers, one on each instance, within the hour: one mail.
	for _, ua := range []struct{ base, ua string }{
		{a, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{b, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"},
	} {
		req, _ := http.NewRequest("POST", ua.base+"/signin", strings.NewReader(url.Values{"username": {"root"}, "password": {cliPW}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", ua.ua)
		resp, err := noRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("root signs in on %s: %d", ua.base, resp.StatusCode)
		}
	}
	time.Sleep(500 * time.Millisecond) // mail is sent in the background
	mails := 0
	for _, l := range c.logs {
		mails += strings.Count(l.String(), `subject="New sign-in to your account"`)
	}
	if mails != 1 {
		t.Errorf("%d new-device mails for two new browsers on two instances within the hour, want 1", mails)
	}
}

// getBody GETs path and returns the body.
func getBody(t *testing.T, b *browser, path string) string {
	t.Helper()
	_, s := b.do("GET", path, nil)
	return s
}

// apiMeID is the account id /api/me gives the browser's session.
// currentSessionID is the id of b's session, as /account/sessions shows
// it.
func currentSessionID(t *testing.T, b *browser) int64 {
	t.Helper()
	return sessionIDsMatching(t, b, `session-current">\s*<p class="session-browser" id="session-(\d+)"`)[0]
}

// sessionIDs are the ids of every session of b's account, as
// /account/sessions shows them.
func sessionIDs(t *testing.T, b *browser) []int64 {
	t.Helper()
	return sessionIDsMatching(t, b, `id="session-(\d+)"`)
}

func sessionIDsMatching(t *testing.T, b *browser, pattern string) []int64 {
	t.Helper()
	s, body := b.do("GET", "/account/sessions", nil)
	var ids []int64
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	if s != http.StatusOK || len(ids) == 0 {
		t.Fatalf("/account/sessions: %d, no session matching %s in\n%s", s, pattern, body)
	}
	return ids
}

func apiMeID(t *testing.T, b *browser) int64 {
	t.Helper()
	s, body := b.do("GET", "/api/me", nil)
	var me struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &me); s != http.StatusOK || err != nil || me.ID == 0 {
		t.Fatalf("/api/me: %d %s (%v)", s, body, err)
	}
	return me.ID
}
