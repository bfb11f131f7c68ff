package handlers

// Fuzz tests. `go test` runs every seed (the f.Add calls and the files
// under testdata/fuzz); `go test -fuzz=FuzzForms ./handlers` explores.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/db"
	"gatehouse/password"
	"gatehouse/rules"
)

var validUsername = regexp.MustCompile(`^[a-z0-9_-]{3,31}$`)

func FuzzUsernameRules(f *testing.F) {
	for _, s := range []string{"alice", " Alice ", "al", "a-b_c", "ALİCE", "al\x00ice", "\xff\xfe", strings.Repeat("a", 32), "ǅemal", "ａｌｉｃｅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := rules.NormalizeUsername(s)
		if rules.NormalizeUsername(u) != u {
			t.Fatalf("normalising %q is not idempotent: %q", s, u)
		}
		if rules.UsernameError(u) == "" && !validUsername.MatchString(u) {
			t.Fatalf("accepted username %q (from %q) breaks product.md §4", u, s)
		}
		if validUsername.MatchString(u) && rules.UsernameError(u) != "" {
			t.Fatalf("refused valid username %q: %s", u, rules.UsernameError(u))
		}
	})
}

func FuzzEmailRules(f *testing.F) {
	for _, s := range []string{"a@example.com", " A@Example.COM ", "Alice <a@example.com>", "a@", "@b", "a@b@c", "\"a b\"@example.com",
		"a\x00@example.com", "m\xc3@example.com", "a@example.com\n", strings.Repeat("a", 250) + "@b.c", "josé@example.com", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := rules.NormalizeEmail(s)
		if rules.NormalizeEmail(e) != e {
			t.Fatalf("normalising %q is not idempotent: %q", s, e)
		}
		if rules.EmailError(e) != "" {
			return
		}
		switch {
		case len(e) > 254, !utf8.ValidString(e), strings.ContainsAny(e, " \t\r\n\x00<>\uFFFD"):
			t.Fatalf("accepted %q", e)
		case strings.Count(e, "@") < 1 || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@"):
			t.Fatalf("accepted %q without name@domain", e)
		}
		addr, err := mail.ParseAddress(e)
		if err != nil || addr.Name != "" || addr.Address != e {
			t.Fatalf("accepted %q, which is not one plain address", e)
		}
	})
}

func FuzzPasswordRules(f *testing.F) {
	f.Add("correct horse battery", "alice", "alice@example.com")
	f.Add("password", "", "")
	f.Add("alice@example.com", "alice", "ALICE@example.com")
	f.Add("short", "a", "b")
	f.Add("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "a", "b")
	f.Add("eight\x00chars", "a", "b")
	f.Fuzz(func(t *testing.T, pw, user, email string) {
		if rules.PasswordError(pw, user, email) != "" {
			return
		}
		n := utf8.RuneCountInString(pw)
		switch {
		case n < 8 || n > 256:
			t.Fatalf("accepted a password of %d characters", n)
		case !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
			t.Fatalf("accepted %q", pw)
		case strings.EqualFold(pw, user) || email != "" && strings.EqualFold(pw, email):
			t.Fatalf("accepted the username or email as password: %q", pw)
		case password.IsCommon(pw):
			t.Fatalf("accepted a common password: %q", pw)
		}
	})
}

// FuzzSafeNext checks the one property that matters: a next that passes
// never leads a browser to another host, even after browsers drop tabs and
// newlines and read backslashes as slashes.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/dashboard", "/dashboard?x=1#y", "//evil.example", "/\\evil.example", "/\t/evil.example",
		"https://evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/@evil.example", "/..//evil", "\x00", "/\xff", ""} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gatehouse.example/signin")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("safeNext(%q) = %q: must return its input or nothing", next, got)
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		for _, s := range []string{got, browser} {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("safeNext accepted %q, which does not parse: %v", next, err)
			}
			if r := base.ResolveReference(u); r.Host != "gatehouse.example" || r.Scheme != "https" {
				t.Fatalf("safeNext accepted %q, which leads to %s", next, r)
			}
		}
	})
}

// FuzzForms sends anything to the form routes through the whole stack
// (middleware, sessions, Gin, handlers, a real SQLite file): the answer is
// one of the statuses product.md allows, never a 5xx, its body valid UTF-8,
// and nothing is written unless the answer says an account was created.
func FuzzForms(f *testing.F) {
	app, store := fuzzApp(f)
	h := app.Handler()
	paths := []string{"/signup", "/signin", "/signup/validate/username", "/signup/validate/email",
		"/signup/validate/password", "/signup/validate/password_confirm", "/signout", "/signup/validate/x"}
	types := []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "application/json", "", "text/plain; charset=utf-8"}

	f.Add(uint8(0), uint8(0), false, "username=fuzzer&email=fuzzer%40example.com&password=a+long+secret&password_confirm=a+long+secret")
	f.Add(uint8(1), uint8(0), false, "username=fuzzer&password=wrong&next=%2F%2Fevil.example")
	f.Add(uint8(1), uint8(0), true, "username=fuzzer&password=a+long+secret&remember=on&next=%2Fdashboard")
	f.Add(uint8(2), uint8(0), true, "username=a%00b")
	f.Add(uint8(3), uint8(0), true, "email=%ff%fe@x")
	f.Add(uint8(4), uint8(0), true, "password=password&username=password")
	f.Add(uint8(5), uint8(0), true, "password=a&password_confirm=b")
	f.Add(uint8(6), uint8(0), false, "")
	f.Add(uint8(7), uint8(0), false, "x=1")
	f.Add(uint8(0), uint8(1), false, "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nx\r\n--b--\r\n")
	f.Add(uint8(1), uint8(2), false, `{"username":"fuzzer"}`)
	f.Add(uint8(1), uint8(3), false, "username=fuzzer&password=x")
	f.Add(uint8(0), uint8(0), false, "username=a&username=b")
	f.Add(uint8(1), uint8(0), false, "username=%zz")
	f.Add(uint8(1), uint8(4), true, "username=x;password=y")

	allowed := map[int]bool{200: true, 303: true, 400: true, 401: true, 404: true, 413: true, 415: true, 422: true, 429: true}
	f.Fuzz(func(t *testing.T, path, ctype uint8, htmx bool, body string) {
		p := paths[int(path)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, p, strings.NewReader(body))
		if ct := types[int(ctype)%len(types)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		before, err := store.CountUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("POST %s %q: status %d; body:\n%.1000s", p, body, rec.Code, rec.Body.String())
		}
		if !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s %q: body is not valid UTF-8", p, body)
		}
		after, err := store.CountUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		created := p == "/signup" && (rec.Code == 303 || rec.Header().Get("HX-Redirect") == "/dashboard")
		if after != before && !(created && after == before+1) {
			t.Fatalf("POST %s %q: answered %d but users went from %d to %d", p, body, rec.Code, before, after)
		}
	})
}

// fuzzApp is the real stack on a fresh SQLite file with cheap argon2id.
// (internal/apptest imports this package, so it cannot be used here.)
func fuzzApp(tb testing.TB) (*App, *db.Store) {
	store, err := db.Open(context.Background(), filepath.Join(tb.TempDir(), "auth.db"), db.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	cheap := password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	app, err := New(Config{
		SessionLifetime: time.Hour,
		SessionIdle:     time.Hour,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, store, store.SessionStore(), password.NewHasher(cheap, 2))
	if err != nil {
		tb.Fatal(err)
	}
	return app, store
}
