package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// §3: every error is reported in the same answer: a sign-up with a taken
// username and a too-common password shows both (a user never fixes one
// field only to be told about the next); the same for a taken email with a
// mismatched confirmation. Plain and htmx.
func TestSignupReportsEveryError(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", secPW)
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"taken username and common password",
			url.Values{"username": {"Alice"}, "email": {"new@example.com"}, "password": {"password123"}, "password_confirm": {"password123"}},
			[]string{"That username is taken. Try another.", "That password is one of the most common ones. Choose another."}},
		{"taken email and mismatched confirmation",
			url.Values{"username": {"bob"}, "email": {"ALICE@example.com"}, "password": {secPW}, "password_confirm": {"something else"}},
			[]string{"An account already uses that email address. Sign in instead?", "Passwords do not match."}},
		{"taken username and bad email",
			url.Values{"username": {"alice"}, "email": {"not-an-address"}, "password": {secPW}, "password_confirm": {secPW}},
			[]string{"That username is taken. Try another.", "Enter an email address like name@example.com."}},
	} {
		for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
			r := srv.NewClient(t).Post("/signup", tc.form, hx...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%s (htmx %v): %d, want 422", tc.name, hx != nil, r.StatusCode)
			}
			for _, w := range tc.want {
				// Each message next to its field and in the summary.
				if n := strings.Count(r.Body, w); n < 2 {
					t.Errorf("%s (htmx %v): %q appears %d times, want next to the field and in the summary", tc.name, hx != nil, w, n)
				}
			}
		}
	}
}

// §4: an internationalised domain is stored in its ASCII (punycode) form,
// so one mailbox cannot hold two accounts, and signing in by the address
// works whichever form is typed.
func TestIDNEmailIsOneAccount(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("idn", "idn@exämple.com", secPW)
	r := srv.NewClient(t).Post("/signup", url.Values{"username": {"idn2"}, "email": {"idn@xn--exmple-cua.com"}, "password": {secPW}, "password_confirm": {secPW}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "An account already uses that email address.") {
		t.Fatalf("second account for the same mailbox: %d", r.StatusCode)
	}
	srv.NewClient(t).Signin("idn@xn--exmple-cua.com", secPW)
	srv.NewClient(t).Signin("IDN@EXÄMPLE.com", secPW)
}

// §4: the password may not be the email address, also when the address has
// an internationalised domain: the password is compared with the address as
// typed (domain in Unicode, any case), not only with the punycode form it is
// stored in. The inline check and the sign-up agree.
func TestSpec4PasswordNotTheIDNEmail(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	const same = "Password must not be your username or email address."
	for i, pw := range []string{"idn@exämple.com", "IDN@EXÄMPLE.COM", "idn@xn--exmple-cua.com"} {
		form := url.Values{"username": {fmt.Sprintf("idn%d", i)}, "email": {"idn@exämple.com"}, "password": {pw}, "password_confirm": {pw}}
		r := srv.NewClient(t).Post("/signup", form)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, same) {
			t.Errorf("sign-up with the address %q as password: %d, want 422 with %q", pw, r.StatusCode, same)
		}
		r = srv.NewClient(t).Post("/signup/validate/password", form, "HX-Request", "true")
		if !strings.Contains(r.Body, same) {
			t.Errorf("inline check of the address %q as password: %q", pw, r.Body)
		}
	}
	// A password that only contains the address is fine.
	srv.NewClient(t).Signup("idn", "idn@exämple.com", "idn@exämple.com and more")
}
