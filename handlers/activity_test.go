package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/mail"
	"gatehouse/mail/mailtest"
)

// activityRows counts the rows of the activity table.
func activityRows(body string) int { return strings.Count(body, "<tr>") - 1 }

// The activity page lists what happened to the account, newest first,
// with the browser's name and the address; never a password.
func TestActivityPageListsEvents(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", alicePW)
	srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {"hunter2-guess"}}, "User-Agent", safari)
	c = signinAs(t, srv, "alice", alicePW, firefox)
	other := signinAs(t, srv, "alice", alicePW, chrome)
	wantCode(t, c.Post("/account/password", url.Values{
		"current_password": {alicePW}, "new_password": {newPW}, "new_password_confirm": {newPW},
	}, "User-Agent", firefox), http.StatusSeeOther)
	_ = other

	r := c.Get("/account/activity", "User-Agent", firefox)
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, "Security activity", "Password changed", "Signed in with password", "Sign-in failed: wrong password",
		"Firefox on Linux", "Chrome on Windows", "Safari on iOS", "127.0.0.1", `action="/account/not-me"`)
	for _, secret := range []string{alicePW, newPW, "hunter2-guess"} {
		if strings.Contains(r.Body, secret) {
			t.Errorf("the activity page shows %q", secret)
		}
	}
	// Newest first: the password change above the sign-ins.
	if strings.Index(r.Body, "Password changed") > strings.Index(r.Body, "Signed in with password") {
		t.Error("not newest first")
	}
	if r := srv.NewClient(t).Get("/account/activity"); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/signin?next=%2Faccount%2Factivity" {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.Get("/account"); !strings.Contains(r.Body, `href="/account/activity"`) {
		t.Error("the account page does not link to the activity")
	}
}

// 50 a page, newest first, only the last 90 days, only this account's;
// the cleanup removes events past 90 days.
func TestActivityPagesAndRetention(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv := apptest.Start(t, apptest.Options{Configure: func(cfg *handlers.Config) { cfg.Now = clock.Now }})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", alicePW)
	srv.NewClient(t).Signup("bob", "bob@example.com", alicePW)
	ctx := context.Background()
	alice, bob := userID(t, srv, "alice"), userID(t, srv, "bob")
	now := clock.Now()
	add := func(user int64, at time.Time, detail string) {
		t.Helper()
		err := srv.Store.AddEvent(ctx, db.Event{UserID: user, At: at, Kind: "signed_out", IP: "192.0.2.7", UserAgent: firefox, Detail: detail})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		add(alice, now.Add(-time.Duration(i+1)*time.Hour), "")
	}
	add(alice, now.Add(-91*24*time.Hour), "")
	add(bob, now.Add(-time.Minute), "")

	r := c.Get("/account/activity")
	// 50 rows: the sign-up's sign-in and 49 sign-outs.
	if n := activityRows(r.Body); n != 50 {
		t.Errorf("first page: %d rows, want 50", n)
	}
	wantBody(t, r, `href="/account/activity?page=2"`)
	r = c.Get("/account/activity?page=2")
	// The rest: 11 sign-outs; not the one from 91 days ago, not bob's.
	if n := activityRows(r.Body); n != 11 {
		t.Errorf("second page: %d rows, want 11\n%s", n, r.Body)
	}
	wantBody(t, r, `href="/account/activity"`, "Page 2")
	if strings.Contains(r.Body, "Next page") {
		t.Error("second page links a third")
	}

	srv.App.Cleanup(ctx)
	events, err := srv.Store.UserEvents(ctx, alice, time.Time{}, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 61 {
		t.Errorf("after the cleanup alice has %d events, want 61 (the one past 90 days removed)", len(events))
	}
}

// "This wasn't me": the password, then every other session ends, this one
// stays, and the account page asks for a new password.
func TestNotMe(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.NewClient(t).Signup("alice", "alice@example.com", alicePW)
	c := signinAs(t, srv, "alice", alicePW, firefox)
	other := signinAs(t, srv, "alice", alicePW, chrome)

	r := c.Post("/account/not-me", url.Values{"current_password": {"hunter2-guess"}})
	wantCode(t, r, http.StatusUnprocessableEntity)
	wantBody(t, r, "Your current password is not correct.", "Security activity")
	r = c.Post("/account/not-me", url.Values{})
	wantCode(t, r, http.StatusUnprocessableEntity)
	wantBody(t, r, "Enter your current password.")
	r = c.Post("/account/not-me", url.Values{"current_password": {"hunter2-guess"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<!DOCTYPE") || !strings.Contains(r.Body, `id="not-me-form"`) {
		t.Errorf("htmx: %d\n%s", r.StatusCode, r.Body)
	}
	if !signedIn(t, other) {
		t.Fatal("the other session ended after a wrong password")
	}

	r = c.Post("/account/not-me", url.Values{"current_password": {alicePW}})
	wantCode(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/account" {
		t.Errorf("went to %s", r.Header.Get("Location"))
	}
	if signedIn(t, other) {
		t.Error("the other session survived")
	}
	r = c.Get("/account")
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, "choose a new password")
	if r := c.Get("/account/activity"); !strings.Contains(r.Body, "This wasn&#39;t me") {
		t.Error("not recorded in the activity")
	}
	if r := srv.NewClient(t).Post("/account/not-me", url.Values{"current_password": {alicePW}}); r.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(r.Header.Get("Location"), "/signin") {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// newDeviceServer is Gatehouse on a clock the test controls, mailing a
// real SMTP server.
func newDeviceServer(t *testing.T) (*apptest.Server, *fakeClock, *mailtest.Server) {
	t.Helper()
	m := mailtest.Start(t)
	clock := &fakeClock{t: time.Now()}
	srv := apptest.Start(t, apptest.Options{Configure: func(cfg *handlers.Config) {
		s, err := mail.New(mail.Config{URL: m.URL(), From: "gatehouse@example.com"}, cfg.Logger)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mail = s
		cfg.Now = clock.Now
	}})
	return srv, clock, m
}

// newDeviceMails returns the new-device mails received so far.
func newDeviceMails(srv *apptest.Server, m *mailtest.Server) []mailtest.Received {
	srv.App.Wait()
	var out []mailtest.Received
	for _, r := range m.Messages() {
		if r.Subject == "New sign-in to your account" {
			out = append(out, r)
		}
	}
	return out
}

// The new-device mail, through a real SMTP conversation: none at sign-up
// (and the sign-up's browser is known), none for a known browser, one for
// a new browser with the time, browser, address and both links in both
// parts; at most one an hour.
func TestNewDeviceMail(t *testing.T) {
	srv, clock, m := newDeviceServer(t)
	c := srv.NewClient(t)
	r := c.Post("/signup", url.Values{"username": {"alice"}, "email": {"alice@example.com"},
		"password": {alicePW}, "password_confirm": {alicePW}}, "User-Agent", firefox)
	wantCode(t, r, http.StatusSeeOther)
	m.WaitFor(t, 1, mailWait) // the verification mail
	if got := newDeviceMails(srv, m); len(got) != 0 {
		t.Fatalf("mail at sign-up: %+v", got)
	}
	signinAs(t, srv, "alice", alicePW, firefox)
	if got := newDeviceMails(srv, m); len(got) != 0 {
		t.Fatalf("mail for the sign-up's browser: %+v", got)
	}
	// Another version of the same browser on the same system is known.
	signinAs(t, srv, "alice", alicePW, strings.ReplaceAll(firefox, "128.0", "130.0"))
	if got := newDeviceMails(srv, m); len(got) != 0 {
		t.Fatalf("mail for a newer Firefox on Linux: %+v", got)
	}

	signinAs(t, srv, "alice", alicePW, chrome)
	m.WaitFor(t, 2, mailWait)
	got := newDeviceMails(srv, m)
	if len(got) != 1 {
		t.Fatalf("%d new-device mails, want 1", len(got))
	}
	mail := got[0]
	if len(mail.To) != 1 || mail.To[0] != "alice@example.com" || mail.Err != nil {
		t.Fatalf("mail: %+v", mail)
	}
	when := clock.Now().UTC().Format("2 January 2006 at 15:04 UTC")
	for part, body := range map[string]string{"text": mail.Text, "html": mail.HTML} {
		for _, want := range []string{"Chrome on Windows", "127.0.0.1", when, srv.URL + "/account/activity", srv.URL + "/forgot"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
	}

	// A second new browser within the hour: no second mail.
	signinAs(t, srv, "alice", alicePW, safari)
	if got := newDeviceMails(srv, m); len(got) != 1 {
		t.Fatalf("%d new-device mails after a second new browser within the hour, want 1", len(got))
	}
	// An hour later, a third new browser mails again; Chrome is known now.
	clock.Advance(61 * time.Minute)
	signinAs(t, srv, "alice", alicePW, chrome)
	if got := newDeviceMails(srv, m); len(got) != 1 {
		t.Fatalf("mail for Chrome, seen an hour ago: %d", len(got))
	}
	signinAs(t, srv, "alice", alicePW, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15")
	m.WaitFor(t, 3, mailWait)
	if got := newDeviceMails(srv, m); len(got) != 2 || !strings.Contains(got[1].Text, "Safari on macOS") {
		t.Fatalf("after an hour: %d new-device mails, want 2", len(got))
	}
	// A browser last seen more than 90 days ago is new again.
	clock.Advance(91 * 24 * time.Hour)
	signinAs(t, srv, "alice", alicePW, firefox)
	m.WaitFor(t, 4, mailWait)
	if got := newDeviceMails(srv, m); len(got) != 3 || !strings.Contains(got[2].Text, "Firefox on Linux") {
		t.Fatalf("after 91 days: %d new-device mails, want 3", len(got))
	}
}
