package handlers_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
)

// product.md §3: fields carry autocomplete attributes, labels, and
// aria-describedby pointing at their error slot.
func TestFormFieldAttributes(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	pages := map[string][]string{
		"/signup": {
			`<label for="username">`, `id="username" name="username" type="text" autocomplete="username"`,
			`<label for="email">`, `id="email" name="email" type="email" autocomplete="email"`,
			`<label for="password">`, `id="password" name="password" type="password" autocomplete="new-password"`,
			`<label for="password_confirm">`, `id="password_confirm" name="password_confirm" type="password" autocomplete="new-password"`,
			`aria-describedby="username-hint username-error"`, `aria-live="polite"`,
			`hx-post="/signup/validate/username"`, `hx-sync="this:replace"`, `hx-disabled-elt="find button[type=submit]"`,
			`<span class="label-busy">Creating account…</span>`,
		},
		"/signin": {
			`id="username" name="username" type="text" autocomplete="username webauthn"`,
			`id="password" name="password" type="password" autocomplete="current-password"`,
			`id="remember" name="remember" type="checkbox" value="on"`,
			`<span class="label-busy">Signing in…</span>`,
		},
	}
	for path, wants := range pages {
		body := c.Get(path).Body
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		// Plain forms first: every form posts to its own URL without JS.
		if !strings.Contains(body, `method="post" action="`+path+`"`) {
			t.Errorf("%s: no plain POST form", path)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, "hx-on") {
			t.Errorf("%s has inline script", path)
		}
	}
}

// Inline validation answers only the field's error slot, and does not flag
// empty fields.
func TestInlineValidation(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("taken", "taken@example.com", "correct horse battery")
	c := srv.NewClient(t)
	cases := []struct {
		field string
		form  url.Values
		want  string
	}{
		{"username", url.Values{"username": {"Taken"}}, "That username is taken."},
		{"username", url.Values{"username": {"a"}}, "Username must be 3 to 31 characters long."},
		{"username", url.Values{"username": {"free_name"}}, `aria-live="polite"></p>`},
		{"username", url.Values{"username": {""}}, `aria-live="polite"></p>`},
		{"email", url.Values{"email": {"TAKEN@example.com"}}, "An account already uses that email address."},
		{"email", url.Values{"email": {"nope"}}, "Enter an email address like name@example.com."},
		{"password", url.Values{"password": {"short"}}, "Password must be at least 8 characters."},
		{"password", url.Values{"password": {"qwertyuiop"}}, "That password is one of the most common ones."},
		{"password", url.Values{"username": {"someone12"}, "password": {"someone12"}}, "Password must not be your username or email address."},
		{"password_confirm", url.Values{"password": {"abcdefgh1"}, "password_confirm": {"abcdefgh2"}}, "Passwords do not match."},
		{"password_confirm", url.Values{"password": {"abcdefgh1"}, "password_confirm": {"abcdefgh1"}}, `aria-live="polite"></p>`},
	}
	for _, tc := range cases {
		r := c.Post("/signup/validate/"+tc.field, tc.form, "HX-Request", "true")
		if r.StatusCode != 200 {
			t.Errorf("%s %v: status %d", tc.field, tc.form, r.StatusCode)
			continue
		}
		body := strings.TrimSpace(r.Body)
		if !strings.HasPrefix(body, `<p class="field-error" id="`+tc.field+`-error"`) || strings.Count(body, "<p") != 1 {
			t.Errorf("%s: not just the error slot: %s", tc.field, body)
		}
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s %v: %s lacks %q", tc.field, tc.form, body, tc.want)
		}
	}
	if r := c.Post("/signup/validate/nonsense", url.Values{}); r.StatusCode != 404 {
		t.Errorf("unknown field: %d, want 404", r.StatusCode)
	}
}

// product.md §1: no password, session token or link token in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	const pw = "correct horse battery staple"
	c.Signup("alice", "alice@example.com", pw)
	token := c.Cookie("session")
	c.Get("/dashboard")
	c.Post("/signout", nil)
	c.Post("/signin", url.Values{"username": {"alice"}, "password": {"wrong " + pw}})
	c.Signin("alice", pw)
	token2 := c.Cookie("session")
	logs := srv.Logs.String()
	if !strings.Contains(logs, "msg=request") {
		t.Fatal("no request lines in the log")
	}
	for _, secret := range []string{pw, token, token2} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret %q", secret)
		}
	}
	if !strings.Contains(logs, `msg="sign-in failed"`) || !strings.Contains(logs, "level=WARN") {
		t.Error("a failed sign-in is not logged at Warn")
	}
}

// product.md §5: expired sessions are removed from the database
// periodically.
func TestExpiredSessionsAreRemoved(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{SessionIdle: time.Second})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	d := srv.RawDB(t)
	count := func() (n int) {
		d.QueryRow("SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM user_sessions)").Scan(&n)
		return n
	}
	if count() != 2 {
		t.Fatalf("rows after sign-up = %d, want 2", count())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.App.RunCleanup(ctx, 100*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d session rows left after the idle timeout", count())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
