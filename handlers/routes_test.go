package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// scenario is one row of product.md §2's route table.
type scenario struct {
	name         string
	method, path string
	form         url.Values
	headers      []string
	signedIn     bool
	wantStatus   int
	wantLocation string
	wantContains []string
	wantHeader   [2]string
}

// TestRouteTable walks every row of product.md §2, signed out and signed in,
// as a plain request and as htmx.
func TestRouteTable(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	setup := srv.NewClient(t)
	setup.Signup("alice", "alice@example.com", "correct horse battery")

	scenarios := []scenario{
		{name: "home signed out", method: "GET", path: "/", wantStatus: 200, wantContains: []string{`href="/signin"`, `href="/signup"`}},
		{name: "home signed in", method: "GET", path: "/", signedIn: true, wantStatus: 303, wantLocation: "/dashboard"},
		{name: "signup form", method: "GET", path: "/signup", wantStatus: 200, wantContains: []string{`name="username"`, `name="email"`, `name="password"`, `name="password_confirm"`}},
		{name: "signup form signed in", method: "GET", path: "/signup", signedIn: true, wantStatus: 303, wantLocation: "/dashboard"},
		{name: "signup post signed in", method: "POST", path: "/signup", signedIn: true, form: url.Values{"username": {"x"}}, wantStatus: 303, wantLocation: "/dashboard"},
		{name: "signin form", method: "GET", path: "/signin", wantStatus: 200, wantContains: []string{`name="username"`, `name="password"`, `name="remember"`, `value="on"`, `name="next"`}},
		{name: "signin form keeps safe next", method: "GET", path: "/signin?next=%2Fdashboard", wantStatus: 200, wantContains: []string{`name="next" value="/dashboard"`}},
		{name: "signin form drops hostile next", method: "GET", path: "/signin?next=https%3A%2F%2Fevil.example", wantStatus: 200, wantContains: []string{`name="next" value=""`}},
		{name: "signin form signed in", method: "GET", path: "/signin", signedIn: true, wantStatus: 303, wantLocation: "/dashboard"},
		// product.md §2: signed in, POST /signin behaves as signed out and honours next.
		{name: "signin post signed in", method: "POST", path: "/signin", signedIn: true, form: url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "next": {"/api/me"}}, wantStatus: 303, wantLocation: "/api/me"},
		{name: "signin post signed in, no next", method: "POST", path: "/signin", signedIn: true, form: url.Values{"username": {"alice"}, "password": {"correct horse battery"}}, wantStatus: 303, wantLocation: "/dashboard"},
		{name: "signin post signed in, wrong password", method: "POST", path: "/signin", signedIn: true, form: url.Values{"username": {"alice"}, "password": {"wrong"}}, wantStatus: 401, wantContains: []string{"Incorrect username or password."}},
		{name: "signout signed out", method: "POST", path: "/signout", wantStatus: 303, wantLocation: "/signin"},
		{name: "signout by GET", method: "GET", path: "/signout", wantStatus: 405},
		{name: "signout by GET signed in", method: "GET", path: "/signout", signedIn: true, wantStatus: 405},
		{name: "dashboard signed out", method: "GET", path: "/dashboard", wantStatus: 303, wantLocation: "/signin?next=%2Fdashboard"},
		{name: "dashboard signed in", method: "GET", path: "/dashboard", signedIn: true, wantStatus: 200, wantContains: []string{"Hello, alice!", "Your session expires"}, wantHeader: [2]string{"Cache-Control", "no-store"}},
		{name: "api me signed out", method: "GET", path: "/api/me", wantStatus: 401, wantContains: []string{`{"error":"unauthorized"}`}},
		{name: "api me signed in", method: "GET", path: "/api/me", signedIn: true, wantStatus: 200, wantContains: []string{`"username":"alice"`}, wantHeader: [2]string{"Cache-Control", "no-store"}},
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, wantContains: []string{"ok"}},
		{name: "healthz signed in", method: "GET", path: "/healthz", signedIn: true, wantStatus: 200, wantContains: []string{"ok"}},
		{name: "unknown page", method: "GET", path: "/no/such/page", wantStatus: 404, wantContains: []string{"Page not found", `href="/static/app.css`}},
		{name: "unknown api route", method: "GET", path: "/api/nothing", wantStatus: 404, wantContains: []string{`{"error":"not found"}`}},
		{name: "unknown static file", method: "GET", path: "/static/nope.js", wantStatus: 404},
		{name: "static css", method: "GET", path: "/static/app.css", wantStatus: 200, wantContains: []string{"--brand"}},
	}
	for _, sc := range scenarios {
		for _, htmx := range []bool{false, true} {
			name := sc.name
			if htmx {
				name += " (htmx)"
			}
			t.Run(name, func(t *testing.T) {
				c := srv.NewClient(t)
				if sc.signedIn {
					c.Signin("alice", "correct horse battery")
				}
				headers := sc.headers
				if htmx {
					headers = append(headers, "HX-Request", "true")
				}
				r := c.Do(sc.method, sc.path, sc.form, headers...)
				status, location := r.StatusCode, r.Header.Get("Location")
				// htmx is answered HX-Redirect where a browser gets a 303.
				if htmx && sc.wantStatus == 303 && r.Header.Get("HX-Redirect") != "" {
					status, location = 303, r.Header.Get("HX-Redirect")
				}
				if status != sc.wantStatus {
					t.Fatalf("status = %d, want %d; body:\n%s", r.StatusCode, sc.wantStatus, r.Body)
				}
				if sc.wantLocation != "" && location != sc.wantLocation {
					t.Errorf("Location = %q, want %q", location, sc.wantLocation)
				}
				for _, s := range sc.wantContains {
					if !strings.Contains(r.Body, s) {
						t.Errorf("body lacks %q", s)
					}
				}
				if h := sc.wantHeader; h[0] != "" && !strings.Contains(r.Header.Get(h[0]), h[1]) {
					t.Errorf("%s = %q, want %q", h[0], r.Header.Get(h[0]), h[1])
				}
			})
		}
	}
}

// Form pages answer a fragment to htmx and a full page otherwise, and say
// so in Vary.
func TestFragmentsForHTMX(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for _, path := range []string{"/signup", "/signin"} {
		c := srv.NewClient(t)
		full := c.Get(path)
		frag := c.Get(path, "HX-Request", "true")
		if !strings.Contains(full.Body, "<!DOCTYPE html>") {
			t.Errorf("%s: full page lacks the layout", path)
		}
		if strings.Contains(frag.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(frag.Body), "<form") {
			t.Errorf("%s: htmx answer is not just the form:\n%s", path, frag.Body)
		}
		for _, r := range []*apptest.Response{full, frag} {
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "HX-Request") {
				t.Errorf("%s: Vary = %q, want HX-Request", path, r.Header.Values("Vary"))
			}
		}
	}
}

func TestHealthzFailsWithoutDatabase(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.Store.Close()
	r := srv.NewClient(t).Get("/healthz")
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", r.StatusCode)
	}
}

// HEAD is answered like GET, without a body.
func TestHeadLikeGet(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	for path, want := range map[string]int{"/healthz": 200, "/": 200, "/dashboard": 303, "/nope": 404} {
		r := c.Do(http.MethodHead, path, nil)
		if r.StatusCode != want || r.Body != "" {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and no body", path, r.StatusCode, len(r.Body), want)
		}
	}
}

// A form posted after the session ended sends the visitor to sign in and
// then back to the page the form was on, never to a POST-only URL.
func TestSignedOutPostReturnsToFormPage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	r := c.Post("/account/password", url.Values{"current_password": {"x"}}, "Referer", srv.URL+"/account")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin?next=%2Faccount" {
		t.Fatalf("got %d %q, want 303 /signin?next=%%2Faccount", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.Post("/account/delete", url.Values{}, "Referer", "https://evil.example/elsewhere")
	if r.Header.Get("Location") != "/signin?next=%2Faccount" {
		t.Fatalf("foreign Referer: Location %q", r.Header.Get("Location"))
	}
}
