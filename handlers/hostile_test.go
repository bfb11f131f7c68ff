package handlers_test

// Hostile input: whatever a script sends, the answer is a clear 4xx (or
// the normal answer), never a 500, and nothing is half-written.

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/apptest"
)

// rawPost sends body as is with the given Content-Type ("" for none).
func rawPost(t *testing.T, c *apptest.Client, path, contentType, body string, headers ...string) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &apptest.Response{Response: resp, Body: string(b)}
}

const formType = "application/x-www-form-urlencoded"

// goodSignup is a valid sign-up body with one field replaced.
func goodSignup(field, value string) string {
	f := url.Values{"username": {"mallory"}, "email": {"mallory@example.com"},
		"password": {"a long enough secret"}, "password_confirm": {"a long enough secret"}}
	f.Set(field, value)
	return f.Encode()
}

func multipartBody(fields map[string]string) (string, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	w.Close()
	return buf.String(), w.FormDataContentType()
}

func TestHostileInput(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("victim", "victim@example.com", "victim's long password")
	mp, mpType := multipartBody(map[string]string{"username": "x"})

	cases := []struct {
		name        string
		path        string
		contentType string
		body        string
		want        int
		wantText    string
	}{
		// NUL bytes.
		{"NUL in username", "/signup", formType, goodSignup("username", "mal\x00lory"), 422, "Username can only use"},
		{"NUL in email", "/signup", formType, goodSignup("email", "mallory\x00@example.com"), 422, "Enter an email address like"},
		{"NUL in password", "/signup", formType, goodSignup("password", "a long\x00enough secret"), 422, "cannot be used"},
		{"NUL in sign-in login", "/signin", formType, "username=victim%00&password=x", 401, "Incorrect username or password."},
		{"NUL in inline check", "/signup/validate/username", formType, "username=a%00b", 200, "Username can only use"},
		// Invalid UTF-8.
		{"invalid UTF-8 username", "/signup", formType, goodSignup("username", "mal\xfflory"), 422, "Username can only use"},
		{"invalid UTF-8 email", "/signup", formType, goodSignup("email", "m\xc3@example.com"), 422, "Enter an email address like"},
		{"invalid UTF-8 password", "/signup", formType, goodSignup("password", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"), 422, "cannot be used"},
		{"invalid UTF-8 sign-in", "/signin", formType, "username=%ff%fe&password=%ff", 401, "Incorrect username or password."},
		// 1 MB fields.
		{"1 MB username", "/signup", formType, goodSignup("username", strings.Repeat("a", 1<<20)), 413, "Too much data"},
		{"1 MB password", "/signin", formType, "username=victim&password=" + strings.Repeat("a", 1<<20), 413, "Too much data"},
		{"1 MB inline check", "/signup/validate/email", formType, "email=" + strings.Repeat("a", 1<<20), 413, "Too much data"},
		// Long but under the body limit: field rules answer.
		{"60 KB username", "/signup", formType, goodSignup("username", strings.Repeat("a", 60<<10)), 422, "3 to 31 characters"},
		{"60 KB email", "/signup", formType, goodSignup("email", strings.Repeat("a", 60<<10)+"@example.com"), 422, "at most 254"},
		{"60 KB password", "/signup", formType, goodSignup("password", strings.Repeat("a", 60<<10)), 422, "at most 256"},
		{"60 KB sign-in", "/signin", formType, "username=" + strings.Repeat("a", 60<<10) + "&password=x", 401, "Incorrect"},
		// Repeated fields.
		{"username twice", "/signup", formType, goodSignup("username", "mallory") + "&username=other", 400, "could not understand"},
		{"password twice at sign-in", "/signin", formType, "username=victim&password=a&password=b", 400, "could not understand"},
		{"next twice", "/signin", formType, "username=victim&password=a&next=/a&next=//evil.example", 400, "could not understand"},
		{"query repeats the body", "/signin?username=other", formType, "username=victim&password=a", 400, "could not understand"},
		// Missing fields.
		{"empty sign-up", "/signup", formType, "", 422, "Enter a username."},
		{"empty sign-in", "/signin", formType, "", 422, "Enter your username or email address."},
		{"no body, no type", "/signin", "", "", 422, "Enter your username"},
		{"sign-up without confirmation", "/signup", formType, "username=mallory&email=m%40example.com&password=a+long+enough+secret", 422, "Enter your password again."},
		// Wrong content types.
		{"JSON sign-in", "/signin", "application/json", `{"username":"victim","password":"x"}`, 415, "expected a form"},
		{"JSON sign-up", "/signup", "application/json", `{"username":"mallory"}`, 415, "expected a form"},
		{"text/plain", "/signin", "text/plain", "username=victim&password=x", 415, "expected a form"},
		{"XML", "/signup/validate/username", "application/xml", "<username>x</username>", 415, "expected a form"},
		{"garbage type", "/signin", ";;;", "username=victim&password=x", 400, ""},
		{"body without type", "/signin", "", "username=victim&password=x", 415, ""},
		{"multipart form", "/signin", mpType, mp, 422, "Enter your password."},
		{"multipart without boundary", "/signin", "multipart/form-data", "--x\r\n", 400, ""},
		// Malformed encoding.
		{"bad percent escape", "/signin", formType, "username=%zz&password=x", 400, "could not understand"},
		{"semicolon separator", "/signin", formType, "username=victim;password=x", 400, ""},
		{"many fields", "/signup", formType, strings.Repeat("f=&", 1) + manyFields(3000), 422, "Enter a username."},
		// Unknown inline-check field.
		{"unknown field check", "/signup/validate/is_admin", formType, "is_admin=1", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.NewClient(t)
			for _, htmx := range []bool{false, true} {
				var hdr []string
				if htmx {
					hdr = []string{"HX-Request", "true"}
				}
				r := rawPost(t, c, tc.path, tc.contentType, tc.body, hdr...)
				if r.StatusCode != tc.want {
					t.Fatalf("htmx=%v: got %d, want %d; body:\n%.1500s", htmx, r.StatusCode, tc.want, r.Body)
				}
				if tc.wantText != "" && !strings.Contains(r.Body, tc.wantText) {
					t.Errorf("htmx=%v: answer lacks %q:\n%.1500s", htmx, tc.wantText, r.Body)
				}
				if !utf8.ValidString(r.Body) {
					t.Errorf("htmx=%v: answer is not valid UTF-8", htmx)
				}
				if strings.Contains(r.Body, "\x00") {
					t.Errorf("htmx=%v: answer echoes a NUL byte", htmx)
				}
			}
		})
	}
	if n, err := srv.Store.CountUsers(t.Context()); err != nil || n != 1 {
		t.Fatalf("users after hostile input: %d (%v), want 1: something was written", n, err)
	}
	if logs := srv.Logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "panic") {
		t.Fatalf("hostile input logged an error:\n%s", logs)
	}
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("f")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=1&")
	}
	return b.String()
}

// Absurd next values never lead off the site.
func TestAbsurdNextValues(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("olga", "olga@example.com", "olga's long password")
	for _, next := range []string{
		"//evil.example", "///evil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
		"/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example", "/%0a", " /dashboard",
		"data:text/html,hi", "evil.example", "", "/" + strings.Repeat("a", 5000), "/\x00", "/\xff",
		"/@evil.example", "/..//evil.example", "\u2215\u2215evil.example", "/%2F%2Fevil.example",
	} {
		c := srv.NewClient(t)
		r := c.Post("/signin", url.Values{"username": {"olga"}, "password": {"olga's long password"}, "next": {next}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("next %q: got %d, want 303", next, r.StatusCode)
		}
		loc := r.Header.Get("Location")
		u, err := url.Parse(loc)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\n\x00") {
			t.Errorf("next %q: Location %q leaves the site", next, loc)
		}
		// The sign-in page carries next only when it is safe.
		page := c.Get("/signin?next=" + url.QueryEscape(next))
		if page.StatusCode != http.StatusSeeOther && page.StatusCode != http.StatusOK {
			t.Errorf("GET /signin?next=%q: %d", next, page.StatusCode)
		}
	}
	// A local next with a query survives.
	c := srv.NewClient(t)
	r := c.Post("/signin", url.Values{"username": {"olga"}, "password": {"olga's long password"}, "next": {"/dashboard?tab=1"}})
	if loc := r.Header.Get("Location"); loc != "/dashboard?tab=1" {
		t.Errorf("safe next: Location %q", loc)
	}
}

// Garbage cookies are a signed-out visitor, not an error.
func TestHostileCookies(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for _, v := range []string{"x", strings.Repeat("A", 4000), "%00%ff", "../../etc/passwd", "' OR 1=1 --"} {
		c := srv.NewClient(t)
		c.SetCookie("session", v)
		if r := c.Get("/dashboard"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("cookie %.20q: dashboard %d, want 303 to sign in", v, r.StatusCode)
		}
		if r := c.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("cookie %.20q: api %d, want 401", v, r.StatusCode)
		}
	}
}
