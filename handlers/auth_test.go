package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/password"
)

func signupForm(username, email, pw, confirm string) url.Values {
	return url.Values{"username": {username}, "email": {email}, "password": {pw}, "password_confirm": {confirm}}
}

// Every validation rule of product.md §4 with its message, as a plain
// submit (422, the whole page) and through htmx (422, the form fragment).
func TestSignupValidation(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("taken", "taken@example.com", "correct horse battery")
	const good = "correct horse battery"
	cases := []struct {
		name, username, email, pw, confirm string
		field, message                     string
	}{
		{"username missing", "", "a@example.com", good, good, "username", "Enter a username."},
		{"username short", "ab", "a@example.com", good, good, "username", "Username must be 3 to 31 characters long."},
		{"username long", strings.Repeat("a", 32), "a@example.com", good, good, "username", "Username must be 3 to 31 characters long."},
		{"username chars", "al ice", "a@example.com", good, good, "username", "Username can only use letters a–z, digits 0–9, _ and -."},
		{"username unicode", "alicé", "a@example.com", good, good, "username", "Username can only use letters a–z, digits 0–9, _ and -."},
		{"username taken", "Taken", "new@example.com", good, good, "username", "That username is taken."},
		{"email missing", "newuser", "", good, good, "email", "Enter your email address."},
		{"email malformed", "newuser", "not-an-email", good, good, "email", "Enter an email address like name@example.com."},
		{"email display name", "newuser", "Alice <a@example.com>", good, good, "email", "Enter an email address like name@example.com."},
		{"email two addresses", "newuser", "a@example.com,b@example.com", good, good, "email", "Enter an email address like name@example.com."},
		{"email too long", "newuser", strings.Repeat("a", 250) + "@example.com", good, good, "email", "Email address must be at most 254 characters."},
		{"email taken other case", "newuser", "TAKEN@Example.com", good, good, "email", "An account already uses that email address."},
		{"password missing", "newuser", "n@example.com", "", "", "password", "Enter a password."},
		{"password short", "newuser", "n@example.com", "short7!", "short7!", "password", "Password must be at least 8 characters."},
		{"password long", "newuser", "n@example.com", strings.Repeat("x", 257), strings.Repeat("x", 257), "password", "Password must be at most 256 characters."},
		{"password is username", "newuser12", "n@example.com", "newuser12", "newuser12", "password", "Password must not be your username or email address."},
		{"password is email", "newuser", "n12345@example.com", "N12345@example.com", "N12345@example.com", "password", "Password must not be your username or email address."},
		{"password common", "newuser", "n@example.com", "password1", "password1", "password", "That password is one of the most common ones."},
		{"password common any case", "newuser", "n@example.com", "PassWord1", "PassWord1", "password", "That password is one of the most common ones."},
		{"confirm missing", "newuser", "n@example.com", good, "", "password_confirm", "Enter your password again."},
		{"confirm mismatch", "newuser", "n@example.com", good, good + "!", "password_confirm", "Passwords do not match."},
	}
	for _, tc := range cases {
		for _, htmx := range []bool{false, true} {
			name := tc.name
			var headers []string
			if htmx {
				name += " (htmx)"
				headers = []string{"HX-Request", "true"}
			}
			t.Run(name, func(t *testing.T) {
				c := srv.NewClient(t)
				r := c.Post("/signup", signupForm(tc.username, tc.email, tc.pw, tc.confirm), headers...)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("status = %d, want 422", r.StatusCode)
				}
				// The message sits in the field's own error slot.
				slot := `id="` + tc.field + `-error" data-for="` + tc.field + `" aria-live="polite">` + tc.message
				if !strings.Contains(r.Body, slot) {
					t.Errorf("no %q next to %s in:\n%s", tc.message, tc.field, r.Body)
				}
				if !strings.Contains(r.Body, `id="error-summary"`) {
					t.Error("no error summary")
				}
				if !strings.Contains(r.Body, `id="`+tc.field+`" name="`+tc.field+`"`) {
					t.Errorf("field %s missing", tc.field)
				}
				if htmx == strings.Contains(r.Body, "<!DOCTYPE html>") {
					t.Errorf("htmx=%v but full page=%v", htmx, !htmx)
				}
				if tc.pw != "" && tc.pw != tc.username && strings.Contains(r.Body, `value="`+tc.pw+`"`) {
					t.Error("the password was echoed back")
				}
				if c.Cookie("session") != "" {
					t.Error("an invalid sign-up got a session")
				}
			})
		}
	}
	if n, _ := srv.Store.CountUsers(t.Context()); n != 1 {
		t.Fatalf("users = %d after invalid sign-ups, want 1", n)
	}
}

// Values are normalised: username trimmed and lowercased, email trimmed and
// stored lowercased, and the form keeps what the user typed.
func TestSignupNormalises(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	r := c.Post("/signup", signupForm("  Alice_01 ", " Alice@Example.COM ", "correct horse battery", "correct horse battery"))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("status %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	u, err := srv.Store.UserByUsername(t.Context(), "alice_01")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" {
		t.Errorf("email stored as %q", u.Email)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=") {
		t.Errorf("hash %q is not an argon2id PHC string", u.PasswordHash)
	}
	// Values are kept after an error, except passwords.
	r = srv.NewClient(t).Post("/signup", signupForm("bob", "Bob@Example.com", "secret-pass-1", "different"))
	if !strings.Contains(r.Body, `value="bob"`) || !strings.Contains(r.Body, `value="bob@example.com"`) {
		t.Errorf("values not kept:\n%s", r.Body)
	}
}

func TestSignupDuplicateRace(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := srv.NewClient(t).Post("/signup", signupForm("same", "same@example.com", "correct horse battery", "correct horse battery"))
			statuses <- r.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case 303:
			created++
		case 422:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d sign-ups of the same name succeeded, want 1", created)
	}
}

// 200 concurrent sign-ups through the real HTTP stack: zero errors.
func TestConcurrentSignups(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := "user" + strconv.Itoa(i)
			r := srv.NewClient(t).Post("/signup", signupForm(name, name+"@example.com", "correct horse battery", "correct horse battery"))
			if r.StatusCode != http.StatusSeeOther {
				errs <- name + ": " + r.Status
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got, _ := srv.Store.CountUsers(t.Context()); got != n {
		t.Fatalf("accounts = %d, want %d", got, n)
	}
}

func TestSigninByUsernameOrEmail(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	for _, login := range []string{"alice", "ALICE", " Alice ", "alice@example.com", "Alice@EXAMPLE.com"} {
		c := srv.NewClient(t)
		r := c.Signin(login, "correct horse battery")
		if r.Header.Get("Location") != "/dashboard" {
			t.Errorf("%q: Location %q", login, r.Header.Get("Location"))
		}
		if !strings.Contains(c.Get("/dashboard").Body, "Hello, alice!") {
			t.Errorf("%q: not signed in", login)
		}
	}
}

// Wrong password and unknown user get the same 401 and the same message.
func TestSigninWrongCredentials(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	var bodies []string
	for _, login := range []string{"alice", "nobody", "nobody@example.com"} {
		for _, htmx := range []bool{false, true} {
			var headers []string
			if htmx {
				headers = []string{"HX-Request", "true"}
			}
			c := srv.NewClient(t)
			r := c.Post("/signin", url.Values{"username": {login}, "password": {"wrong password here"}}, headers...)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: status %d, want 401", login, r.StatusCode)
			}
			if !strings.Contains(r.Body, "Incorrect username or password.") {
				t.Errorf("%s: message missing", login)
			}
			if strings.Contains(r.Body, "wrong password here") {
				t.Errorf("%s: password echoed", login)
			}
			if c.Cookie("session") != "" {
				t.Errorf("%s: failed sign-in set a session", login)
			}
			if !htmx {
				bodies = append(bodies, strings.ReplaceAll(r.Body, login, "LOGIN"))
			}
		}
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Error("the page for a wrong password differs from the page for an unknown user")
	}
}

func TestSigninMissingFields(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	r := srv.NewClient(t).Post("/signin", url.Values{"username": {""}, "password": {""}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.StatusCode)
	}
	for _, msg := range []string{"Enter your username or email address.", "Enter your password."} {
		if !strings.Contains(r.Body, msg) {
			t.Errorf("missing %q", msg)
		}
	}
}

// next is honoured only for a local path.
func TestSigninNext(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	cases := map[string]string{
		"/dashboard":                    "/dashboard",
		"/api/me":                       "/api/me",
		"/dashboard?tab=1":              "/dashboard?tab=1",
		"":                              "/dashboard",
		"//evil.example":                "/dashboard",
		"https://evil.example/":         "/dashboard",
		"http:/evil.example":            "/dashboard",
		"/\\evil.example":               "/dashboard",
		"\\\\evil.example":              "/dashboard",
		"/\t/evil.example":              "/dashboard",
		"javascript:alert(1)":           "/dashboard",
		"dashboard":                     "/dashboard",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example",
		"/" + strings.Repeat("a", 3000): "/dashboard",
	}
	for next, want := range cases {
		c := srv.NewClient(t)
		r := c.Post("/signin", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "next": {next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("next=%q: %d %q, want 303 %q", next, r.StatusCode, r.Header.Get("Location"), want)
		}
		h := srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "next": {next}}, "HX-Request", "true")
		if h.StatusCode != http.StatusOK || h.Header.Get("HX-Redirect") != want {
			t.Errorf("htmx next=%q: %d HX-Redirect %q, want %q", next, h.StatusCode, h.Header.Get("HX-Redirect"), want)
		}
	}
	// The whole round trip: sent to sign in from a page, back to it after.
	c := srv.NewClient(t)
	r := c.Get("/api/me")
	if r.StatusCode != 401 {
		t.Fatalf("api: %d", r.StatusCode)
	}
	r = c.Get("/dashboard")
	loc := r.Header.Get("Location")
	u, _ := url.Parse(loc)
	page := c.Get(loc)
	if !strings.Contains(page.Body, `name="next" value="/dashboard"`) {
		t.Fatalf("sign-in page from %s lacks next", loc)
	}
	r = c.Post("/signin", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "next": {u.Query().Get("next")}})
	if r.Header.Get("Location") != "/dashboard" {
		t.Errorf("after sign-in: %q", r.Header.Get("Location"))
	}
}

func TestSignupThenSignoutThenSignin(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	if r := c.Get("/dashboard"); r.StatusCode != 200 || !strings.Contains(r.Body, "Hello, alice!") {
		t.Fatalf("dashboard after sign-up: %d", r.StatusCode)
	}
	r := c.Post("/signout", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Fatalf("signout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := c.Get("/signin")
	if !strings.Contains(page.Body, "You have signed out.") {
		t.Error("no sign-out notice")
	}
	if strings.Contains(c.Get("/signin").Body, "You have signed out.") {
		t.Error("the notice showed twice")
	}
	if r := c.Get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("dashboard after sign-out: %d", r.StatusCode)
	}
	c.Signin("alice@example.com", "correct horse battery")
	if r := c.Get("/dashboard"); r.StatusCode != 200 {
		t.Fatalf("dashboard after sign-in: %d", r.StatusCode)
	}
}

// An old argon2id hash is upgraded to the current parameters at sign-in.
func TestSigninUpgradesOldHash(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	old := apptest.Cheap
	old.Memory = 32
	oldHasher := password.NewHasher(old, 1)
	hash, err := oldHasher.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store.CreateUser(t.Context(), "old", "old@example.com", hash, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	srv.NewClient(t).Signin("old", "correct horse battery")
	u, _ := srv.Store.UserByUsername(t.Context(), "old")
	if u.PasswordHash == hash || !strings.Contains(u.PasswordHash, "$m=64,t=1,p=1$") {
		t.Fatalf("hash not upgraded: %s", u.PasswordHash)
	}
	srv.NewClient(t).Signin("old", "correct horse battery")
}
