package handlers_test

// Tests for the lines of product.md §3–§7 that a hostile review found
// broken (the races and gaps of "close the races and gaps"): each is named
// after its line and runs through the real HTTP stack.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/mail/mailtest"
	"gatehouse/password"
)

const secPW = "correct horse battery"

// signedInAPI reports whether c's session answers /api/me.
func signedInAPI(t *testing.T, c *apptest.Client) bool {
	t.Helper()
	r := c.Get("/api/me")
	switch r.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("/api/me: %d\n%s", r.StatusCode, r.Body)
	return false
}

// withCookie is a fresh client that holds only the given session token.
func withCookie(t *testing.T, srv *apptest.Server, token string) *apptest.Client {
	c := srv.NewClient(t)
	c.SetCookie("session", token)
	return c
}

// §5: a dead token never comes back. While a password change renews the
// session's token, requests with the old cookie that started before the
// renewal finish after it and save the session back under the old token;
// the old token must still be dead, everywhere (/api/me, the sessions
// page, "sign out everywhere else"). Ten rounds, eight racing requests
// each.
func TestDeadTokenNeverComesBack(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", secPW)
	u, err := srv.Store.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// A verified account: every resend answers with a notice, so each
	// racing request saves its session.
	if err := srv.Store.MarkEmailVerified(context.Background(), u.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	pw := []string{secPW, "another long password"}
	for round := range 10 {
		old := a.Cookie("session")
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { withCookie(t, srv, old).Post("/verify/resend", url.Values{}) })
		}
		r := a.Post("/account/password", url.Values{"current_password": {pw[round%2]},
			"new_password": {pw[(round+1)%2]}, "new_password_confirm": {pw[(round+1)%2]}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("round %d: password change %d\n%s", round, r.StatusCode, r.Body)
		}
		wg.Wait()
		if a.Cookie("session") == old {
			t.Fatalf("round %d: the token was not renewed", round)
		}
		if signedInAPI(t, withCookie(t, srv, old)) {
			t.Fatalf("round %d: the replaced token answers /api/me", round)
		}
		if !signedInAPI(t, a) {
			t.Fatalf("round %d: the renewed token is signed out", round)
		}
	}
	// One live session: the old tokens left nothing behind.
	if _, ids := sessionIDs(t, srv, "alice"); len(ids) != 1 {
		t.Errorf("alice has %d sessions, want 1", len(ids))
	}
}

// §5: a password change, a reset or `user set-password` ends every
// session signed in with the old password, including sign-ins that were
// still being checked when it happened. Four sign-ins with the old
// password race each change; with production hash costs and two hashing
// slots they are truly in flight. Ten rounds.
func TestPasswordChangeEndsSigninsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("races with production hash costs")
	}
	srv := apptest.Start(t, apptest.Options{Hasher: password.NewHasher(password.OWASP, 2)})
	a := srv.NewClient(t)
	a.Signup("alice", "alice@example.com", secPW)
	pw := []string{secPW, "another long password"}
	for round := range 10 {
		oldPW, newPW := pw[round%2], pw[(round+1)%2]
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []*apptest.Client
		for range 4 {
			wg.Go(func() {
				c := srv.NewClient(t)
				r := c.Post("/signin", url.Values{"username": {"alice"}, "password": {oldPW}})
				if r.StatusCode == http.StatusSeeOther {
					mu.Lock()
					won = append(won, c)
					mu.Unlock()
				} else if r.StatusCode != http.StatusUnauthorized {
					t.Errorf("round %d: racing sign-in %d", round, r.StatusCode)
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		r := a.Post("/account/password", url.Values{"current_password": {oldPW},
			"new_password": {newPW}, "new_password_confirm": {newPW}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("round %d: password change %d\n%s", round, r.StatusCode, r.Body)
		}
		wg.Wait()
		for _, c := range won {
			if signedInAPI(t, c) {
				t.Fatalf("round %d: a sign-in with the old password survived the change", round)
			}
		}
		if !signedInAPI(t, a) {
			t.Fatalf("round %d: the session that changed the password was signed out", round)
		}
	}
}

// §7: a password change or reset voids every pending link of the
// account. The intruder, who has the password, asks to move the account
// to their address; the owner resets the password; the intruder's link
// must be dead, or it would take the account.
func TestPasswordResetVoidsPendingEmailChange(t *testing.T) {
	srv, m := linkServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", secPW)
	m.WaitFor(t, 1, mailWait)
	intruder := srv.NewClient(t)
	intruder.Signin("alice", secPW)
	expect(t, intruder.Post("/account/email", url.Values{"email": {"evil@example.net"}, "current_password": {secPW}}), http.StatusSeeOther, "/account")
	msgs := m.WaitFor(t, 3, mailWait)
	change := mailLink(t, srv, msgs, "evil@example.net", "Confirm your new email address")

	expect(t, srv.NewClient(t).Post("/forgot", url.Values{"email": {"alice@example.com"}}), http.StatusOK, "")
	msgs = m.WaitFor(t, 4, mailWait)
	reset := mailLink(t, srv, msgs, "alice@example.com", "Reset your password")
	newPW := "the owner's new password"
	expect(t, srv.NewClient(t).Post("/reset", url.Values{"token": {tokenOf(reset)},
		"new_password": {newPW}, "new_password_confirm": {newPW}}), http.StatusSeeOther, "/signin")

	expect(t, srv.NewClient(t).Get(change), http.StatusBadRequest, "", "This link is not valid")
	if u, _ := srv.Store.UserByUsername(context.Background(), "alice"); u.Email != "alice@example.com" {
		t.Fatalf("the intruder's email change went through after the reset: %s", u.Email)
	}
	if signedInAPI(t, intruder) {
		t.Error("the intruder's session survived the reset")
	}
}

// §7: the same for a password change on the account page.
func TestPasswordChangeVoidsPendingLinks(t *testing.T) {
	srv, m := linkServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", secPW)
	verify := mailLink(t, srv, m.WaitFor(t, 1, mailWait), "alice@example.com", "Confirm your email address")
	expect(t, owner.Post("/account/email", url.Values{"email": {"evil@example.net"}, "current_password": {secPW}}), http.StatusSeeOther, "/account")
	change := mailLink(t, srv, m.WaitFor(t, 3, mailWait), "evil@example.net", "Confirm your new email address")
	newPW := "the owner's new password"
	expect(t, owner.Post("/account/password", url.Values{"current_password": {secPW},
		"new_password": {newPW}, "new_password_confirm": {newPW}}), http.StatusSeeOther, "/account")
	expect(t, srv.NewClient(t).Get(change), http.StatusBadRequest, "", "This link is not valid")
	expect(t, srv.NewClient(t).Get(verify), http.StatusBadRequest, "", "This link is not valid")
}

// §7: POST /account/email sends at most 3 confirmation mails an hour per
// account; past that 429 with Retry-After, and no mail.
func TestEmailChangeMailsLimited(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", secPW)
	m.WaitFor(t, 1, mailWait)
	for i := range 3 {
		r := c.Post("/account/email", url.Values{"email": {fmt.Sprintf("new%d@example.com", i)}, "current_password": {secPW}})
		expect(t, r, http.StatusSeeOther, "/account")
	}
	for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
		r := c.Post("/account/email", url.Values{"email": {"victim@example.com"}, "current_password": {secPW}}, hx...)
		expect(t, r, http.StatusTooManyRequests, "", "We have sent three confirmation links this hour. Try again in", `id="email-form"`)
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	srv.App.Wait()
	for _, msg := range m.Messages() {
		if msg.To[0] == "victim@example.com" {
			t.Fatal("a mail went out past the limit")
		}
	}
	if n := len(m.Messages()); n != 1+3*2 {
		t.Errorf("%d mails, want 7 (sign-up, and 3 × confirmation + notice)", n)
	}
}

// §6: a limit holds for its whole window however many other names or
// addresses are tried meanwhile. Three reset mails for alice use up her
// hour; a flood of requests for 300 other addresses from 300 client
// addresses follows; a fourth request for alice still sends nothing.
// (The throttle test floods 120,000 keys at the store.)
func TestForgotLimitHoldsThroughAFlood(t *testing.T) {
	srv, m := linkServer(t, "127.0.0.1")
	srv.NewClient(t).Signup("alice", "alice@example.com", secPW)
	m.WaitFor(t, 1, mailWait)
	forgot := func(ip, email string) {
		r := srv.NewClient(t).Post("/forgot", url.Values{"email": {email}}, "X-Forwarded-For", ip)
		expect(t, r, http.StatusOK, "", forgotText)
	}
	for i := range 3 {
		forgot(fmt.Sprintf("192.0.2.%d", i+1), "alice@example.com")
	}
	for i := range 300 {
		forgot(fmt.Sprintf("198.51.%d.%d", i/250, i%250+1), fmt.Sprintf("x%d@example.com", i))
	}
	forgot("203.0.113.1", "alice@example.com")
	if resets := resetMails(srv, m); resets != 3 {
		t.Errorf("%d reset mails to alice, want 3 (the hourly limit held through the flood)", resets)
	}
}

// resetMails waits for the server's mail jobs and counts the reset mails
// the mail server received.
func resetMails(srv *apptest.Server, m *mailtest.Server) int {
	srv.App.Wait()
	n := 0
	for _, msg := range m.Messages() {
		if msg.Subject == "Reset your password" {
			n++
		}
	}
	return n
}

// §6 and §7: /forgot is limited per client address as well: one address
// asking for many accounts gets the same page, and mail stops after ten.
func TestForgotLimitedPerClientAddress(t *testing.T) {
	srv, m := linkServer(t, "127.0.0.1")
	for i := range 12 {
		srv.NewClient(t).Signup(fmt.Sprintf("user%d", i), fmt.Sprintf("user%d@example.com", i), secPW)
	}
	m.WaitFor(t, 12, mailWait)
	for i := range 12 {
		r := srv.NewClient(t).Post("/forgot", url.Values{"email": {fmt.Sprintf("user%d@example.com", i)}}, "X-Forwarded-For", "192.0.2.9")
		expect(t, r, http.StatusOK, "", forgotText)
	}
	if resets := resetMails(srv, m); resets != 10 {
		t.Errorf("%d reset mails from one client address, want 10", resets)
	}
}

// §6: answers that tell whether a username or email is taken (the inline
// checks and sign-up) are limited per client address: at most 100 in 10
// minutes, then 429 with Retry-After.
func TestTakenAnswersLimitedPerAddress(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{TrustedProxies: []string{"127.0.0.1"}})
	srv.NewClient(t).Signup("alice", "alice@example.com", secPW)
	c := srv.NewClient(t)
	for i := range 100 {
		field, form, msg := "username", url.Values{"username": {"alice"}}, "That username is taken."
		if i%2 == 1 {
			field, form, msg = "email", url.Values{"email": {"alice@example.com"}}, "An account already uses that email address."
		}
		r := c.Post("/signup/validate/"+field, form, "HX-Request", "true", "X-Forwarded-For", "192.0.2.7")
		expect(t, r, http.StatusOK, "", msg)
	}
	r := c.Post("/signup/validate/username", url.Values{"username": {"alice"}}, "HX-Request", "true", "X-Forwarded-For", "192.0.2.7")
	expect(t, r, http.StatusTooManyRequests, "", "Try again in 10 minutes.")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	r = c.Post("/signup", url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password": {secPW}, "password_confirm": {secPW}}, "X-Forwarded-For", "192.0.2.7")
	expect(t, r, http.StatusTooManyRequests, "", "Try again in 10 minutes.", `id="signup-form"`)
	// Other addresses are not held up, and free names never counted.
	r = c.Post("/signup/validate/username", url.Values{"username": {"alice"}}, "HX-Request", "true", "X-Forwarded-For", "192.0.2.8")
	expect(t, r, http.StatusOK, "", "That username is taken.")
	for i := range 120 {
		r := c.Post("/signup/validate/username", url.Values{"username": {fmt.Sprintf("free%d", i)}}, "HX-Request", "true", "X-Forwarded-For", "192.0.2.10")
		expect(t, r, http.StatusOK, "")
	}
}

// §6: the email form of the account page tells whether an address is
// taken as well, even with no current password given: its answers count
// against the same per-address limit, or a signed-in visitor could ask
// about address after address without end.
func TestEmailChangeTakenAnswersLimited(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{TrustedProxies: []string{"127.0.0.1"}})
	srv.NewClient(t).Signup("bob", "bob@example.com", secPW)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", secPW)
	form := url.Values{"email": {"bob@example.com"}, "current_password": {""}}
	for range 100 {
		r := c.Post("/account/email", form, "X-Forwarded-For", "192.0.2.7")
		expect(t, r, http.StatusUnprocessableEntity, "", "Another account already uses that email address.")
	}
	r := c.Post("/account/email", form, "X-Forwarded-For", "192.0.2.7")
	expect(t, r, http.StatusTooManyRequests, "", "Try again in 10 minutes.", `id="email-form"`)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if strings.Contains(r.Body, "Another account already uses that email address.") {
		t.Error("the refused answer still tells that the address is taken")
	}
	// Another address is not held up.
	r = c.Post("/account/email", form, "X-Forwarded-For", "192.0.2.8")
	expect(t, r, http.StatusUnprocessableEntity, "", "Another account already uses that email address.")
}

// §6: a failed sign-in is logged with the account's id when the name
// matches an account, and without the typed name otherwise (it may be a
// password typed into the wrong field).
func TestFailedSigninLogsNoTypedName(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", secPW)
	u, _ := srv.Store.UserByUsername(context.Background(), "alice")
	srv.NewClient(t).Post("/signin", url.Values{"username": {"my secret passphrase"}, "password": {"x"}})
	srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {"wrong"}})
	logs := srv.Logs.String()
	if strings.Contains(logs, "my secret passphrase") {
		t.Errorf("the typed name reached the log:\n%s", logs)
	}
	if !strings.Contains(logs, fmt.Sprintf(`msg="sign-in failed" user_id=%d`, u.ID)) {
		t.Errorf("a failure for a known account is not logged with its id:\n%s", logs)
	}
}

// §6: HEAD never changes anything: a link scanner's HEAD of a
// verification or email-change link does not use it up.
func TestHeadDoesNotUseLinks(t *testing.T) {
	srv, m := linkServer(t)
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", secPW)
	verify := mailLink(t, srv, m.WaitFor(t, 1, mailWait), "alice@example.com", "Confirm your email address")
	for range 2 {
		if r := srv.NewClient(t).Do(http.MethodHead, verify, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("HEAD of a live link: %d", r.StatusCode)
		}
	}
	expect(t, c.Get(verify), http.StatusSeeOther, "/dashboard")
	if u, _ := srv.Store.UserByUsername(context.Background(), "alice"); !u.EmailVerified() {
		t.Fatal("the link did not verify after the HEADs")
	}
	if r := srv.NewClient(t).Do(http.MethodHead, verify, nil); r.StatusCode != http.StatusGone {
		t.Errorf("HEAD of a used link: %d, want 410", r.StatusCode)
	}
	expect(t, c.Post("/account/email", url.Values{"email": {"new@example.com"}, "current_password": {secPW}}), http.StatusSeeOther, "/account")
	change := mailLink(t, srv, m.WaitFor(t, 3, mailWait), "new@example.com", "Confirm your new email address")
	srv.NewClient(t).Do(http.MethodHead, change, nil)
	if u, _ := srv.Store.UserByUsername(context.Background(), "alice"); u.Email != "alice@example.com" {
		t.Fatal("a HEAD applied the email change")
	}
	expect(t, c.Get(change), http.StatusSeeOther, "/dashboard")
}

// §5: renewing the token of a session that goes on (a password change)
// keeps its absolute deadline.
func TestPasswordChangeKeepsAbsoluteDeadline(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{SessionLifetime: time.Hour})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", secPW)
	before := expiresAt(t, c)
	time.Sleep(1100 * time.Millisecond)
	newPW := "another long password"
	expect(t, c.Post("/account/password", url.Values{"current_password": {secPW},
		"new_password": {newPW}, "new_password_confirm": {newPW}}), http.StatusSeeOther, "/account")
	if after := expiresAt(t, c); after != before {
		t.Errorf("session_expires_at %s after the password change, want the original %s", after, before)
	}
}

func expiresAt(t *testing.T, c *apptest.Client) string {
	t.Helper()
	r := c.Get("/api/me")
	i := strings.Index(r.Body, `"session_expires_at":"`)
	if r.StatusCode != http.StatusOK || i < 0 {
		t.Fatalf("/api/me: %d %s", r.StatusCode, r.Body)
	}
	return r.Body[i : i+len(`"session_expires_at":"2006-01-02T15:04:05Z"`)]
}

// §6 and §4 (sign-in by name): a sign-in racing the deletion of its
// account gets the sign-in answer (303 or 401), never a server error, and
// starts no session that outlives the account. Ten rounds.
func TestSigninRacingDeletion(t *testing.T) {
	// Each racing browser comes from an address of its own: a sign-in that
	// comes after the deletion is a failure of that address (§6), and ten
	// rounds from one address could reach its limit of 10 and answer 429
	// (CI saw it once, with the machine busy).
	srv := apptest.Start(t, apptest.Options{TrustedProxies: []string{"127.0.0.1"}})
	for round := range 10 {
		name := fmt.Sprintf("gone%d", round)
		owner := srv.NewClient(t)
		owner.Signup(name, name+"@example.com", secPW)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []*apptest.Client
		for i := range 4 {
			wg.Go(func() {
				c := srv.NewClient(t)
				from := fmt.Sprintf("192.0.2.%d", 4*round+i+1)
				r := c.Post("/signin", url.Values{"username": {name}, "password": {secPW}}, "X-Forwarded-For", from)
				switch r.StatusCode {
				case http.StatusSeeOther:
					mu.Lock()
					won = append(won, c)
					mu.Unlock()
				case http.StatusUnauthorized:
				default:
					t.Errorf("round %d: sign-in racing deletion answered %d\n%.500s", round, r.StatusCode, r.Body)
				}
			})
		}
		expect(t, owner.Post("/account/delete", url.Values{"current_password": {secPW}}), http.StatusSeeOther, "/")
		wg.Wait()
		for _, c := range won {
			if signedInAPI(t, c) {
				t.Fatalf("round %d: a session outlived its account", round)
			}
		}
	}
	if strings.Contains(srv.Logs.String(), "FOREIGN KEY") {
		t.Error("a foreign-key failure was logged")
	}
}

// §6: with an https base URL every response carries
// Strict-Transport-Security: max-age=31536000; with http none does.
func TestStrictTransportSecurity(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "https://auth.example.com"})
	c := srv.NewClient(t)
	for _, r := range []*apptest.Response{
		c.Get("/"), c.Get("/nowhere"), c.Get("/healthz"), c.Get("/api/me"),
		c.Post("/signin", url.Values{"username": {"x"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
	} {
		if got := r.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("%s %s (%d): Strict-Transport-Security %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, got)
		}
	}
	plain := apptest.Start(t, apptest.Options{})
	if got := plain.NewClient(t).Get("/").Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("http base URL: Strict-Transport-Security %q, want none", got)
	}
}

// §6: the base URL's origin always counts as same-origin, also behind a
// proxy that rewrites Host (an older browser sends Origin, no
// Sec-Fetch-Site). Another origin is still refused.
func TestBaseURLOriginIsSameOrigin(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "https://auth.example.com", Configure: func(*handlers.Config) {}})
	c := srv.NewClient(t)
	r := c.Post("/signin", url.Values{"username": {"x"}, "password": {"y"}}, "Origin", "https://auth.example.com")
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST with the base URL's Origin behind a Host-rewriting proxy: %d, want 401", r.StatusCode)
	}
	r = c.Post("/signin", url.Values{"username": {"x"}, "password": {"y"}}, "Origin", "https://evil.example")
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("POST from another origin: %d, want 403", r.StatusCode)
	}
}

// TestBaseURLOriginAsBrowsersWriteIt: product.md §6 — the base URL's
// origin always counts as same-origin. A browser writes an origin with
// the host in lower case and without the scheme's default port, so a base
// URL written https://Auth.Example.com:443 has the origin
// https://auth.example.com; behind a proxy that rewrites Host, a browser
// that sends no Sec-Fetch-Site was refused with 403.
func TestBaseURLOriginAsBrowsersWriteIt(t *testing.T) {
	for _, tc := range []struct{ base, origin string }{
		{"https://auth.example.com:443", "https://auth.example.com"},
		{"https://Auth.Example.com", "https://auth.example.com"},
		{"http://gatehouse.test:80", "http://gatehouse.test"},
		{"https://auth.example.com:8443", "https://auth.example.com:8443"},
	} {
		srv := apptest.Start(t, apptest.Options{BaseURL: tc.base, Configure: func(*handlers.Config) {}})
		c := srv.NewClient(t)
		r := c.Post("/signin", url.Values{"username": {"x"}, "password": {"y"}}, "Origin", tc.origin)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("base URL %s, POST with Origin %s behind a Host-rewriting proxy: %d, want 401", tc.base, tc.origin, r.StatusCode)
		}
		r = c.Post("/signin", url.Values{"username": {"x"}, "password": {"y"}}, "Origin", "https://evil.example")
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("base URL %s, POST from another origin: %d, want 403", tc.base, r.StatusCode)
		}
	}
}
