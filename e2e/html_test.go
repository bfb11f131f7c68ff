package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/oidcop"
)

// repoRoot is the repository's root directory (the parent of e2e/).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source directory")
	}
	return filepath.Dir(filepath.Dir(file))
}

// htmlValidate returns the path of the html-validate command that
// `npm ci --prefix e2e` installs, skipping (or failing under CI) without it.
func htmlValidate(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "Node.js is not installed (html-validate needs it)")
	}
	bin := filepath.Join(repoRoot(t), "e2e", "node_modules", ".bin", "html-validate")
	if _, err := os.Stat(bin); err != nil {
		missing(t, "html-validate is not installed (run: npm ci --prefix e2e)")
	}
	return bin
}

// A document is one answer of the app to validate: a full page or an htmx
// fragment.
type document struct {
	name     string
	html     string
	fragment bool
}

// collectDocuments fetches every page and fragment the app serves, in each
// state a user can reach: empty forms, forms with errors, signed in, error
// pages. Routes that answer 404 where a page was expected are not there yet
// (features land in parallel) and are logged, not validated.
func collectDocuments(t *testing.T, app *App) []document {
	t.Helper()
	guest := app.NewClient(t)
	user := app.NewClient(t)
	user.Signup("valerie", "valerie@example.com", testPassword)
	// valerie is an admin, for the admin pages (§13).
	admin, err := app.Store.UserByUsername(context.Background(), "valerie")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.SetAdmin(context.Background(), admin.ID, true); err != nil {
		t.Fatal(err)
	}
	adminPage := fmt.Sprintf("/admin/users/%d", admin.ID)
	other := app.NewClient(t)
	other.Signup("dora", "dora@example.com", testPassword)
	dora, err := app.Store.UserByUsername(context.Background(), "dora")
	if err != nil {
		t.Fatal(err)
	}
	throttled := app.NewClient(t)
	fill := func(pairs ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			v.Set(pairs[i], pairs[i+1])
		}
		return v
	}
	type req struct {
		name   string
		c      *apptest.Client
		method string
		path   string
		form   url.Values
		maybe  bool // a route of a feature that may not have landed
	}
	reqs := []req{
		{"home", guest, "GET", "/", nil, false},
		{"signup", guest, "GET", "/signup", nil, false},
		{"signup with errors", guest, "POST", "/signup", fill("username", "a b", "email", "nope", "password", "short", "password_confirm", "x"), false},
		{"signup empty submit", guest, "POST", "/signup", fill(), false},
		{"signin", guest, "GET", "/signin", nil, false},
		{"signin with next", guest, "GET", "/signin?next=%2Fdashboard", nil, false},
		{"signin with errors", guest, "POST", "/signin", fill(), false},
		{"signin wrong password", guest, "POST", "/signin", fill("username", "valerie", "password", "wrong password", "remember", "on"), false},
		{"inline check with a message", guest, "POST", "/signup/validate/username", fill("username", "a"), false},
		{"inline check without a message", guest, "POST", "/signup/validate/username", fill("username", "fine_name"), false},
		{"inline check of the confirmation", guest, "POST", "/signup/validate/password_confirm", fill("password", testPassword, "password_confirm", "x"), false},
		{"not found", guest, "GET", "/no-such-page", nil, false},
		{"method not allowed", guest, "GET", "/signout", nil, false},
		{"dashboard", user, "GET", "/dashboard", nil, false},
		{"not found signed in", user, "GET", "/no-such-page", nil, false},
		{"forgot", guest, "GET", "/forgot", nil, true},
		{"forgot sent", guest, "POST", "/forgot", fill("email", "valerie@example.com"), true},
		{"forgot with errors", guest, "POST", "/forgot", fill("email", "nope"), true},
		{"reset bad link", guest, "GET", "/reset?token=bad", nil, true},
		{"reset with errors", guest, "POST", "/reset", fill("token", "bad"), true},
		{"verify bad link", guest, "GET", "/verify?token=bad", nil, true},
		{"account", user, "GET", "/account", nil, true},
		{"account password errors", user, "POST", "/account/password", fill(), true},
		{"account email errors", user, "POST", "/account/email", fill("email", "nope"), true},
		{"account delete errors", user, "POST", "/account/delete", fill("current_password", "wrong password"), true},
		{"sessions", user, "GET", "/account/sessions", nil, true},
		{"apps", user, "GET", "/account/apps", nil, true},
		{"unknown app", user, "GET", "/oauth/authorize?client_id=nope&redirect_uri=https%3A%2F%2Fx.example%2Fcb", nil, true},
		{"activity", user, "GET", "/account/activity", nil, true},
		{"not-me errors", user, "POST", "/account/not-me", fill("current_password", "wrong password"), true},
		{"admin list", user, "GET", "/admin", nil, true},
		{"admin search", user, "GET", "/admin?q=val", nil, true},
		{"admin search without a match", user, "GET", "/admin?q=nobody", nil, true},
		{"admin account", user, "GET", adminPage, nil, true},
		{"admin refused on oneself", user, "POST", adminPage + "/disable", fill(), true},
		{"admin delete confirmation", user, "POST", fmt.Sprintf("/admin/users/%d/delete", dora.ID), fill(), true},
		{"admin log", user, "GET", "/admin/log", nil, true},
		{"admin groups with errors", user, "POST", fmt.Sprintf("/admin/users/%d/groups", dora.ID), fill("groups", "Bad Name"), true},
		{"admin apps", user, "GET", "/admin/clients", nil, true},
		{"admin add app with errors", user, "POST", "/admin/clients", fill("name", "", "redirect_uris", "ftp://x"), true},
		{"admin app added", user, "POST", "/admin/clients", fill("name", "Grafana", "redirect_uris", "https://grafana.example.com/cb"), true},
		{"security", user, "GET", "/account/security", nil, true},
		{"authenticator setup with errors", user, "POST", "/account/totp/setup", fill("current_password", "wrong password"), true},
		{"authenticator setup", user, "POST", "/account/totp/setup", fill("current_password", testPassword), true},
		{"authenticator enable wrong code", user, "POST", "/account/totp/enable", fill("code", "12345"), true},
		{"recovery codes without a factor", user, "POST", "/account/recovery-codes", fill("current_password", testPassword), true},
		// Last: ten failures from this address throttle every sign-in
		// after them.
		{"signin throttled", throttled, "POST", "/signin", fill("username", "thrott", "password", "wrong password"), false},
	}
	// A real reset link, for the reset form itself (for an account the
	// requests above leave alone: a new request voids older links).
	app.NewClient(t).Signup("rosa", "rosa@example.com", testPassword)
	if guest.Post("/forgot", fill("email", "rosa@example.com")).StatusCode != http.StatusNotFound {
		link := app.mailLink(t, "/reset?token=")
		token := strings.TrimPrefix(link, "/reset?token=")
		reqs = append(reqs,
			req{"reset form", guest, "GET", link, nil, true},
			req{"reset form with errors", guest, "POST", "/reset", fill("token", token, "new_password", "short", "new_password_confirm", "x"), true})
	}
	// The consent page of an app's request (OpenID Connect).
	if c, _, err := oidcop.AddClient(t.Context(), app.Store, oidcop.NewClient{Name: "Grafana",
		RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}}, time.Now()); err == nil {
		r := user.Get(strings.TrimPrefix(authorizeURL(app, c.ID, "https://grafana.example.com/login/generic_oauth", "s"), app.URL))
		if loc := r.Header.Get("Location"); strings.HasPrefix(loc, "/oauth/consent?id=") {
			reqs = append(reqs, req{"consent", user, "GET", loc, nil, true})
		} else {
			t.Errorf("authorize: %d %q", r.StatusCode, loc)
		}
	}
	var docs []document
	for _, r := range reqs {
		for _, htmx := range []bool{false, true} {
			if r.method == "GET" && htmx && !strings.HasPrefix(r.path, "/sign") && !strings.HasPrefix(r.path, "/admin?") {
				continue // only the form pages answer htmx GETs differently
			}
			var headers []string
			name := r.name
			if htmx {
				headers = []string{"HX-Request", "true"}
				name += " (htmx)"
			}
			if r.c == throttled && !htmx {
				for range 10 {
					throttled.Post("/signin", url.Values{"username": {"thrott"}, "password": {"wrong password"}})
				}
			}
			resp := r.c.Do(r.method, r.path, r.form, headers...)
			if resp.StatusCode == http.StatusNotFound && r.maybe {
				t.Logf("%s %s answers 404: not there yet, not validated", r.method, r.path)
				continue
			}
			if resp.StatusCode/100 == 3 || resp.Header.Get("HX-Redirect") != "" {
				t.Logf("%s %s redirects (%d); nothing to validate", r.method, r.path, resp.StatusCode)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s %s: Content-Type %q", r.method, r.path, ct)
				continue
			}
			docs = append(docs, document{
				name:     fmt.Sprintf("%s: %s %s → %d", name, r.method, r.path, resp.StatusCode),
				html:     resp.Body,
				fragment: !strings.HasPrefix(resp.Body, "<!DOCTYPE"),
			})
		}
	}
	return docs
}

// TestHTMLValid runs html-validate (recommended rules, .htmlvalidate.json)
// over every page and every htmx fragment the app serves.
func TestHTMLValid(t *testing.T) {
	bin := htmlValidate(t)
	app := startApp(t, apptest.Options{})
	docs := collectDocuments(t, app)
	dir := t.TempDir()
	var pages, fragments []string
	byFile := map[string]document{}
	for i, d := range docs {
		f := filepath.Join(dir, fmt.Sprintf("doc%02d.html", i))
		if err := os.WriteFile(f, []byte(d.html), 0o644); err != nil {
			t.Fatal(err)
		}
		byFile[f] = d
		if d.fragment {
			fragments = append(fragments, f)
		} else {
			pages = append(pages, f)
		}
	}
	if len(pages) < 10 || len(fragments) < 5 {
		t.Fatalf("only %d pages and %d fragments collected", len(pages), len(fragments))
	}
	config := filepath.Join(repoRoot(t), ".htmlvalidate.json")
	report := func(files []string, extra ...string) {
		args := append([]string{"-c", config, "--formatter", "json"}, extra...)
		out, err := exec.Command(bin, append(args, files...)...).Output()
		var results []struct {
			FilePath string `json:"filePath"`
			Source   string `json:"source"`
			Messages []struct {
				RuleID  string `json:"ruleId"`
				Message string `json:"message"`
				Line    int    `json:"line"`
				Column  int    `json:"column"`
			} `json:"messages"`
		}
		if jerr := json.Unmarshal(out, &results); jerr != nil {
			t.Fatalf("html-validate: %v (exit: %v); output:\n%s", jerr, err, out)
		}
		for _, r := range results {
			d := byFile[r.FilePath]
			for _, m := range r.Messages {
				line := strings.Split(d.html, "\n")
				src := ""
				if m.Line >= 1 && m.Line <= len(line) {
					src = strings.TrimSpace(line[m.Line-1])
				}
				t.Errorf("%s: line %d:%d: %s [%s]\n\t%s", d.name, m.Line, m.Column, m.Message, m.RuleID, src)
			}
		}
		if err != nil && !t.Failed() {
			t.Fatalf("html-validate failed without reporting a problem: %v", err)
		}
	}
	report(pages)
	// A fragment is a piece of a page: no doctype, html or title of its own.
	report(fragments, "--rule", "missing-doctype:off")
	for _, d := range docs {
		t.Logf("validated %s", d.name)
	}
	t.Logf("validated %d pages and %d fragments", len(pages), len(fragments))
}
