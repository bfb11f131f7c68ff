package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/apptest"
	"gatehouse/rules"
)

// tabOrder presses Tab n times from the top of the page and returns what
// had focus after each press.
func tabOrder(tb *Tab, n int) []string {
	tb.t.Helper()
	eval[bool](tb, `(document.activeElement && document.activeElement.blur(), true)`)
	var out []string
	for range n {
		tb.keys("\t")
		out = append(out, tb.focused())
	}
	return out
}

// tabTo presses Tab until want has focus, failing after limit presses.
func tabTo(tb *Tab, want string, limit int) {
	tb.t.Helper()
	var seen []string
	for range limit {
		tb.keys("\t")
		got := tb.focused()
		if got == want {
			return
		}
		seen = append(seen, got)
	}
	tb.t.Fatalf("Tab never reached %s; focus went %v", want, seen)
}

// TestKeyboardOnly: sign up, sign out and sign in with the keyboard alone.
// Tab follows the page, Enter submits, and after a failed submit focus is
// on the first field in error.
func TestKeyboardOnly(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		tb := newTab(t, app.URL, js)

		tb.open("/signup")
		wantSignup := []string{"a:Skip to content", "a:Gatehouse", "#username", "#email", "#password", "#password_confirm", "button:Create account"}
		if got := tabOrder(tb, len(wantSignup)); !slices.Equal(got, wantSignup) {
			t.Errorf("sign-up Tab order:\n got %v\nwant %v", got, wantSignup)
		}

		// Enter in an empty form: errors, focus on the first field.
		tb.open("/signup")
		tabTo(tb, "#username", 5)
		tb.mark()
		tb.keys("\r")
		tb.waitFor("the form with errors", `document.querySelector(".error-summary")`)
		if js {
			tb.settle()
		}
		tb.waitFor("focus on the first field in error", `document.activeElement && document.activeElement.id === "username"`)
		checkHit(t, app, "POST", "/signup", http.StatusUnprocessableEntity, js)
		if got := tb.text("#username-error"); got != rules.MsgUsernameRequired {
			t.Errorf("error under username = %q", got)
		}

		// Type the form through, field by field, and submit with Enter.
		tb.keys("judy")
		tb.keys("\t")
		tb.keys("judy@example.com")
		tb.keys("\t")
		tb.keys(testPassword)
		tb.keys("\t")
		tb.keys(testPassword)
		tb.keys("\r")
		tb.waitFor("the dashboard", onDashboard)
		checkHit(t, app, "POST", "/signup", map[bool]int{false: http.StatusSeeOther, true: http.StatusOK}[js], js)

		// Sign out with the keyboard: Tab to the button, Enter.
		tabTo(tb, "button:Sign out", 6)
		tb.keys("\r")
		tb.waitFor("the sign-in page", onSignin)

		wantSignin := []string{"a:Skip to content", "a:Gatehouse", "#username", "#password", "#remember", "button:Sign in"}
		if got := tabOrder(tb, len(wantSignin)); !slices.Equal(got, wantSignin) {
			t.Errorf("sign-in Tab order:\n got %v\nwant %v", got, wantSignin)
		}
		tb.open("/signin")
		tabTo(tb, "#username", 4)
		tb.keys("judy")
		tb.keys("\t")
		tb.keys("wrong password")
		tb.keys("\r")
		tb.waitFor("the wrong-password message", `document.querySelector(".error-summary")`)
		if js {
			tb.settle()
		}
		tb.waitFor("focus on the error summary", `document.activeElement && document.activeElement.id === "error-summary"`)
		checkHit(t, app, "POST", "/signin", http.StatusUnauthorized, js)

		// From the summary, Tab reaches the fields again; Space ticks
		// "remember me".
		tabTo(tb, "#username", 3)
		tb.keys("\t")
		tb.keys(testPassword)
		tb.keys("\t")
		tb.keys(" ")
		if !eval[bool](tb, `document.querySelector("#remember").checked`) {
			t.Errorf("Space did not tick remember me")
		}
		tb.keys("\t")
		if got := tb.focused(); got != "button:Sign in" {
			t.Errorf("after remember me, focus is on %s", got)
		}
		tb.keys("\r")
		tb.waitFor("the dashboard", onDashboard)
		if c := tb.cookie("session"); c == nil || c.Session {
			t.Errorf("remember me ticked by keyboard: want a persistent cookie, got %+v", c)
		}
		if !strings.Contains(tb.text("h1"), "judy") {
			t.Errorf("greeting = %q", tb.text("h1"))
		}
	})
}

// TestBackAfterSignout: after signing out, Back shows no private page,
// neither from the browser's cache nor from htmx's history.
func TestBackAfterSignout(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "kim", "kim@example.com")
		tb := newTab(t, app.URL, js)
		tb.open("/signin")
		signinInBrowser(tb, "kim", testPassword, false)
		tb.submit(".actions form[action='/signout']", "the sign-in page", onSignin)
		tb.do(chromedp.NavigateBack())
		tb.waitFor("the page after Back", `document.body`)
		if got := tb.bodyText(); strings.Contains(got, "kim@example.com") || strings.Contains(got, "Hello, kim") {
			t.Errorf("Back after sign-out shows the dashboard's data at %s:\n%s", tb.location(), got)
		}
		tb.waitFor("the sign-in page after Back", onSignin)
		// Back went to the dashboard's entry, and the server (not a cache)
		// answered it by sending the signed-out visitor to sign in.
		if got := tb.path(); got != "/signin?next=%2Fdashboard" {
			t.Errorf("after Back the tab is at %s, want /signin?next=%%2Fdashboard", got)
		}
	})
}
