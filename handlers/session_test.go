package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
)

// sessionCookie returns the Set-Cookie for "session" in r, or nil.
func sessionCookie(r *apptest.Response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == "session" {
			return c
		}
	}
	return nil
}

// The cookie's attributes, with and without "remember me" (product.md §5).
func TestSessionCookieAttributes(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	for _, remember := range []bool{false, true} {
		form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
		if remember {
			form.Set("remember", "on")
		}
		r := srv.NewClient(t).Post("/signin", form)
		raw := r.Header.Get("Set-Cookie")
		ck := sessionCookie(r)
		if ck == nil {
			t.Fatalf("remember=%v: no session cookie", remember)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
			t.Errorf("remember=%v: cookie %q", remember, raw)
		}
		persistent := strings.Contains(raw, "Max-Age=") || strings.Contains(raw, "Expires=")
		if persistent != remember {
			t.Errorf("remember=%v: persistent cookie = %v (%q)", remember, persistent, raw)
		}
		if remember && (ck.MaxAge < 29*24*3600 || ck.MaxAge > 30*24*3600+5) {
			t.Errorf("remember: Max-Age %d, want about 30 days", ck.MaxAge)
		}
	}
}

// With an https base URL the cookie is Secure.
func TestSessionCookieSecureBehindHTTPS(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "https://auth.example.com"})
	c := srv.NewClient(t)
	r := c.Post("/signup", url.Values{"username": {"alice"}, "email": {"alice@example.com"},
		"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}})
	if ck := sessionCookie(r); ck == nil || !ck.Secure {
		t.Fatalf("cookie not Secure: %q", r.Header.Get("Set-Cookie"))
	}
}

// Sign-out destroys the session server-side: replaying the old cookie gets
// the signed-out answer.
func TestSignoutKillsSessionServerSide(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	old := c.Cookie("session")
	r := c.Post("/signout", nil)
	if ck := sessionCookie(r); ck == nil || ck.MaxAge >= 0 && ck.Value == old {
		t.Fatalf("sign-out did not clear or replace the cookie: %q", r.Header.Get("Set-Cookie"))
	}
	replay := srv.NewClient(t)
	replay.SetCookie("session", old)
	if r := replay.Get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("replayed cookie: dashboard %d, want 303", r.StatusCode)
	}
	if r := replay.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed cookie: api %d, want 401", r.StatusCode)
	}
	var n int
	if err := srv.RawDB(t).QueryRow("SELECT count(*) FROM user_sessions").Scan(&n); err != nil || n != 0 {
		t.Fatalf("user_sessions rows after sign-out = %d (%v), want 0", n, err)
	}
	if got := eventKinds(t, srv, "alice", "signed_out"); len(got) != 1 {
		t.Errorf("signed_out events after one sign-out: %v", got)
	}
}

// A token held before sign-in does not work after it (no fixation), and
// sign-in issues a new one.
func TestNoSessionFixation(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	c := srv.NewClient(t)
	// A signed-out session with data (a notice) gives the visitor a token.
	c.Signup("bob", "bob@example.com", "correct horse battery")
	c.Post("/signout", nil)
	before := c.Cookie("session")
	if before == "" {
		t.Fatal("expected a visitor session holding the sign-out notice")
	}
	c.Signin("alice", "correct horse battery")
	after := c.Cookie("session")
	if after == "" || after == before {
		t.Fatalf("token not renewed at sign-in")
	}
	attacker := srv.NewClient(t)
	attacker.SetCookie("session", before)
	if r := attacker.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pre-sign-in token works after sign-in: %d", r.StatusCode)
	}
}

// No value stored in the database works as a session cookie: the database
// holds only hashes.
func TestStoredValuesAreNotTokens(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	token := c.Cookie("session")
	d := srv.RawDB(t)
	var stored []string
	for _, q := range []string{"SELECT token FROM sessions", "SELECT token_hash FROM user_sessions"} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			stored = append(stored, s)
		}
		rows.Close()
	}
	if len(stored) < 2 {
		t.Fatalf("expected session rows, got %v", stored)
	}
	for _, s := range stored {
		if s == token {
			t.Fatal("the database holds the session token itself")
		}
		thief := srv.NewClient(t)
		thief.SetCookie("session", s)
		if r := thief.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("stored value %q works as a cookie", s)
		}
	}
	// Scan every text column of every table for the token.
	var dump string
	d.QueryRow(`SELECT group_concat(token || hex(data)) FROM sessions`).Scan(&dump)
	if strings.Contains(dump, token) {
		t.Fatal("token found in the sessions table")
	}
}

// Page views do not write: 40 signed-in requests in a row leave the
// database unchanged (PRAGMA data_version on a held connection).
func TestPageViewsDoNotWrite(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	c.Get("/dashboard") // settle anything the sign-up left pending
	// The sign-up's verification link and a first start's signing key are
	// written in the background: measure after them.
	srv.App.Wait()
	conn, err := srv.RawDB(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version := func() int {
		var v int
		if err := conn.QueryRowContext(t.Context(), "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for i := 0; i < 40; i++ {
		path := "/dashboard"
		if i%2 == 1 {
			path = "/api/me"
		}
		if r := c.Get(path); r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
	}
	if after := version(); after != before {
		t.Fatalf("data_version moved from %d to %d: page views wrote to the database", before, after)
	}
}

// With a short idle timeout, last-seen is written at most once per tenth of
// it, and a session left idle longer than the timeout ends.
func TestIdleTimeout(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{SessionIdle: 2 * time.Second})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	// Activity keeps it alive past the idle timeout.
	for i := 0; i < 6; i++ {
		time.Sleep(600 * time.Millisecond)
		if r := c.Get("/api/me"); r.StatusCode != 200 {
			t.Fatalf("active session ended after %d requests: %d", i, r.StatusCode)
		}
	}
	time.Sleep(3100 * time.Millisecond)
	if r := c.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("idle session still works: %d", r.StatusCode)
	}
}

// A session ends at its absolute lifetime however active it is.
func TestAbsoluteLifetime(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{SessionLifetime: 2 * time.Second})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	if r := c.Get("/api/me"); r.StatusCode != 200 {
		t.Fatalf("fresh session: %d", r.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		if r := c.Get("/api/me"); r.StatusCode == http.StatusUnauthorized {
			return
		}
	}
	t.Fatal("session outlived its absolute lifetime")
}

// GET /api/me: the JSON shape of product.md §2, RFC 3339 UTC times.
func TestAPIMe(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	r := c.Get("/api/me")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var me map[string]any
	if err := json.Unmarshal([]byte(r.Body), &me); err != nil {
		t.Fatal(err)
	}
	// groups: product.md §11, an empty list (never null) for none.
	want := []string{"id", "username", "email", "created_at", "session_expires_at", "groups", "admin"}
	if g, ok := me["groups"].([]any); !ok || len(g) != 0 {
		t.Errorf("groups %v, want []", me["groups"])
	}
	if len(me) != len(want) {
		t.Errorf("keys %v, want %v", me, want)
	}
	for _, k := range want {
		if _, ok := me[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	if me["username"] != "alice" || me["email"] != "alice@example.com" || me["id"] != float64(1) {
		t.Errorf("body %s", r.Body)
	}
	for _, k := range []string{"created_at", "session_expires_at"} {
		s, _ := me[k].(string)
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %q: not RFC 3339 UTC", k, s)
		}
		if k == "session_expires_at" {
			// The idle timeout (7 days) ends it before the lifetime (30 days).
			if d := time.Until(ts); d < 6*24*time.Hour || d > 7*24*time.Hour+time.Minute {
				t.Errorf("session_expires_at %s is %v away, want about 7 days", s, d)
			}
		}
	}
}

// product.md §5 and §7: a sign-in made from a signed-in browser ends the
// session it had, whoever signs in: the old token is dead, and
// /account/sessions lists only the sessions still active. The sign-in is
// recorded (§13) and the replaced session adds no event of its own: it
// was neither signed out nor ended from elsewhere.
func TestSigninWhileSignedInEndsThePreviousSession(t *testing.T) {
	const pw = "correct horse battery"
	srv := apptest.Start(t, apptest.Options{})
	raw := srv.RawDB(t)
	sessionsOf := func(username string) int {
		t.Helper()
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM user_sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)`, username).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	listed := func(c *apptest.Client) int {
		t.Helper()
		r := c.Get("/account/sessions")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("/account/sessions: %d", r.StatusCode)
		}
		return strings.Count(r.Body, `<li class="session`)
	}
	dead := func(what, token string) {
		t.Helper()
		old := srv.NewClient(t)
		old.SetCookie("session", token)
		if r := old.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: /api/me %d, want 401", what, r.StatusCode)
		}
	}
	srv.NewClient(t).Signup("bob", "bob@example.com", pw)

	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", pw)
	first := c.Cookie("session")
	c.Signin("alice", pw)
	if c.Cookie("session") == first {
		t.Fatal("token not renewed at sign-in")
	}
	dead("the token from before the sign-in", first)
	if n := listed(c); n != 1 {
		t.Errorf("/account/sessions lists %d sessions after signing in again, want 1", n)
	}
	if n := sessionsOf("alice"); n != 1 {
		t.Errorf("alice has %d session rows, want 1", n)
	}

	// Signing in as someone else ends alice's session too.
	second := c.Cookie("session")
	c.Signin("bob", pw)
	dead("alice's token after bob signed in", second)
	if n := sessionsOf("alice"); n != 0 {
		t.Errorf("alice has %d session rows after bob signed in in her browser, want 0", n)
	}
	if n := listed(c); n != 2 { // bob's sign-up browser and this one
		t.Errorf("bob's /account/sessions lists %d sessions, want 2", n)
	}

	var signedIn, other int
	if err := raw.QueryRow(`SELECT count(*) FILTER (WHERE kind = 'signed_in'), count(*) FILTER (WHERE kind IN ('signed_out', 'session_ended'))
		FROM security_events WHERE user_id = (SELECT id FROM users WHERE username = 'alice')`).Scan(&signedIn, &other); err != nil {
		t.Fatal(err)
	}
	if signedIn != 2 || other != 0 {
		t.Errorf("alice's activity: %d sign-ins and %d sign-outs or ended sessions, want 2 and 0", signedIn, other)
	}
}
