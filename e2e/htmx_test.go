package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/apptest"
	"gatehouse/rules"
)

// waitError waits until the error slot of field says msg.
func waitError(tb *Tab, field, msg string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%q under %s", msg, field),
		fmt.Sprintf(`document.querySelector("#%s-error").textContent.trim() === %q`, field, msg))
}

// TestInlineValidation: with JavaScript, each sign-up field is checked by
// the server while the user types (debounced) and when they leave it; the
// message appears under the field, the page never navigates, and the
// field's aria-invalid follows the message.
func TestInlineValidation(t *testing.T) {
	app := startApp(t, apptest.Options{})
	newAccount(t, app, "taken", "taken@example.com")
	tb := newTab(t, app.URL, true)
	tb.open("/signup")
	tb.mark()

	// While typing: no blur, the debounced check answers.
	tb.fill("#username", "ab")
	waitError(tb, "username", rules.MsgUsernameLength)
	if got := tb.focused(); got != "#username" {
		t.Errorf("focus moved to %s while typing", got)
	}
	tb.waitFor("aria-invalid on the field in error", `document.querySelector("#username").getAttribute("aria-invalid") === "true"`)
	tb.fill("#username", "taken")
	waitError(tb, "username", rules.MsgUsernameTaken)
	tb.fill("#username", "laura")
	waitError(tb, "username", "")
	tb.waitFor("aria-invalid gone from the valid field", `!document.querySelector("#username").hasAttribute("aria-invalid")`)

	// Leaving the field (Tab) checks it.
	tb.fill("#email", "laura.example.com")
	tb.keys("\t")
	waitError(tb, "email", rules.MsgEmailFormat)
	tb.fill("#email", "TAKEN@example.com")
	tb.keys("\t")
	waitError(tb, "email", rules.MsgEmailTaken)
	tb.fill("#email", "laura@example.com")
	tb.keys("\t")
	waitError(tb, "email", "")

	tb.fill("#password", "short")
	tb.keys("\t")
	waitError(tb, "password", rules.MsgPasswordShort)
	tb.fill("#password", "password")
	tb.keys("\t")
	waitError(tb, "password", rules.MsgPasswordCommon)
	tb.fill("#password", testPassword)
	tb.keys("\t")
	waitError(tb, "password", "")

	tb.fill("#password_confirm", testPassword+"x")
	tb.keys("\t")
	waitError(tb, "password_confirm", rules.MsgConfirmMismatch)
	tb.fill("#password_confirm", testPassword)
	tb.keys("\t")
	waitError(tb, "password_confirm", "")

	if !tb.marked() || tb.path() != "/signup" {
		t.Errorf("inline validation navigated to %s", tb.path())
	}
	for _, f := range signupFields {
		hs := app.Hits("POST", "/signup/validate/"+f)
		if len(hs) == 0 {
			t.Errorf("no inline check of %s was sent", f)
		}
		for _, h := range hs {
			if !h.HTMX || (h.Status != http.StatusOK && h.Status != 499) {
				t.Errorf("inline check of %s: htmx=%v status %d", f, h.HTMX, h.Status)
			}
		}
	}
	if n := len(app.Hits("POST", "/signup")); n != 0 {
		t.Errorf("inline validation submitted the form %d times", n)
	}

	// The form, now valid, goes through.
	tb.submit("#signup-form", "the dashboard", onDashboard)
}

// TestInlineValidationRace: a slow answer for an older value must not
// overwrite the answer for the value the user typed last.
func TestInlineValidationRace(t *testing.T) {
	app := startApp(t, apptest.Options{})
	release := app.Hold(func(r *http.Request, form url.Values) bool {
		return r.URL.Path == "/signup/validate/username" && form.Get("username") == "mallory"
	})
	defer release()
	tb := newTab(t, app.URL, true)
	// htmx reports the aborted stale request on the console; that abort
	// is what this test wants to see happen.
	tb.allow(`^console\.error: "htmx:(sendAbort|afterRequest), `)
	tb.open("/signup")
	tb.fill("#username", "mallory")
	tb.keys("\t") // leaving the field sends the check that the server holds
	tb.waitFor("the slow check to be sent", `document.querySelector("#username.htmx-request")`)
	// Back in the field, the user adds one character that makes the name
	// invalid. Its check is answered at once; the old one is still held.
	eval[bool](tb, `(function(){var e=document.querySelector("#username");e.focus();e.setSelectionRange(e.value.length,e.value.length);return true})()`)
	tb.keys("!")
	waitError(tb, "username", rules.MsgUsernameChars)
	// Now the server answers the old value, late.
	release()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(app.Hits("POST", "/signup/validate/username"), func(h Hit) bool { return h.Form.Get("username") == "mallory" }) {
		if time.Now().After(deadline) {
			t.Fatal("the held check of \"mallory\" never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // time for a late swap, if one came
	if got := tb.text("#username-error"); got != rules.MsgUsernameChars {
		t.Errorf("after the late answer for %q, the message under username is %q, want %q (the last value's)", "mallory", got, rules.MsgUsernameChars)
	}
	if tb.attr("#username", "aria-invalid") != "true" {
		t.Errorf("username lost aria-invalid to a stale answer")
	}
}

// TestLoadingState: while a slow sign-in or sign-up runs (the test holds
// the request), the button is disabled and says what is happening; a
// double-click, Enter and another click send no second request.
func TestLoadingState(t *testing.T) {
	forms := []struct {
		name, page, form, path, busy string
		fill                         func(tb *Tab)
	}{
		{"signin", "/signin", "#signin-form", "/signin", "Signing in…", func(tb *Tab) {
			tb.fill("#username", "nina")
			tb.fill("#password", testPassword)
		}},
		{"signup", "/signup", "#signup-form", "/signup", "Creating account…", func(tb *Tab) {
			tb.fill("#username", "oscar")
			tb.fill("#email", "oscar@example.com")
			tb.fill("#password", testPassword)
			tb.fill("#password_confirm", testPassword)
		}},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			app := startApp(t, apptest.Options{})
			newAccount(t, app, "nina", "nina@example.com")
			release := app.Hold(func(r *http.Request, _ url.Values) bool {
				return r.Method == http.MethodPost && r.URL.Path == f.path
			})
			defer release()
			tb := newTab(t, app.URL, true)
			tb.open(f.page)
			f.fill(tb)
			// Let the inline checks of the fields finish first.
			tb.quiet(f.form)
			button := f.form + " button[type=submit]"
			idle := tb.text(button + " .label-idle")
			tb.doubleClick(button)
			tb.waitFor("the button to be disabled", `document.querySelector("`+button+`").disabled`)
			if got := eval[string](tb, `document.querySelector("`+button+`").innerText.trim()`); got != f.busy {
				t.Errorf("busy button says %q, want %q", got, f.busy)
			}
			if !eval[bool](tb, `getComputedStyle(document.querySelector("`+button+` .spinner")).display !== "none"`) {
				t.Errorf("no spinner while the request runs")
			}
			// Enter in a field and another click must not send a second
			// request either.
			tb.keys("\r")
			tb.click(button)
			time.Sleep(200 * time.Millisecond) // time for a second request to reach the front door
			if n := eval[bool](tb, `document.querySelector("`+button+`").disabled`); !n {
				t.Errorf("the button was enabled again while the request was still running")
			}
			release()
			tb.waitFor("the dashboard", onDashboard)
			if n := len(app.Hits("POST", f.path)); n != 1 {
				t.Errorf("%d POST %s requests after a double-click, want 1", n, f.path)
			}
			if idle == f.busy || idle == "" {
				t.Errorf("idle label %q", idle)
			}
		})
	}
}

// TestErrorsSwapOnlyTheForm: with JavaScript a failed submit replaces the
// form and nothing else: the page's other elements are the same objects.
func TestErrorsSwapOnlyTheForm(t *testing.T) {
	app := startApp(t, apptest.Options{})
	tb := newTab(t, app.URL, true)
	for _, p := range []struct{ page, form string }{{"/signup", "#signup-form"}, {"/signin", "#signin-form"}} {
		tb.open(p.page)
		eval[bool](tb, `(document.querySelector("h1").__kept = document.querySelector(".aside").__kept = document.querySelector("`+p.form+`").__old = true)`)
		tb.post(app, p.form, p.page)
		checkHit(t, app, "POST", p.page, http.StatusUnprocessableEntity, true)
		if !tb.marked() || !eval[bool](tb, `document.querySelector("h1").__kept === true && document.querySelector(".aside").__kept === true`) {
			t.Errorf("%s: more than the form was replaced", p.page)
		}
		if eval[bool](tb, `document.querySelector("`+p.form+`").__old === true`) {
			t.Errorf("%s: the form was not replaced", p.page)
		}
		if n := eval[int](tb, `document.querySelectorAll("`+p.form+`").length`); n != 1 {
			t.Errorf("%s: %d forms after the swap", p.page, n)
		}
		if n := eval[int](tb, `document.querySelectorAll("h1").length`); n != 1 {
			t.Errorf("%s: %d h1 after the swap (a whole page swapped into the form?)", p.page, n)
		}
	}
}

// TestSubmitClickNotLostToInlineMessage: pressing the submit button blurs
// the last field, whose inline check then shows a new message above the
// button. The button must not move away from under the pointer between
// press and release, or the click is lost and nothing is sent.
func TestSubmitClickNotLostToInlineMessage(t *testing.T) {
	app := startApp(t, apptest.Options{})
	tb := newTab(t, app.URL, true)
	tb.open("/signup")
	tb.fill("#username", "quinn")
	tb.fill("#email", "quinn@example.com")
	tb.fill("#password", testPassword)
	tb.keys("\t")
	waitError(tb, "password", "")
	tb.fill("#password_confirm", testPassword+"x")
	// Press near the top edge of the button, as fast as the debounce
	// allows no check yet: only the blur sends one.
	xy := eval[[]float64](tb, `(function(){var r=document.querySelector("#signup-form button[type=submit]").getBoundingClientRect();`+
		`return [r.left+r.width/2, r.top+4]})()`)
	tb.do(chromedp.MouseEvent(chromedp.MousePressed, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	// A person's click lasts about a tenth of a second; the check of the
	// blurred field answers well within it on loopback.
	time.Sleep(150 * time.Millisecond)
	tb.do(chromedp.MouseEvent(chromedp.MouseReleased, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	deadline := time.Now().Add(3 * time.Second)
	for len(app.Hits("POST", "/signup")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the click on Create account sent nothing (the button moved under the pointer?); page:\n%s", tb.bodyText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.settle()
	checkHit(t, app, "POST", "/signup", http.StatusUnprocessableEntity, true)
	waitError(tb, "password_confirm", rules.MsgConfirmMismatch)
}
