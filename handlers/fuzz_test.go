package handlers

// Fuzz tests. `go test` runs every seed (the f.Add calls and the files
// under testdata/fuzz); `go test -fuzz=FuzzSafeNext ./handlers` explores;
// FuzzForms, which drives the whole stack, is in fuzz_forms_test.go.

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

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
