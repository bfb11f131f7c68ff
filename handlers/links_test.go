package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/mail"
	"gatehouse/mail/mailtest"
)

// Tests of product.md §7's mail links: verification, password reset and
// email change, with mail going through a real SMTP conversation with
// mailtest's server on loopback.

const (
	linkPW     = "correct horse battery"
	linkNewPW  = "a brand new passphrase"
	forgotText = "If an account exists for that address, we have sent a link."
	mailWait   = 10 * time.Second
)

// linkServer starts Gatehouse sending mail to a fresh mailtest server,
// believing X-Forwarded-For from the trusted proxies given.
func linkServer(t *testing.T, trustedProxies ...string) (*apptest.Server, *mailtest.Server) {
	t.Helper()
	m := mailtest.Start(t)
	srv := apptest.Start(t, apptest.Options{TrustedProxies: trustedProxies, Configure: func(cfg *handlers.Config) {
		s, err := mail.New(mail.Config{URL: m.URL(), From: "gatehouse@example.com"}, cfg.Logger)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mail = s
	}})
	return srv, m
}

var (
	textLinkRE = regexp.MustCompile(`https?://\S+?/(?:verify|reset|forgot)(?:\?token=[A-Za-z0-9_-]+)?`)
	htmlLinkRE = regexp.MustCompile(`href="([^"]+)"`)
)

// mailLink finds the one mail to `to` whose subject is subject among
// msgs, checks both parts carry the same link under the base URL, and
// returns the link's path and query.
func mailLink(t *testing.T, srv *apptest.Server, msgs []mailtest.Received, to, subject string) string {
	t.Helper()
	var found []mailtest.Received
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == to && m.Subject == subject {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d mails to %s with subject %q, want 1; all: %+v", len(found), to, subject, msgs)
	}
	m := found[len(found)-1]
	if m.Err != nil || m.Text == "" || m.HTML == "" {
		t.Fatalf("mail to %s: parse error %v, text %d bytes, html %d bytes", to, m.Err, len(m.Text), len(m.HTML))
	}
	link := textLinkRE.FindString(m.Text)
	if !strings.HasPrefix(link, srv.URL+"/") {
		t.Fatalf("text part link %q does not start with the base URL %s:\n%s", link, srv.URL, m.Text)
	}
	inHTML := false
	for _, h := range htmlLinkRE.FindAllStringSubmatch(m.HTML, -1) {
		inHTML = inHTML || strings.ReplaceAll(h[1], "&amp;", "&") == link
	}
	if !inHTML {
		t.Fatalf("HTML part lacks the link %s:\n%s", link, m.HTML)
	}
	return strings.TrimPrefix(link, srv.URL)
}

func tokenOf(link string) string {
	u, _ := url.Parse(link)
	return u.Query().Get("token")
}

func expect(t *testing.T, r *apptest.Response, status int, location string, subs ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.Body)
	}
	if got := r.Header.Get("Location"); location != "" && got != location {
		t.Fatalf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL.Path, got, location)
	}
	for _, s := range subs {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("%s %s: body lacks %q:\n%s", r.Request.Method, r.Request.URL.Path, s, r.Body)
		}
	}
}

// Sign-up mails a verification link; the dashboard shows a banner until
// the link is opened; the link works once, and only its hash is stored.
func TestVerificationMail(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "Alice@Example.com", linkPW)
	msgs := m.WaitFor(t, 1, mailWait)
	if msgs[0].From != "gatehouse@example.com" {
		t.Errorf("envelope sender %q", msgs[0].From)
	}
	link := mailLink(t, srv, msgs, "alice@example.com", "Confirm your email address")
	if !strings.HasPrefix(link, "/verify?token=") || len(tokenOf(link)) != 43 {
		t.Fatalf("verification link %q", link)
	}

	expect(t, c.Get("/dashboard"), 200, "", `id="verify-banner"`, `action="/verify/resend"`)

	// Only the SHA-256 of the token is in the database: no column of any
	// row holds the token itself.
	d := srv.RawDB(t)
	token := tokenOf(link)
	var n int
	err := d.QueryRow(`SELECT count(*) FROM link_tokens WHERE instr(token_hash || kind || coalesce(new_email, ''), ?) > 0`, token).Scan(&n)
	if err != nil || n != 0 {
		t.Fatalf("rows holding the plain token: %d, %v", n, err)
	}
	if err := d.QueryRow(`SELECT count(*) FROM link_tokens WHERE token_hash = ?`, db.HashToken(token)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows holding the hash: %d, %v", n, err)
	}

	// A tampered link is refused and changes nothing.
	tampered := token[:42] + map[bool]string{true: "A", false: "B"}[token[42] != 'A']
	r := c.Get("/verify?token=" + tampered)
	expect(t, r, http.StatusBadRequest, "", "This link is not valid", `action="/verify/resend"`)
	expect(t, c.Get("/verify?token=short"), http.StatusBadRequest, "", "This link is not valid")
	expect(t, c.Get("/verify"), http.StatusBadRequest, "", "This link is not valid")

	// Opened in another browser, signed out: verified all the same, and
	// the notice waits on the sign-in page the dashboard sends it to.
	other := srv.NewClient(t)
	r = other.Get(link)
	expect(t, r, http.StatusSeeOther, "/dashboard")
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /verify Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	expect(t, other.Get("/dashboard"), http.StatusSeeOther, "/signin?next=%2Fdashboard")
	expect(t, other.Get("/signin?next=%2Fdashboard"), 200, "", "Your email address is verified.")

	r = c.Get("/dashboard")
	expect(t, r, 200, "")
	if strings.Contains(r.Body, "verify-banner") {
		t.Error("banner still shown after verification")
	}
	// Used once: the second click is told so (410), signed in or out.
	expect(t, c.Get(link), http.StatusGone, "", "This link was already used")
	expect(t, other.Get(link), http.StatusGone, "", "This link was already used", "/signin")

	// SMTP is configured: no token ever reaches the log.
	if strings.Contains(srv.Logs.String(), token) {
		t.Error("the token appears in the log")
	}
}

// Signed in, a verified link once opened also works from the same browser
// with the notice on the dashboard itself.
func TestVerifySignedInShowsNotice(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	link := mailLink(t, srv, m.WaitFor(t, 1, mailWait), "alice@example.com", "Confirm your email address")
	expect(t, c.Get(link), http.StatusSeeOther, "/dashboard")
	expect(t, c.Get("/dashboard"), 200, "", "Your email address is verified.")
	u, err := srv.Store.UserByUsername(t.Context(), "alice")
	if err != nil || !u.EmailVerified() {
		t.Fatalf("user after the link: %+v %v", u, err)
	}
}

// An expired verification link is refused with 410 and an offer of a new
// one; a reset token does not verify.
func TestVerifyLinkExpired(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	link := mailLink(t, srv, m.WaitFor(t, 1, mailWait), "alice@example.com", "Confirm your email address")
	if _, err := apptest.OpenRawWritable(t, srv.DBPath).Exec(`UPDATE link_tokens SET expires_at = ? WHERE token_hash = ?`,
		time.Now().Add(-time.Second).Unix(), db.HashToken(tokenOf(link))); err != nil {
		t.Fatal(err)
	}
	expect(t, c.Get(link), http.StatusGone, "", "This link has expired", "24 hours", `action="/verify/resend"`)
	expect(t, srv.NewClient(t).Get(link), http.StatusGone, "", "This link has expired", "Sign in to get a new link")
	if u, _ := srv.Store.UserByUsername(t.Context(), "alice"); u.EmailVerified() {
		t.Fatal("an expired link verified the address")
	}

	// A reset link is not a verification link.
	expect(t, srv.NewClient(t).Post("/forgot", url.Values{"email": {"alice@example.com"}}), 200, "", forgotText)
	reset := mailLink(t, srv, m.WaitFor(t, 2, mailWait), "alice@example.com", "Reset your password")
	expect(t, c.Get("/verify?token="+tokenOf(reset)), http.StatusBadRequest, "", "This link is not valid")
}

// Resending is for signed-in, unverified accounts, at most once a minute:
// a second resend gets 429 with Retry-After and says when.
func TestVerifyResend(t *testing.T) {
	srv, m := linkServer(t)
	// Signed out: to sign-in, then back to the dashboard (GET here is 405).
	anon := srv.NewClient(t)
	expect(t, anon.Post("/verify/resend", url.Values{}), http.StatusSeeOther, "/signin?next=%2Fdashboard")

	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	m.WaitFor(t, 1, mailWait)
	expect(t, c.Post("/verify/resend", url.Values{}), http.StatusSeeOther, "/dashboard")
	expect(t, c.Get("/dashboard"), 200, "", "We sent a new link to alice@example.com.")
	msgs := m.WaitFor(t, 2, mailWait)
	if msgs[1].Subject != "Confirm your email address" || msgs[1].To[0] != "alice@example.com" {
		t.Fatalf("second mail: %q to %v", msgs[1].Subject, msgs[1].To)
	}
	first, second := textLinkRE.FindString(msgs[0].Text), textLinkRE.FindString(msgs[1].Text)
	if first == second {
		t.Fatal("the resent link is the same as the first")
	}

	r := c.Post("/verify/resend", url.Values{})
	expect(t, r, http.StatusTooManyRequests, "", `id="verify-banner"`, "You can ask for another in", "<!DOCTYPE html>")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	// With htmx, only the banner is swapped.
	r = c.Post("/verify/resend", url.Values{}, "HX-Request", "true")
	expect(t, r, http.StatusTooManyRequests, "", `id="verify-banner"`, "You can ask for another in")
	if strings.Contains(r.Body, "<!DOCTYPE") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("htmx 429: want the banner fragment with Retry-After; got %q\n%s", r.Header.Get("Retry-After"), r.Body)
	}
	srv.App.Wait()
	if n := len(m.Messages()); n != 2 {
		t.Fatalf("%d mails after throttled resends, want 2", n)
	}

	// Either link verifies; after that a resend is not needed.
	expect(t, c.Get(strings.TrimPrefix(first, srv.URL)), http.StatusSeeOther, "/dashboard")
	r = c.Post("/verify/resend", url.Values{}, "HX-Request", "true")
	expect(t, r, 200, "")
	if r.Header.Get("HX-Redirect") != "/dashboard" {
		t.Fatalf("resend when verified, htmx: HX-Redirect %q", r.Header.Get("HX-Redirect"))
	}
	expect(t, c.Get("/dashboard"), 200, "", "Your email address is already verified.")
}

// The whole reset: mail, form, new password; every session of the user
// ends, the old password stops working, the link works once.
func TestPasswordReset(t *testing.T) {
	srv, m := linkServer(t)
	alice := srv.NewClient(t)
	alice.Signup("alice", "alice@example.com", linkPW)
	phone := srv.NewClient(t)
	phone.Signin("alice", linkPW)
	m.WaitFor(t, 1, mailWait)

	// The sign-in page links to the form; the form works signed in too.
	expect(t, srv.NewClient(t).Get("/signin"), 200, "", `href="/forgot"`)
	expect(t, alice.Get("/forgot"), 200, "", `name="email"`)

	anon := srv.NewClient(t)
	expect(t, anon.Get("/forgot"), 200, "", `action="/forgot"`, `name="email"`)
	expect(t, anon.Post("/forgot", url.Values{"email": {"  ALICE@example.com "}}), 200, "", forgotText)
	link := mailLink(t, srv, m.WaitFor(t, 2, mailWait), "alice@example.com", "Reset your password")
	if !strings.HasPrefix(link, "/reset?token=") {
		t.Fatalf("reset link %q", link)
	}
	token := tokenOf(link)

	r := anon.Get(link)
	expect(t, r, 200, "", `name="token" value="`+token+`"`, `name="new_password"`, `name="new_password_confirm"`)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /reset Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	// Opening the page does not use the link; bad input keeps the token.
	for _, tc := range []struct{ pw, confirm, msg string }{
		{"", "", "Enter a password."},
		{"short", "short", "at least 8 characters"},
		{"password", "password", "most common"},
		{"alice@example.com", "alice@example.com", "must not be your username or email"},
		{linkNewPW, linkNewPW + "x", "Passwords do not match."},
	} {
		form := url.Values{"token": {token}, "new_password": {tc.pw}, "new_password_confirm": {tc.confirm}}
		r := anon.Post("/reset", form)
		expect(t, r, http.StatusUnprocessableEntity, "", tc.msg, `value="`+token+`"`, "<!DOCTYPE html>")
		if tc.pw != "" && strings.Contains(r.Body, `value="`+tc.pw+`"`) {
			t.Errorf("the password was echoed back")
		}
		r = anon.Post("/reset", form, "HX-Request", "true")
		expect(t, r, http.StatusUnprocessableEntity, "", tc.msg, `id="reset-form"`)
		if strings.Contains(r.Body, "<!DOCTYPE") {
			t.Error("htmx got a full page")
		}
	}

	r = anon.Post("/reset", url.Values{"token": {token}, "new_password": {linkNewPW}, "new_password_confirm": {linkNewPW}})
	expect(t, r, http.StatusSeeOther, "/signin")
	expect(t, anon.Get("/signin"), 200, "", "Your password was reset.")

	// Every session of alice ended; the old password is dead, the new works.
	for _, cl := range []*apptest.Client{alice, phone} {
		expect(t, cl.Get("/dashboard"), http.StatusSeeOther, "/signin?next=%2Fdashboard")
	}
	if r := srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {linkPW}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d", r.StatusCode)
	}
	srv.NewClient(t).Signin("alice", linkNewPW)
	// The link reached the address: it counts as verified.
	if u, _ := srv.Store.UserByUsername(t.Context(), "alice"); !u.EmailVerified() {
		t.Error("address not verified after a reset")
	}

	// Used once, whether shown or submitted again.
	expect(t, anon.Get(link), http.StatusGone, "", "This link was already used", `href="/forgot"`)
	r = anon.Post("/reset", url.Values{"token": {token}, "new_password": {"yet another passphrase"}, "new_password_confirm": {"yet another passphrase"}})
	expect(t, r, http.StatusGone, "", "This link was already used")
	r = anon.Post("/reset", url.Values{"token": {token}, "new_password": {"yet another passphrase"}, "new_password_confirm": {"yet another passphrase"}}, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("HX-Redirect"), "/reset?token=") {
		t.Fatalf("htmx submit of a used link: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	if strings.Contains(srv.Logs.String(), token) {
		t.Error("the reset token appears in the log")
	}
	// product.md §13: both steps are in the security activity.
	if got := eventKinds(t, srv, "alice", "reset_requested", "password_reset"); !slices.Equal(got, []string{"reset_requested", "password_reset"}) {
		t.Errorf("security activity of the reset: %v", got)
	}
}

// A reset submitted from the browser that is signed in as that user signs
// it out too, and the notice still shows; htmx gets HX-Redirect.
func TestPasswordResetSignedInHTMX(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	expect(t, c.Post("/forgot", url.Values{"email": {"alice@example.com"}}, "HX-Request", "true"), 200, "", forgotText, `id="forgot-form"`)
	link := mailLink(t, srv, m.WaitFor(t, 2, mailWait), "alice@example.com", "Reset your password")
	expect(t, c.Get(link), 200, "", `name="new_password"`)
	r := c.Post("/reset", url.Values{"token": {tokenOf(link)}, "new_password": {linkNewPW}, "new_password_confirm": {linkNewPW}}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Header.Get("HX-Redirect") != "/signin" {
		t.Fatalf("htmx reset: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	expect(t, c.Get("/signin"), 200, "", "Your password was reset.")
	expect(t, c.Get("/dashboard"), http.StatusSeeOther, "/signin?next=%2Fdashboard")
}

// A second reset request voids the first link; an expired link is refused.
func TestResetVoidsOlderAndExpires(t *testing.T) {
	srv, m := linkServer(t)
	srv.NewClient(t).Signup("alice", "alice@example.com", linkPW)
	// Mail goes out in the background: the sign-up's first, so that the
	// reset mail is the second to arrive.
	m.WaitFor(t, 1, mailWait)
	anon := srv.NewClient(t)
	anon.Post("/forgot", url.Values{"email": {"alice@example.com"}})
	msgs := m.WaitFor(t, 2, mailWait)
	first := mailLink(t, srv, msgs[1:], "alice@example.com", "Reset your password")
	anon.Post("/forgot", url.Values{"email": {"alice@example.com"}})
	msgs = m.WaitFor(t, 3, mailWait)
	second := mailLink(t, srv, msgs[2:], "alice@example.com", "Reset your password")

	expect(t, anon.Get(first), http.StatusBadRequest, "", "This link is not valid", `href="/forgot"`)
	r := anon.Post("/reset", url.Values{"token": {tokenOf(first)}, "new_password": {linkNewPW}, "new_password_confirm": {linkNewPW}})
	expect(t, r, http.StatusBadRequest, "", "This link is not valid")
	expect(t, anon.Get(second), 200, "", `name="new_password"`)

	if _, err := apptest.OpenRawWritable(t, srv.DBPath).Exec(`UPDATE link_tokens SET expires_at = ? WHERE token_hash = ?`,
		time.Now().Unix(), db.HashToken(tokenOf(second))); err != nil {
		t.Fatal(err)
	}
	expect(t, anon.Get(second), http.StatusGone, "", "This link has expired", "one hour")
	r = anon.Post("/reset", url.Values{"token": {tokenOf(second)}, "new_password": {linkNewPW}, "new_password_confirm": {linkNewPW}})
	expect(t, r, http.StatusGone, "", "This link has expired")
	srv.NewClient(t).Signin("alice", linkPW) // the password did not change
	expect(t, anon.Get("/reset"), http.StatusBadRequest, "", "This link is not valid")
	expect(t, anon.Get("/reset?token="+strings.Repeat("A", 43)), http.StatusBadRequest, "", "This link is not valid")
}

// /forgot answers an unknown address exactly like a known one and sends
// nothing; past three mails an hour for one address, the same page again
// and no mail; a malformed address is a field error.
func TestForgotSameAnswer(t *testing.T) {
	srv, m := linkServer(t)
	srv.NewClient(t).Signup("alice", "alice@example.com", linkPW)
	m.WaitFor(t, 1, mailWait)

	anon := srv.NewClient(t)
	known := anon.Post("/forgot", url.Values{"email": {"alice@example.com"}})
	unknown := anon.Post("/forgot", url.Values{"email": {"nobody@example.com"}})
	expect(t, known, 200, "", forgotText)
	expect(t, unknown, 200, "", forgotText)
	if known.Body != unknown.Body {
		t.Fatal("the page for an unknown address differs from the page for a known one")
	}
	for range 3 {
		r := anon.Post("/forgot", url.Values{"email": {"alice@example.com"}})
		if r.StatusCode != 200 || r.Body != known.Body {
			t.Fatalf("past the limit: %d, want the same 200 page", r.StatusCode)
		}
	}
	srv.App.Wait()
	resets := 0
	for _, msg := range m.Messages() {
		if msg.To[0] == "nobody@example.com" {
			t.Fatal("a mail went to an unknown address")
		}
		if msg.Subject == "Reset your password" {
			resets++
		}
	}
	if resets != 3 {
		t.Fatalf("%d reset mails for 4 requests, want 3 (the hourly limit)", resets)
	}

	r := anon.Post("/forgot", url.Values{"email": {""}})
	expect(t, r, http.StatusUnprocessableEntity, "", "Enter your email address.", "<!DOCTYPE html>")
	r = anon.Post("/forgot", url.Values{"email": {"not-an-address"}}, "HX-Request", "true")
	expect(t, r, http.StatusUnprocessableEntity, "", "Enter an email address like name@example.com.", `id="forgot-form"`, `value="not-an-address"`)
	if strings.Contains(r.Body, "<!DOCTYPE") {
		t.Error("htmx got a full page")
	}
}

// Changing the email: errors on the account page's email form, then a
// link to the new address and a notice to the old; the change happens
// when the link is opened, and old links to the old address stop working.
func TestEmailChange(t *testing.T) {
	srv, m := linkServer(t)
	r := srv.NewClient(t).Post("/account/email", url.Values{"email": {"x@example.com"}, "current_password": {linkPW}})
	expect(t, r, http.StatusSeeOther, "")
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/signin?next=%2Faccount") {
		t.Fatalf("signed-out POST /account/email: Location %q, want sign-in with next", loc)
	}
	srv.NewClient(t).Signup("bob", "bob@example.com", linkPW)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	signupMails := m.WaitFor(t, 2, mailWait)
	verify := mailLink(t, srv, signupMails, "alice@example.com", "Confirm your email address")

	for _, tc := range []struct{ email, pw, msg string }{
		{"", linkPW, "Enter your email address."},
		{"nope", linkPW, "Enter an email address like name@example.com."},
		{"ALICE@example.com", linkPW, "That is already your email address."},
		{"bob@example.com", linkPW, "Another account already uses that email address."},
		{"alice@new.example", "", "Enter your current password."},
		{"alice@new.example", "wrong password", "Your current password is not correct."},
	} {
		form := url.Values{"email": {tc.email}, "current_password": {tc.pw}}
		r := c.Post("/account/email", form)
		expect(t, r, http.StatusUnprocessableEntity, "", tc.msg, `id="email-form"`, "<!DOCTYPE html>")
		r = c.Post("/account/email", form, "HX-Request", "true")
		expect(t, r, http.StatusUnprocessableEntity, "", tc.msg, `id="email-form"`)
		if strings.Contains(r.Body, "<!DOCTYPE") || strings.Contains(r.Body, `id="password-form"`) {
			t.Errorf("%q: htmx should get only the email form", tc.msg)
		}
	}

	r = c.Post("/account/email", url.Values{"email": {" Alice@New.Example "}, "current_password": {linkPW}})
	expect(t, r, http.StatusSeeOther, "/account")
	expect(t, c.Get("/account"), 200, "", "We sent a confirmation link to alice@new.example.")
	msgs := m.WaitFor(t, 4, mailWait)
	link := mailLink(t, srv, msgs, "alice@new.example", "Confirm your new email address")
	notice := mailLink(t, srv, msgs, "alice@example.com", "Your email address is about to change")
	if notice != "/forgot" {
		t.Errorf("notice mail links to %q, want /forgot", notice)
	}
	// Nothing changes until the link is opened.
	if u, _ := srv.Store.UserByUsername(t.Context(), "alice"); u.Email != "alice@example.com" {
		t.Fatalf("email changed before the link was opened: %s", u.Email)
	}
	expect(t, c.Get(link), http.StatusSeeOther, "/dashboard")
	expect(t, c.Get("/dashboard"), 200, "", "Your email address was changed.", "alice@new.example")
	u, _ := srv.Store.UserByUsername(t.Context(), "alice")
	if u.Email != "alice@new.example" || !u.EmailVerified() {
		t.Fatalf("after the link: %s verified=%v", u.Email, u.EmailVerified())
	}
	expect(t, c.Get(link), http.StatusGone, "", "This link was already used")
	// The sign-up link went to the old address: void now.
	expect(t, c.Get(verify), http.StatusBadRequest, "", "This link is not valid")
	srv.NewClient(t).Signin("alice@new.example", linkPW)
	if strings.Contains(srv.Logs.String(), tokenOf(link)) {
		t.Error("the email-change token appears in the log")
	}
	// product.md §13: the request (once, the refused tries not) and the change.
	if got := eventKinds(t, srv, "alice", "email_change_requested", "email_changed"); !slices.Equal(got, []string{"email_change_requested", "email_changed"}) {
		t.Errorf("security activity of the email change: %v", got)
	}
}

// An address taken by another account between the request and the click
// is refused when the link is opened (409), and nothing changes.
func TestEmailChangeTakenMeanwhile(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	m.WaitFor(t, 1, mailWait)
	expect(t, c.Post("/account/email", url.Values{"email": {"shared@example.com"}, "current_password": {linkPW}}), http.StatusSeeOther, "/account")
	link := mailLink(t, srv, m.WaitFor(t, 3, mailWait), "shared@example.com", "Confirm your new email address")
	srv.NewClient(t).Signup("carol", "shared@example.com", linkPW)
	expect(t, c.Get(link), http.StatusConflict, "", "That address is taken")
	if u, _ := srv.Store.UserByUsername(t.Context(), "alice"); u.Email != "alice@example.com" {
		t.Fatalf("email is %s after a refused change", u.Email)
	}
}

// Without SMTP, each mail (to, subject, link) goes to the log instead.
func TestMailToLogWithoutSMTP(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", linkPW)
	srv.App.Wait()
	logs := srv.Logs.String()
	m := regexp.MustCompile(`msg="mail not sent \(no SMTP server configured\)" to=alice@example.com subject="Confirm your email address" link="?([^"\s]+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no mail in the log:\n%s", logs)
	}
	c := srv.NewClient(t)
	c.Signin("alice", linkPW)
	expect(t, c.Get(strings.TrimPrefix(m[1], srv.URL)), http.StatusSeeOther, "/dashboard")
}

// A mail server that cannot be reached fails the mail, not the page: the
// sign-up answers as usual, the failure is logged without the SMTP
// password or the token.
func TestMailFailureKeepsPageWorking(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Configure: func(cfg *handlers.Config) {
		// Port 1 on loopback: nothing listens there, so the dial fails.
		s, err := mail.New(mail.Config{URL: "smtp://gh:s3cret-pass@127.0.0.1:1", From: "gatehouse@example.com"}, cfg.Logger)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mail = s
	}})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	expect(t, c.Post("/forgot", url.Values{"email": {"alice@example.com"}}), 200, "", forgotText)
	srv.App.Wait()
	logs := srv.Logs.String()
	if strings.Count(logs, `msg="mail failed"`) != 2 {
		t.Fatalf("want two logged mail failures:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret-pass") || strings.Contains(logs, "token=") {
		t.Fatalf("the log shows the SMTP password or a token:\n%s", logs)
	}
}

// Every new route, signed out and signed in, answers as product.md says.
func TestLinkRoutes(t *testing.T) {
	srv, _ := linkServer(t)
	anon := srv.NewClient(t)
	in := srv.NewClient(t)
	in.Signup("alice", "alice@example.com", linkPW)
	for _, tc := range []struct {
		method, path   string
		anonStatus     int
		anonLoc        string
		signedInStatus int
	}{
		{"GET", "/forgot", 200, "", 200},
		{"GET", "/reset", 400, "", 400},
		{"GET", "/verify", 400, "", 400},
		{"POST", "/verify/resend", 303, "/signin?next=%2Fdashboard", 303},
		{"GET", "/verify/resend", 405, "", 405},
		{"POST", "/account/email", 303, "/signin?next=%2Faccount", 422},
		{"GET", "/account/email", 405, "", 405},
	} {
		var form url.Values
		if tc.method == "POST" {
			form = url.Values{}
		}
		r := anon.Do(tc.method, tc.path, form)
		if r.StatusCode != tc.anonStatus || !strings.HasPrefix(r.Header.Get("Location"), tc.anonLoc) {
			t.Errorf("signed out %s %s: %d %q, want %d %q", tc.method, tc.path, r.StatusCode, r.Header.Get("Location"), tc.anonStatus, tc.anonLoc)
		}
		r = in.Do(tc.method, tc.path, form)
		if r.StatusCode != tc.signedInStatus {
			t.Errorf("signed in %s %s: %d, want %d", tc.method, tc.path, r.StatusCode, tc.signedInStatus)
		}
	}
}

// §3: a 429 says when to try again, and trying then works. The resend
// has two windows (once a minute, five an hour); when both are used up,
// the answer names the later of the two ends, not the hour's alone.
func TestVerifyResendRetryAfterCoversBothWindows(t *testing.T) {
	srv, clock, m := newDeviceServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", linkPW)
	m.WaitFor(t, 1, mailWait)
	start := clock.Now()
	resend := func(at time.Duration) {
		t.Helper()
		clock.Advance(start.Add(at).Sub(clock.Now()))
		expect(t, c.Post("/verify/resend", url.Values{}), http.StatusSeeOther, "/dashboard")
	}
	// Four early in the hour, the fifth at its end: the hour's window ends
	// 20 s after the last check below, the minute's 50 s after it.
	for i := range 4 {
		resend(time.Duration(i) * 61 * time.Second)
	}
	resend(time.Hour - 30*time.Second)
	clock.Advance(10 * time.Second)

	r := c.Post("/verify/resend", url.Values{})
	expect(t, r, http.StatusTooManyRequests, "", "You can ask for another in 50 seconds.")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	clock.Advance(time.Duration(secs) * time.Second)
	expect(t, c.Post("/verify/resend", url.Values{}), http.StatusSeeOther, "/dashboard")
}
