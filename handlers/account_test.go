package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/internal/apptest"
)

const (
	alicePW = "correct horse battery"
	newPW   = "tangerine submarine 42"
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
	chrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// signinAs signs a fresh client in with the given User-Agent (and further
// headers, as pairs of name, value).
func signinAs(t *testing.T, srv *apptest.Server, login, pw, ua string, headers ...string) *apptest.Client {
	t.Helper()
	c := srv.NewClient(t)
	r := c.Post("/signin", url.Values{"username": {login}, "password": {pw}}, append([]string{"User-Agent", ua}, headers...)...)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("signin %s: %d\n%s", login, r.StatusCode, r.Body)
	}
	return c
}

// sessionIDs returns the ids of the user's live sessions, newest first.
func sessionIDs(t *testing.T, srv *apptest.Server, username string) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	u, err := srv.Store.UserByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	list, err := srv.Store.UserSessions(ctx, u.ID, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return u.ID, ids
}

func signedIn(t *testing.T, c *apptest.Client) bool {
	t.Helper()
	r := c.Get("/dashboard")
	switch r.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	t.Fatalf("GET /dashboard: %d", r.StatusCode)
	return false
}

func wantBody(t *testing.T, r *apptest.Response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.Body, s) {
			t.Errorf("%s %s: body lacks %q\n%s", r.Request.Method, r.Request.URL.Path, s, r.Body)
		}
	}
}

// TestAccountRoutes walks the account routes of product.md §7 signed out
// and signed in, plain and with htmx.
func TestAccountRoutes(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for _, htmx := range []bool{false, true} {
		var hx []string
		if htmx {
			hx = []string{"HX-Request", "true"}
		}
		out := srv.NewClient(t)
		for _, tc := range []struct{ method, path, next string }{
			{"GET", "/account", "%2Faccount"},
			// A POST cannot be replayed by a GET after sign-in: next is
			// the page the form lives on.
			{"POST", "/account/password", "%2Faccount"},
			{"POST", "/account/delete", "%2Faccount"},
			{"GET", "/account/sessions", "%2Faccount%2Fsessions"},
			{"POST", "/account/sessions/revoke", "%2Faccount"},
		} {
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"current_password": {alicePW}, "id": {"others"}}
			}
			r := out.Do(tc.method, tc.path, form, hx...)
			status, location := r.StatusCode, r.Header.Get("Location")
			if htmx {
				// htmx is told to load the sign-in page itself rather than
				// swap it into the form.
				status, location = http.StatusSeeOther, r.Header.Get("HX-Redirect")
			}
			if status != http.StatusSeeOther || location != "/signin?next="+tc.next {
				t.Errorf("signed out %s %s (htmx %v): %d %q, want 303 /signin?next=%s", tc.method, tc.path, htmx, r.StatusCode, location, tc.next)
			}
		}
	}

	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", alicePW)
	for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
		r := c.Get("/account", hx...)
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /account: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
		}
		wantBody(t, r, "<!DOCTYPE html>", "alice", "alice@example.com", "Not verified",
			`action="/account/password"`, `name="current_password"`, `name="new_password"`, `name="new_password_confirm"`,
			`id="email-form"`, `action="/account/email"`, `name="email"`,
			`action="/account/delete"`, `href="/account/sessions"`,
			`autocomplete="current-password"`, `autocomplete="new-password"`, `href="/account">Account</a>`)
		r = c.Get("/account/sessions", hx...)
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /account/sessions: %d", r.StatusCode)
		}
		wantBody(t, r, "This device", `action="/account/sessions/revoke"`)
	}
	if r := c.Get("/dashboard"); !strings.Contains(r.Body, `href="/account"`) {
		t.Error("dashboard has no link to /account")
	}
	for _, p := range []string{"/account/password", "/account/delete", "/account/sessions/revoke"} {
		if r := c.Get(p); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", p, r.StatusCode)
		}
	}

	// Verified shows as such.
	u, _ := srv.Store.UserByUsername(context.Background(), "alice")
	if err := srv.Store.MarkEmailVerified(context.Background(), u.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := c.Get("/account")
	wantBody(t, r, `<span class="badge badge-ok">Verified</span>`)
	if strings.Contains(r.Body, "Not verified") {
		t.Error("verified account shown as not verified")
	}

	// A form from another site is refused before it reaches the handler.
	r = c.Post("/account/delete", url.Values{"current_password": {alicePW}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site delete: %d, want 403", r.StatusCode)
	}
	if !signedIn(t, c) {
		t.Error("cross-site delete signed alice out")
	}
}

// TestPasswordChangeInvalid: each wrong input is a 422 with its message
// next to its field, the whole page without htmx and only the form with
// it, and no password is echoed. Nothing changes.
func TestPasswordChangeInvalid(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", alicePW)
	tests := []struct {
		name          string
		cur, nw, conf string
		field, msg    string
	}{
		{"all empty", "", "", "", "password-current_password", "Enter your current password."},
		{"wrong current", "not my password", newPW, newPW, "password-current_password", "Your current password is not correct."},
		{"new empty", alicePW, "", "", "password-new_password", "Enter a password."},
		{"new short", alicePW, "short", "short", "password-new_password", "Password must be at least 8 characters."},
		{"new too long", alicePW, strings.Repeat("x", 257), strings.Repeat("x", 257), "password-new_password", "Password must be at most 256 characters."},
		{"new common", alicePW, "password123", "password123", "password-new_password", "That password is one of the most common ones. Choose another."},
		{"new is email", alicePW, "ALICE@example.com", "ALICE@example.com", "password-new_password", "Password must not be your username or email address."},
		{"confirm empty", alicePW, newPW, "", "password-new_password_confirm", "Enter your password again."},
		{"confirm mismatch", alicePW, newPW, newPW + "!", "password-new_password_confirm", "Passwords do not match."},
	}
	for _, tt := range tests {
		for _, htmx := range []bool{false, true} {
			var hx []string
			if htmx {
				hx = []string{"HX-Request", "true"}
			}
			r := c.Post("/account/password", url.Values{"current_password": {tt.cur}, "new_password": {tt.nw}, "new_password_confirm": {tt.conf}}, hx...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s (htmx %v): %d, want 422", tt.name, htmx, r.StatusCode)
				continue
			}
			wantBody(t, r, fmt.Sprintf(`id="%s-error" data-for="%s" aria-live="polite">%s</p>`, tt.field, tt.field, tt.msg),
				`id="error-summary"`, fmt.Sprintf(`href="#%s"`, tt.field))
			if full := strings.Contains(r.Body, "<!DOCTYPE html>"); full == htmx {
				t.Errorf("%s (htmx %v): full page = %v", tt.name, htmx, full)
			}
			if htmx && !strings.HasPrefix(r.Body, `<form id="password-form"`) {
				t.Errorf("%s: htmx answer is not the password form fragment:\n%.200s", tt.name, r.Body)
			}
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "HX-Request") {
				t.Errorf("%s: no Vary: HX-Request", tt.name)
			}
			for _, pw := range []string{tt.cur, tt.nw, tt.conf} {
				if len(pw) > 3 && strings.Contains(r.Body, pw) {
					t.Errorf("%s: password %q echoed", tt.name, pw)
				}
			}
		}
	}
	// The password is unchanged: the old one still signs in.
	signinAs(t, srv, "alice", alicePW, firefox)
}

// TestPasswordChange: 303 to /account with a notice shown once; every
// other session is dead, this one lives on under a new token, and only the
// new password signs in.
func TestPasswordChange(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	b := signinAs(t, srv, "alice", alicePW, safari)
	cc := signinAs(t, srv, "alice@example.com", alicePW, firefox)
	bob := srv.NewClient(t)
	bob.Signup("bob", "bob@example.com", alicePW)
	oldToken := a.Cookie("session")

	r := a.Post("/account/password", url.Values{"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("change: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	newToken := a.Cookie("session")
	if newToken == "" || newToken == oldToken {
		t.Fatalf("session token not renewed: old %q new %q", oldToken, newToken)
	}
	r = a.Get("/account")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("this session after change: %d", r.StatusCode)
	}
	wantBody(t, r, `<div class="notice" role="status">Your password was changed.</div>`)
	if r = a.Get("/account"); strings.Contains(r.Body, "Your password was changed.") {
		t.Error("notice shown twice")
	}
	if signedIn(t, b) || signedIn(t, cc) {
		t.Error("another session of alice survived the password change")
	}
	if !signedIn(t, bob) {
		t.Error("bob was signed out by alice's password change")
	}
	replay := srv.NewClient(t)
	replay.SetCookie("session", oldToken)
	if signedIn(t, replay) {
		t.Error("the old token of the changing session still works")
	}
	if _, ids := sessionIDs(t, srv, "alice"); len(ids) != 1 {
		t.Errorf("alice has %d sessions, want 1", len(ids))
	}
	if r := srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {alicePW}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password: %d, want 401", r.StatusCode)
	}
	signinAs(t, srv, "alice", newPW, firefox)
	if strings.Contains(srv.Logs.String(), newPW) || strings.Contains(srv.Logs.String(), newToken) {
		t.Error("the log holds the new password or session token")
	}
}

func TestPasswordChangeHTMX(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	r := a.Post("/account/password", url.Values{"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW}}, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != "/account" {
		t.Fatalf("htmx change: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	wantBody(t, a.Get("/account"), "Your password was changed.")
}

// TestCurrentPasswordThrottled: wrong current passwords count against the
// session (product.md §6), so a stolen session cannot guess the password.
func TestCurrentPasswordThrottled(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	for i := 0; i < 10; i++ {
		if r := a.Post("/account/delete", url.Values{"current_password": {fmt.Sprint("guess", i)}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d: %d, want 422", i, r.StatusCode)
		}
	}
	for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
		r := a.Post("/account/delete", url.Values{"current_password": {alicePW}}, hx...)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("11th try: %d Retry-After %q, want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
		}
		wantBody(t, r, "Too many wrong passwords. Try again in")
	}
	if _, err := srv.Store.UserByUsername(context.Background(), "alice"); err != nil {
		t.Errorf("account gone after throttled delete: %v", err)
	}
	// The count is this session's: alice signed in elsewhere is not held up.
	b := srv.NewClient(t)
	if r := b.Post("/signin", url.Values{"username": {"alice"}, "password": {alicePW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in elsewhere: %d", r.StatusCode)
	}
	if r := b.Post("/account/password", url.Values{"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("password change from another session: %d, want 303", r.StatusCode)
	}
}

// TestOthersFailedSigninsDoNotLockTheAccountForms: product.md §6 — the
// current password asked by the account forms is throttled per session,
// not by the sign-in counters: someone else's failed sign-ins never lock a
// signed-in user out of their own settings.
func TestOthersFailedSigninsDoNotLockTheAccountForms(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	for i := range 12 {
		srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {fmt.Sprint("stranger's guess ", i)}})
	}
	if r := srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {alicePW}}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sign-in after 12 failures: %d, want 429", r.StatusCode)
	}
	r := a.Post("/account/password", url.Values{"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change while the sign-in is throttled: %d, want 303", r.StatusCode)
	}
	if r := a.Post("/account/delete", url.Values{"current_password": {newPW}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("delete while the sign-in is throttled: %d, want 303", r.StatusCode)
	}
}

// TestCurrentPasswordCountIsNotInheritedByANewSession: product.md §6 —
// the current password is throttled per session, counted by session id.
// SQLite gave a new session the id of the newest one once that one had
// ended (until migration 0012), so the count passed to whoever signed in
// next: one user's wrong passwords, then a sign-out, locked the next user
// to sign in out of their own settings.
func TestCurrentPasswordCountIsNotInheritedByANewSession(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	m := srv.NewClient(t)
	m.Signup("mallory", "mallory@example.com", alicePW)
	for i := range 10 {
		r := m.Post("/account/delete", url.Values{"current_password": {fmt.Sprint("guess", i)}})
		wantStatus(t, r, http.StatusUnprocessableEntity, fmt.Sprint("guess ", i))
	}
	wantStatus(t, m.Post("/signout", nil), http.StatusSeeOther, "mallory signs out")

	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	r := a.Post("/account/password", url.Values{"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW}})
	wantStatus(t, r, http.StatusSeeOther, "alice's first password change in a new session")
}

// TestDeleteAccount: the password is required; then the account, its
// sessions and link tokens are gone from every table, and 303 / shows the
// notice. Another user is untouched.
func TestDeleteAccount(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	a := srv.NewClient(t)
	a.Signup("zed-del", "zed-del@example.com", alicePW)
	other := signinAs(t, srv, "zed-del", alicePW, safari)
	bob := srv.NewClient(t)
	bob.Signup("bob", "bob@example.com", alicePW)

	zed, _ := srv.Store.UserByUsername(ctx, "zed-del")
	var hashes []string
	for _, c := range []*apptest.Client{a, other} {
		hashes = append(hashes, db.HashToken(c.Cookie("session")))
	}
	for _, kind := range []db.TokenKind{db.TokenVerify, db.TokenReset, db.TokenEmailChange} {
		tok, err := srv.Store.CreateLinkToken(ctx, zed.ID, kind, "zed-new@example.com", time.Now(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, db.HashToken(tok))
	}

	for _, tc := range []struct {
		pw, msg string
	}{{"", "Enter your current password."}, {"wrong password", "Your current password is not correct."}} {
		for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
			r := a.Post("/account/delete", url.Values{"current_password": {tc.pw}}, hx...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("delete with %q: %d, want 422", tc.pw, r.StatusCode)
			}
			wantBody(t, r, `id="delete-current_password-error" data-for="delete-current_password" aria-live="polite">`+tc.msg)
			if hx != nil && !strings.HasPrefix(r.Body, `<form id="delete-form"`) {
				t.Errorf("htmx answer is not the delete form:\n%.200s", r.Body)
			}
		}
	}
	if !signedIn(t, a) {
		t.Fatal("failed delete signed out")
	}

	r := a.Post("/account/delete", url.Values{"current_password": {alicePW}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("delete: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = a.Get("/")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("home after delete: %d", r.StatusCode)
	}
	wantBody(t, r, "Your account was deleted.")
	if strings.Contains(a.Get("/").Body, "Your account was deleted.") {
		t.Error("notice shown twice")
	}
	if signedIn(t, a) || signedIn(t, other) {
		t.Error("a session of the deleted account still works")
	}
	if r := srv.NewClient(t).Post("/signin", url.Values{"username": {"zed-del"}, "password": {alicePW}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in of deleted account: %d, want 401", r.StatusCode)
	}
	if !signedIn(t, bob) {
		t.Error("bob lost his session")
	}
	noTrace(t, srv, zed.ID, append(hashes, "zed-del"))

	// The name is free again.
	srv.NewClient(t).Signup("zed-del", "zed-del@example.com", alicePW)
}

func TestDeleteAccountHTMX(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	r := a.Post("/account/delete", url.Values{"current_password": {alicePW}}, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != "/" {
		t.Fatalf("htmx delete: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	wantBody(t, a.Get("/"), "Your account was deleted.")
}

// noTrace fails unless no table holds a row of the user: no row whose
// foreign key points at userID, no users row with that id, and no text or
// blob cell containing any of marks (username, email, token hashes).
// Tables are listed from sqlite_master, so a table added later is checked
// too.
func noTrace(t *testing.T, srv *apptest.Server, userID int64, marks []string) {
	t.Helper()
	raw := srv.RawDB(t)
	tables := queryStrings(t, raw, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if len(tables) < 3 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	for _, table := range tables {
		// Columns that reference users.
		rows, err := raw.Query(`SELECT "from" FROM pragma_foreign_key_list(?) WHERE "table" = 'users'`, table)
		if err != nil {
			t.Fatal(err)
		}
		var fks []string
		for rows.Next() {
			var col string
			rows.Scan(&col)
			fks = append(fks, col)
		}
		rows.Close()
		if table == "users" {
			fks = append(fks, "id")
		}
		for _, col := range fks {
			var n int
			if err := raw.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q WHERE %q = ?`, table, col), userID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				t.Errorf("%s has %d rows with %s = %d", table, n, col, userID)
			}
		}
		// Every cell, as text.
		cols := queryStrings(t, raw, `SELECT name FROM pragma_table_info(?)`, table)
		for _, col := range cols {
			for _, m := range marks {
				var n int
				q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE instr(CAST(%q AS TEXT), ?) > 0`, table, col)
				if err := raw.QueryRow(q, m).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					t.Errorf("%s.%s still holds %q in %d rows", table, col, m, n)
				}
			}
		}
	}
}

func queryStrings(t *testing.T, d *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := d.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSessionsPage: every session is listed with its browser and address,
// and this one is marked.
func TestSessionsPage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", alicePW)
	fx := signinAs(t, srv, "alice", alicePW, firefox)
	sf := signinAs(t, srv, "alice", alicePW, safari)
	signinAs(t, srv, "alice", alicePW, "curl/8.5.0")
	r := fx.Get("/account/sessions", "User-Agent", firefox)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %d", r.StatusCode)
	}
	wantBody(t, r, "Firefox on Linux", "Safari on iOS", "Unknown browser", "127.0.0.1", "Started", "Last seen",
		`value="others"`, "Sign out everywhere else")
	if n := strings.Count(r.Body, "This device"); n != 1 {
		t.Fatalf(`"This device" %d times, want 1`, n)
	}
	// The mark sits in Firefox's entry: between its name and the next entry.
	fxAt, markAt, sfAt := strings.Index(r.Body, "Firefox on Linux"), strings.Index(r.Body, "This device"), strings.Index(r.Body, "Safari on iOS")
	if !(fxAt < markAt && markAt < sfAt) {
		t.Errorf("This device is not on the Firefox entry (firefox %d, mark %d, safari %d)", fxAt, markAt, sfAt)
	}
	if n := strings.Count(r.Body, `<li class="session`); n != 4 {
		t.Errorf("%d sessions listed, want 4", n)
	}
	// From Safari, Safari is this device.
	r = sf.Get("/account/sessions")
	markAt, sfAt = strings.Index(r.Body, "This device"), strings.Index(r.Body, "Safari on iOS")
	if !(sfAt < markAt && markAt < strings.Index(r.Body, "</li>")) {
		t.Error("Safari session is not marked as this device from Safari")
	}
	// Other users' sessions are not listed.
	bob := srv.NewClient(t)
	bob.Signup("bob", "bob@example.com", alicePW)
	r = bob.Get("/account/sessions")
	if n := strings.Count(r.Body, `<li class="session`); n != 1 || strings.Contains(r.Body, "Sign out everywhere else") {
		t.Errorf("bob sees %d sessions, want his 1", n)
	}
}

// product.md §7: GET /account/sessions marks this one (and only this one:
// no other row's text or button says "this session" or "this device");
// each sign-out button's accessible name says which session it ends.
func TestSessionsPageMarksOnlyThisOneAndNamesEachSignOut(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{TrustedProxies: []string{"127.0.0.1"}})
	srv.NewClient(t).Signup("alice", "alice@example.com", alicePW)
	fx := signinAs(t, srv, "alice", alicePW, firefox, "X-Forwarded-For", "192.0.2.1")
	signinAs(t, srv, "alice", alicePW, chrome, "X-Forwarded-For", "192.0.2.2")
	signinAs(t, srv, "alice", alicePW, chrome, "X-Forwarded-For", "192.0.2.3")
	r := fx.Get("/account/sessions", "User-Agent", firefox, "X-Forwarded-For", "192.0.2.1")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %d", r.StatusCode)
	}
	rows := sessionRowRE.FindAllStringSubmatch(r.Body, -1)
	if len(rows) != 4 { // the sign-up's session, Firefox, two Chromes
		t.Fatalf("%d session rows, want 4:\n%s", len(rows), r.Body)
	}
	names := map[string]bool{}
	current := 0
	for _, row := range rows {
		isCurrent, li := strings.Contains(row[1], "session-current"), row[2]
		buttons := buttonRE.FindAllStringSubmatch(li, -1)
		if len(buttons) != 1 {
			t.Fatalf("row has %d buttons, want 1:\n%s", len(buttons), li)
		}
		name := accessibleName(buttons[0][1], buttons[0][2])
		if names[name] {
			t.Errorf("two buttons are named %q", name)
		}
		names[name] = true
		if !strings.HasPrefix(name, "Sign out") {
			t.Errorf("button %q does not say it signs out", name)
		}
		lower := strings.ToLower(li)
		if !isCurrent {
			if strings.Contains(lower, "this session") || strings.Contains(lower, "this device") {
				t.Errorf("a row that is not this session says it is:\n%s", li)
			}
		} else {
			current++
			if !strings.Contains(lower, "this device") || !strings.Contains(strings.ToLower(name), "this device") {
				t.Errorf("this session's row or button %q does not say this device:\n%s", name, li)
			}
		}
		for _, browser := range []string{"Firefox on Linux", "Chrome on Windows", "Unknown browser"} {
			if strings.Contains(li, "<strong>"+browser+"</strong>") && !strings.Contains(name, browser) {
				t.Errorf("the button of the %s row is named %q", browser, name)
			}
		}
		if isCurrent && !strings.Contains(li, "Firefox on Linux") {
			t.Errorf("the current row is not Firefox's:\n%s", li)
		}
	}
	if current != 1 {
		t.Errorf("%d rows marked current, want 1", current)
	}
}

var (
	sessionRowRE = regexp.MustCompile(`(?s)<li class="(session[^"]*)">(.*?)</li>`)
	buttonRE     = regexp.MustCompile(`(?s)<button([^>]*)>(.*?)</button>`)
	ariaLabelRE  = regexp.MustCompile(`aria-label="([^"]*)"`)
	tagRE        = regexp.MustCompile(`<[^>]*>`)
)

// accessibleName is a button's aria-label, or else its text (enough for
// our templates, which use neither aria-labelledby nor images).
func accessibleName(attrs, content string) string {
	if m := ariaLabelRE.FindStringSubmatch(attrs); m != nil {
		return html.UnescapeString(m[1])
	}
	return strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(content, ""))), " ")
}

// TestRevokeSessions: one by id, all others, and this one (= sign out);
// ids that are not the user's are 404 and touch nothing.
func TestRevokeSessions(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", alicePW)
	b := signinAs(t, srv, "alice", alicePW, safari)
	cc := signinAs(t, srv, "alice", alicePW, firefox)
	bob := srv.NewClient(t)
	bob.Signup("bob", "bob@example.com", alicePW)
	_, bobIDs := sessionIDs(t, srv, "bob")
	_, ids := sessionIDs(t, srv, "alice")
	if len(ids) != 3 {
		t.Fatalf("alice has %d sessions, want 3", len(ids))
	}
	// ids are newest first: cc, b, a.
	bID, aID := ids[1], ids[2]

	for _, id := range []string{fmt.Sprint(bobIDs[0]), "999999", "", "abc", "-1", "0", "1e3"} {
		r := a.Post("/account/sessions/revoke", url.Values{"id": {id}})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("revoke id %q: %d, want 404", id, r.StatusCode)
		}
	}
	if !signedIn(t, bob) || !signedIn(t, b) || !signedIn(t, cc) || !signedIn(t, a) {
		t.Fatal("a refused revoke ended a session")
	}

	r := a.Post("/account/sessions/revoke", url.Values{"id": {fmt.Sprint(bID)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/sessions" {
		t.Fatalf("revoke one: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	wantBody(t, a.Get("/account/sessions"), "That session was signed out.")
	if signedIn(t, b) || !signedIn(t, cc) || !signedIn(t, a) {
		t.Fatal("revoking b: wrong sessions ended")
	}
	// Revoking it again: it is gone, so 404.
	if r := a.Post("/account/sessions/revoke", url.Values{"id": {fmt.Sprint(bID)}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke twice: %d, want 404", r.StatusCode)
	}

	d := signinAs(t, srv, "alice", alicePW, firefox)
	r = a.Post("/account/sessions/revoke", url.Values{"id": {"others"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != "/account/sessions" {
		t.Fatalf("revoke others (htmx): %d %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	wantBody(t, a.Get("/account/sessions"), "You were signed out everywhere else.")
	if signedIn(t, cc) || signedIn(t, d) || !signedIn(t, a) || !signedIn(t, bob) {
		t.Fatal("revoke others: wrong sessions ended")
	}
	if _, left := sessionIDs(t, srv, "alice"); len(left) != 1 || left[0] != aID {
		t.Fatalf("sessions left %v, want [%d]", left, aID)
	}

	// This session's own id signs out.
	r = a.Post("/account/sessions/revoke", url.Values{"id": {fmt.Sprint(aID)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Fatalf("revoke this one: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	wantBody(t, a.Get("/signin"), "You have signed out.")
	if signedIn(t, a) || !signedIn(t, bob) {
		t.Fatal("revoking this session: wrong sessions ended")
	}
	// product.md §13: each ending is in alice's security activity, none of
	// the refused ones; bob's has none.
	// (One session, then every other, then this one: a sign-out.)
	if got := eventKinds(t, srv, "alice", "session_ended", "signed_out"); !slices.Equal(got, []string{"session_ended", "session_ended", "signed_out"}) {
		t.Errorf("alice's activity after the revokes: %v", got)
	}
	if got := eventKinds(t, srv, "bob", "session_ended", "signed_out"); len(got) != 0 {
		t.Errorf("bob's activity after alice's revokes: %v", got)
	}
}
