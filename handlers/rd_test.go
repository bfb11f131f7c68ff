package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// product.md §11: rd is honoured after sign-in when it is an http(s) URL
// on the base URL's host or the cookie domain; hostile values fall back
// to next or /dashboard.
func TestSpec11SigninRd(t *testing.T) {
	_, client := faServer(t, "")
	client().Signup("alice", "alice@example.com", faPassword)
	cases := []struct {
		rd, next, want string
	}{
		{"https://app.gatehouse.test/wiki?p=1", "", "https://app.gatehouse.test/wiki?p=1"},
		{"http://app.gatehouse.test:8443/x", "", "http://app.gatehouse.test:8443/x"},
		{"https://gatehouse.test/", "", "https://gatehouse.test/"},
		{"https://a.b.gatehouse.test/", "", "https://a.b.gatehouse.test/"},
		{"http://auth.gatehouse.test/account", "", "http://auth.gatehouse.test/account"},
		{"HTTPS://APP.GATEHOUSE.TEST/", "", "https://APP.GATEHOUSE.TEST/"},
		{"https://app.gatehouse.test/x", "/account", "https://app.gatehouse.test/x"}, // rd wins over next
		// Hostile or foreign values.
		{"https://evil.example/", "/account", "/account"},
		{"https://evil.example/", "", "/dashboard"},
		{"https://gatehouse.test.evil.example/", "", "/dashboard"},
		{"https://evilgatehouse.test/", "", "/dashboard"},
		{"//app.gatehouse.test/", "", "/dashboard"},
		{"/dashboard", "", "/dashboard"},
		{"javascript:alert(1)//app.gatehouse.test", "", "/dashboard"},
		{"data:text/html,hi", "", "/dashboard"},
		{"ftp://app.gatehouse.test/", "", "/dashboard"},
		{"https://app.gatehouse.test@evil.example/", "", "/dashboard"},
		{"https://evil.example\\@app.gatehouse.test/", "", "/dashboard"},
		{"https://evil.example\\.app.gatehouse.test/", "", "/dashboard"},
		{"https://evil.example%2f@app.gatehouse.test/", "", "/dashboard"},
		{"https://evil.example#@app.gatehouse.test/", "", "/dashboard"},
		{"https://evil.example?@app.gatehouse.test/", "", "/dashboard"},
		{"https://app.gatehouse.test\t.evil.example/", "", "/dashboard"},
		{"https://app.gatehouse.test\n/", "", "/dashboard"},
		{" https://app.gatehouse.test/", "", "/dashboard"},
		{"https:app.gatehouse.test", "", "/dashboard"},
		{"https:///app.gatehouse.test", "", "/dashboard"},
		{"https://app.gatehouse.test:/", "", "/dashboard"},
		{"https://[::1]/", "", "/dashboard"},
		{"https://127.0.0.1/", "", "/dashboard"},
		{"https://app.gatehouse.test\xff/", "", "/dashboard"},
		{"https://xn--gatehouse-.test/", "", "/dashboard"},
		{"https://" + strings.Repeat("a.", 3000) + "gatehouse.test/", "", "/dashboard"},
	}
	for _, c := range cases {
		cl := client()
		r := cl.Post("/signin", url.Values{"username": {"alice"}, "password": {faPassword}, "rd": {c.rd}, "next": {c.next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != c.want {
			t.Errorf("POST /signin rd=%q next=%q: got %d %q, want 303 %q", c.rd, c.next, r.StatusCode, r.Header.Get("Location"), c.want)
		}
		// Signed in, GET /signin?rd= goes straight there under the same rule.
		r = cl.Get("/signin?rd=" + url.QueryEscape(c.rd))
		want := c.want
		if c.next != "" && want == c.next {
			want = "/dashboard"
		}
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("signed-in GET /signin?rd=%q: got %d %q, want 303 %q", c.rd, r.StatusCode, r.Header.Get("Location"), want)
		}
	}
}

// Signed out, the form keeps a good rd in a hidden field and drops a bad
// one; a failed sign-in keeps it too; htmx gets HX-Redirect to it.
func TestSpec11SigninFormKeepsRd(t *testing.T) {
	_, client := faServer(t, "")
	client().Signup("alice", "alice@example.com", faPassword)
	c := client()
	good := "https://app.gatehouse.test/page?a=1&b=2"
	r := c.Get("/signin?rd=" + url.QueryEscape(good))
	if r.StatusCode != 200 || !strings.Contains(r.Body, `<input type="hidden" name="rd" value="https://app.gatehouse.test/page?a=1&amp;b=2">`) {
		t.Fatalf("form lacks rd: %d\n%s", r.StatusCode, r.Body)
	}
	if r := c.Get("/signin?rd=" + url.QueryEscape("https://evil.example/")); strings.Contains(r.Body, `name="rd"`) {
		t.Fatal("a foreign rd is kept in the form")
	}
	r = c.Post("/signin", url.Values{"username": {"alice"}, "password": {"wrong password"}, "rd": {good}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Body, `name="rd" value="https://app.gatehouse.test/page?a=1&amp;b=2"`) {
		t.Fatalf("failed sign-in lost rd: %d", r.StatusCode)
	}
	r = c.Post("/signin", url.Values{"username": {"alice"}, "password": {faPassword}, "rd": {good}}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Header.Get("HX-Redirect") != good {
		t.Fatalf("htmx sign-in: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
}

// product.md §11: with -cookie-domain the session cookie carries Domain,
// so an app on a name under it gets the same session.
func TestSpec11CookieDomain(t *testing.T) {
	_, client := faServer(t, "")
	c := client()
	r := c.Post("/signup", url.Values{"username": {"alice"}, "email": {"alice@example.com"}, "password": {faPassword}, "password_confirm": {faPassword}})
	var cookie string
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "session=") {
			cookie = v
		}
	}
	if !strings.Contains(cookie, "; Domain=gatehouse.test") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("session cookie %q", cookie)
	}
	// Sign-out replaces it under the same Domain (a new visitor session
	// carries the notice), or the browser would keep the old one.
	r = c.Post("/signout", nil)
	replaced := false
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "session=") && v != cookie && strings.Contains(v, "; Domain=gatehouse.test") {
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("sign-out did not replace the domain cookie: %q", r.Header.Values("Set-Cookie"))
	}
}
