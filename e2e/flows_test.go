package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/rules"
)

const testPassword = "correct horse battery"

// Conditions for waitFor.
const (
	onDashboard = `location.pathname === "/dashboard" && document.querySelector("h1") && document.querySelector("h1").textContent.indexOf("Hello, ") === 0`
	onSignin    = `location.pathname === "/signin" && document.querySelector("#signin-form")`
)

// signupInBrowser fills and submits the sign-up form.
func signupInBrowser(tb *Tab, username, email, pw string) {
	tb.t.Helper()
	tb.open("/signup")
	tb.fill("#username", username)
	tb.fill("#email", email)
	tb.fill("#password", pw)
	tb.fill("#password_confirm", pw)
	tb.submit("#signup-form", "the dashboard after sign-up", onDashboard)
}

// signinInBrowser fills and submits the sign-in form on the current page.
func signinInBrowser(tb *Tab, login, pw string, remember bool) {
	tb.t.Helper()
	tb.fill("#username", login)
	tb.fill("#password", pw)
	if remember != eval[bool](tb, `document.querySelector("#remember").checked`) {
		tb.click("#remember")
	}
	tb.submit("#signin-form", "the dashboard after sign-in", onDashboard)
}

// newAccount creates an account over plain HTTP (not what is under test).
func newAccount(t testing.TB, app *App, username, email string) {
	t.Helper()
	app.NewClient(t).Signup(username, email, testPassword)
}

// TestSignupDashboardSignout: sign up, see the greeting and when the
// session ends, sign out with the button, and find the dashboard closed.
func TestSignupDashboardSignout(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		tb := newTab(t, app.URL, js)
		signupInBrowser(tb, "Alice", "Alice@Example.com", testPassword)
		if js {
			checkHit(t, app, "POST", "/signup", http.StatusOK, js) // HX-Redirect
		} else {
			checkHit(t, app, "POST", "/signup", http.StatusSeeOther, js)
		}
		if got := tb.text("h1"); got != "Hello, alice!" {
			t.Errorf("greeting = %q, want %q", got, "Hello, alice!")
		}
		if got := tb.text("main"); !strings.Contains(got, "alice@example.com") || !strings.Contains(got, "Your session expires") {
			t.Errorf("dashboard text = %q, want the email and the session expiry", got)
		}
		// Default idle timeout 7 days (shorter than the 30-day lifetime).
		exp, err := time.Parse(time.RFC3339, tb.attr(".facts dd time", "datetime"))
		if err != nil {
			t.Fatalf("session expiry datetime: %v", err)
		}
		if want := time.Now().Add(168 * time.Hour); exp.Before(want.Add(-time.Hour)) || exp.After(want.Add(time.Hour)) {
			t.Errorf("session expires %v, want about %v", exp, want)
		}

		tb.submit(".actions form[action='/signout']", "the sign-in page after sign-out", onSignin)
		if got := tb.text(".notice"); got != "You have signed out." {
			t.Errorf("notice = %q, want %q", got, "You have signed out.")
		}
		// Nothing the pages load is missing (stylesheet, scripts, icon).
		for _, h := range app.HitsWithStatus(http.StatusNotFound) {
			t.Errorf("the browser asked for %s %s and got 404", h.Method, h.Path)
		}
		tb.open("/dashboard")
		tb.waitFor("sign-in instead of the dashboard", onSignin)
		if got := tb.path(); got != "/signin?next=%2Fdashboard" {
			t.Errorf("after sign-out /dashboard led to %s, want /signin?next=%%2Fdashboard", got)
		}
	})
}

// TestSigninByUsernameAndEmail: either login works, in any case.
func TestSigninByUsernameAndEmail(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "bob", "bob@example.com")
		for _, login := range []string{"bob", "BOB@Example.COM"} {
			tb := newTab(t, app.URL, js)
			tb.open("/signin")
			signinInBrowser(tb, login, testPassword, false)
			if js {
				checkHit(t, app, "POST", "/signin", http.StatusOK, js)
			} else {
				checkHit(t, app, "POST", "/signin", http.StatusSeeOther, js)
			}
			if got := tb.text("h1"); got != "Hello, bob!" {
				t.Errorf("login %q: greeting = %q", login, got)
			}
		}
	})
}

// TestRememberMe: without it the cookie ends with the browser; with it
// the cookie persists for the session lifetime.
func TestRememberMe(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "carol", "carol@example.com")
		for _, remember := range []bool{false, true} {
			tb := newTab(t, app.URL, js)
			tb.open("/signin")
			signinInBrowser(tb, "carol", testPassword, remember)
			c := tb.cookie("session")
			if c == nil {
				t.Fatalf("remember=%v: no session cookie", remember)
			}
			if c.Session == remember {
				t.Errorf("remember=%v: session cookie = %v, want %v", remember, c.Session, !remember)
			}
			if remember {
				exp := time.Unix(int64(c.Expires), 0)
				if want := time.Now().Add(720 * time.Hour); exp.Before(want.Add(-time.Hour)) || exp.After(want.Add(time.Hour)) {
					t.Errorf("remembered cookie expires %v, want about %v", exp, want)
				}
			}
			if !c.HTTPOnly || c.SameSite != "Lax" {
				t.Errorf("cookie HttpOnly=%v SameSite=%q, want true Lax", c.HTTPOnly, c.SameSite)
			}
		}
	})
}

// TestNextAfterSignin: a visitor sent to sign in comes back where they
// were going; a next that leaves the site is ignored.
func TestNextAfterSignin(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "dave", "dave@example.com")

		tb := newTab(t, app.URL, js)
		tb.open("/dashboard")
		tb.waitFor("the sign-in page", onSignin)
		if got := tb.value("input[name=next]"); got != "/dashboard" {
			t.Errorf("hidden next = %q, want /dashboard", got)
		}
		signinInBrowser(tb, "dave", testPassword, false)

		tb = newTab(t, app.URL, js)
		tb.open("/signin?next=%2Fapi%2Fme")
		tb.fill("#username", "dave")
		tb.fill("#password", testPassword)
		tb.submit("#signin-form", "/api/me after sign-in", `location.pathname === "/api/me"`)
		if got := tb.text("body"); !strings.Contains(got, `"username":"dave"`) {
			t.Errorf("/api/me after sign-in shows %q", got)
		}

		tb = newTab(t, app.URL, js)
		tb.open("/signin?next=%2F%2Fevil.example%2F")
		if got := tb.value("input[name=next]"); got != "" {
			t.Errorf("unsafe next kept as %q", got)
		}
		signinInBrowser(tb, "dave", testPassword, false)
	})
}

// fieldErrors are the expected messages of a failed submit, by field.
type fieldErrors map[string]string

// checkFormErrors checks each field's error under it (and none under the
// others), aria-invalid and aria-describedby, the summary's links, and
// where focus went.
func checkFormErrors(t *testing.T, tb *Tab, fields []string, want fieldErrors, focus string) {
	t.Helper()
	for _, f := range fields {
		got := tb.text("#" + f + "-error")
		if got != want[f] {
			t.Errorf("error under %s = %q, want %q", f, got, want[f])
		}
		invalid := tb.attr("#"+f, "aria-invalid") == "true"
		if invalid != (want[f] != "") {
			t.Errorf("%s aria-invalid = %v, want %v", f, invalid, want[f] != "")
		}
		if d := tb.attr("#"+f, "aria-describedby"); !strings.Contains(" "+d+" ", " "+f+"-error ") {
			t.Errorf("%s aria-describedby = %q, want it to name %s-error", f, d, f)
		}
		// The message sits right under its own field, not elsewhere.
		if want[f] != "" && !eval[bool](tb, `document.querySelector("#`+f+`-error").parentElement === document.querySelector("#`+f+`").parentElement`) {
			t.Errorf("error of %s is not next to its field", f)
		}
	}
	if len(want) > 0 {
		summary := tb.text(".error-summary")
		for f, msg := range want {
			if !strings.Contains(summary, msg) {
				t.Errorf("summary %q lacks %q", summary, msg)
			}
			if !tb.exists(`.error-summary a[href="#` + f + `"]`) {
				t.Errorf("summary has no link to #%s", f)
			}
		}
		if r := tb.attr(".error-summary", "role"); r != "alert" {
			t.Errorf("summary role = %q, want alert (announced)", r)
		}
	}
	if got := tb.focusOn(focus); got != focus {
		t.Errorf("focus after the failed submit is on %s, want %s", got, focus)
	}
}

var signupFields = []string{"username", "email", "password", "password_confirm"}

// TestSignupValidation: every sign-up error appears next to its field,
// values other than passwords are kept, and focus goes to the first field
// in error, with and without JavaScript.
func TestSignupValidation(t *testing.T) {
	cases := []struct {
		name                      string
		username, email, pw, conf string
		want                      fieldErrors
		focus                     string
	}{
		{"empty", "", "", "", "", fieldErrors{
			"username": rules.MsgUsernameRequired, "email": rules.MsgEmailRequired,
			"password": rules.MsgPasswordRequired, "password_confirm": rules.MsgConfirmRequired}, "#username"},
		{"malformed", "ab", "not-an-email", "short", "other", fieldErrors{
			"username": rules.MsgUsernameLength, "email": rules.MsgEmailFormat,
			"password": rules.MsgPasswordShort, "password_confirm": rules.MsgConfirmMismatch}, "#username"},
		{"characters and common password", "bad name!", "erin@example.com", "password", "password", fieldErrors{
			"username": rules.MsgUsernameChars, "password": rules.MsgPasswordCommon}, "#username"},
		{"password is the username", "frank_99", "frank@example.com", "frank_99", "frank_99", fieldErrors{
			"password": rules.MsgPasswordSame}, "#password"},
		{"confirmation only", "grace", "grace@example.com", testPassword, testPassword + "!", fieldErrors{
			"password_confirm": rules.MsgConfirmMismatch}, "#password_confirm"},
		{"too long", strings.Repeat("u", 32), strings.Repeat("e", 243) + "@example.com", strings.Repeat("p", 257), strings.Repeat("p", 257), fieldErrors{
			"username": rules.MsgUsernameLength, "email": rules.MsgEmailLength, "password": rules.MsgPasswordLong}, "#username"},
		{"taken", "taken", "TAKEN@example.com", testPassword, testPassword, fieldErrors{
			"username": rules.MsgUsernameTaken, "email": rules.MsgEmailTaken}, "#username"},
		// product.md §3: every error in the same answer, "taken" included
		// (with JavaScript, the inline "taken" message stays after submit).
		{"taken username and common password", "taken", "ivan@example.com", "password123", "password123", fieldErrors{
			"username": rules.MsgUsernameTaken, "password": rules.MsgPasswordCommon}, "#username"},
		{"taken email and mismatched confirmation", "judy", "taken@example.com", testPassword, testPassword + "?", fieldErrors{
			"email": rules.MsgEmailTaken, "password_confirm": rules.MsgConfirmMismatch}, "#email"},
	}
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "taken", "taken@example.com")
		tb := newTab(t, app.URL, js)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tb.t = t
				tb.open("/signup")
				tb.fill("#username", tc.username)
				tb.fill("#email", tc.email)
				tb.fill("#password", tc.pw)
				tb.fill("#password_confirm", tc.conf)
				tb.post(app, "#signup-form", "/signup")
				checkHit(t, app, "POST", "/signup", http.StatusUnprocessableEntity, js)
				if js && !tb.marked() {
					t.Errorf("with JavaScript the page was reloaded; only the form should be swapped")
				}
				if !js && tb.marked() {
					t.Errorf("without JavaScript the form did not load a new page")
				}
				checkFormErrors(t, tb, signupFields, tc.want, tc.focus)
				if got := tb.value("#username"); got != strings.ToLower(strings.TrimSpace(tc.username)) {
					t.Errorf("username kept as %q", got)
				}
				if got := tb.value("#email"); got != strings.ToLower(tc.email) {
					t.Errorf("email kept as %q", got)
				}
				if tb.value("#password") != "" || tb.value("#password_confirm") != "" {
					t.Errorf("a password was sent back into the form")
				}
			})
		}
	})
}

// TestSigninErrors: missing fields, then a wrong password, then a
// throttled account: each message shown, focus where it should be.
func TestSigninErrors(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "heidi", "heidi@example.com")
		tb := newTab(t, app.URL, js)
		fields := []string{"username", "password"}

		tb.open("/signin")
		tb.post(app, "#signin-form", "/signin")
		checkHit(t, app, "POST", "/signin", http.StatusUnprocessableEntity, js)
		checkFormErrors(t, tb, fields, fieldErrors{
			"username": "Enter your username or email address.", "password": "Enter your password."}, "#username")

		tb.open("/signin")
		tb.fill("#username", "Heidi")
		tb.fill("#password", "not the password")
		tb.post(app, "#signin-form", "/signin")
		checkHit(t, app, "POST", "/signin", http.StatusUnauthorized, js)
		if got := tb.text(".error-summary"); got != "Incorrect username or password." {
			t.Errorf("summary = %q, want %q", got, "Incorrect username or password.")
		}
		checkFormErrors(t, tb, fields, nil, "#error-summary")
		if tb.value("#username") != "Heidi" || tb.value("#password") != "" {
			t.Errorf("after a wrong password: username %q, password %q; want Heidi and empty", tb.value("#username"), tb.value("#password"))
		}

		// Nine more failures use up the account's ten; the eleventh
		// attempt, even with the right password, is refused.
		for i := 0; i < 9; i++ {
			tb.fill("#username", "heidi")
			tb.fill("#password", "not the password")
			tb.post(app, "#signin-form", "/signin")
			checkHit(t, app, "POST", "/signin", http.StatusUnauthorized, js)
		}
		if hs := app.Hits("POST", "/signin"); len(hs) != 11 {
			t.Fatalf("%d sign-in posts, want 11", len(hs))
		}
		tb.fill("#username", "heidi")
		tb.fill("#password", testPassword)
		tb.post(app, "#signin-form", "/signin")
		checkHit(t, app, "POST", "/signin", http.StatusTooManyRequests, js)
		msg := tb.text(".error-summary")
		if !strings.Contains(msg, "Try again in 10 minutes") {
			t.Errorf("throttled message = %q, want it to say when to try again", msg)
		}
		if got := tb.focusOn("#error-summary"); got != "#error-summary" {
			t.Errorf("focus after a throttled sign-in is on %s, want #error-summary", got)
		}
		if tb.path() != "/signin" {
			t.Errorf("throttled sign-in landed on %s", tb.path())
		}
	})
}

// TestAccountFormErrors: each form of the account page, sent empty,
// shows its errors in its own summary and puts focus on its first field,
// with and without JavaScript; with it, the rest of the page stays.
func TestAccountFormErrors(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "pat", "pat@example.com")
		tb := newTab(t, app.URL, js)
		tb.open("/signin")
		signinInBrowser(tb, "pat", testPassword, false)
		for _, f := range []struct{ action, first string }{
			{"/account/password", "#password-current_password"},
			{"/account/email", "#email-email"},
			{"/account/delete", "#delete-current_password"},
		} {
			tb.open("/account")
			form := "form[action='" + f.action + "']"
			tb.post(app, form, f.action)
			checkHit(t, app, "POST", f.action, http.StatusUnprocessableEntity, js)
			if !tb.exists(form + " .error-summary") {
				t.Errorf("%s: no error summary in the form", f.action)
			}
			if n := eval[int](tb, `document.querySelectorAll(".error-summary").length`); n != 1 {
				t.Errorf("%s: %d error summaries on the page, want 1", f.action, n)
			}
			if got := tb.focusOn(f.first); got != f.first {
				t.Errorf("%s: focus after the failed submit is on %s, want %s", f.action, got, f.first)
			}
			if js && !tb.marked() {
				t.Errorf("%s: with JavaScript the page was reloaded; only the form should be swapped", f.action)
			}
		}
	})
}
