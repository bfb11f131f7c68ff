package e2e

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"gatehouse/internal/apptest"
	"gatehouse/oidcop"
)

// axe-core, the accessibility engine, as published on npm (unmodified).
// testdata/VENDOR.md says where it comes from and how to check it.
//
//go:embed testdata/axe.min.js
var axeSource string

const (
	axeVersion = "4.14.1"
	axeSHA256  = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
)

// TestAxeAssetPinned: the vendored axe-core is the pinned release, byte
// for byte.
func TestAxeAssetPinned(t *testing.T) {
	sum := sha256.Sum256([]byte(axeSource))
	if got := hex.EncodeToString(sum[:]); got != axeSHA256 {
		t.Errorf("testdata/axe.min.js SHA-256 = %s, want %s (axe-core %s)", got, axeSHA256, axeVersion)
	}
	if !strings.HasPrefix(axeSource, "/*! axe v"+axeVersion) {
		t.Errorf("testdata/axe.min.js is not axe-core %s", axeVersion)
	}
}

// axeViolations runs axe-core (all rules it runs by default: WCAG 2.x A and
// AA, and best practices) on the page in the tab and describes each
// violation. It injects axe through DevTools, which the page's CSP does not
// govern. Without JavaScript, scripts are switched on just for axe: the
// page was loaded and rendered without them, so what axe sees is what a
// browser without JavaScript shows.
func axeViolations(tb *Tab) []string {
	tb.t.Helper()
	setScripts := func(on bool) {
		tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled,
				emulation.SetScriptExecutionDisabledParams{Value: !on})
			return err
		}))
	}
	if !tb.JS {
		setScripts(true)
		defer setScripts(false)
	}
	if !eval[bool](tb, `typeof window.axe === "object"`) {
		eval[chromedp.Void](tb, axeSource)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	type node struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	}
	type violation struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []node `json:"nodes"`
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]violation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("axe.run: %v", err)
	}
	var out []string
	for _, v := range vs {
		for _, n := range v.Nodes {
			out = append(out, fmt.Sprintf("%s (%s): %s\n\t%v %s\n\t%s", v.ID, v.Impact, v.Help, n.Target, n.HTML,
				strings.ReplaceAll(n.FailureSummary, "\n", "\n\t")))
		}
	}
	return out
}

// routeExists reports whether a GET of path answers anything but 404, for
// pages of features that land in parallel with this test.
func routeExists(t testing.TB, app *App, path string) bool {
	t.Helper()
	return app.NewClient(t).Get(path).StatusCode != http.StatusNotFound
}

// TestAccessibility: axe-core finds nothing on any page in any state, with
// JavaScript off and on: empty forms, forms with errors (after a submit
// and, with JavaScript, inline), the dashboard, notices, error pages.
func TestAccessibility(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		newAccount(t, app, "wendy", "wendy@example.com")
		tb := newTab(t, app.URL, js)
		check := func(state string) {
			t.Helper()
			for _, v := range axeViolations(tb) {
				t.Errorf("%s (%s): %s", state, tb.path(), v)
			}
		}
		maybe := func(path string) bool {
			if !routeExists(t, app, path) {
				t.Logf("%s is not there yet; not checked", path)
				return false
			}
			return true
		}

		tb.open("/")
		check("home")
		tb.open("/signup")
		check("sign-up form")
		tb.post(app, "#signup-form", "/signup")
		check("sign-up form with errors after submit")
		if js {
			tb.open("/signup")
			tb.fill("#username", "a")
			tb.fill("#email", "nope")
			tb.keys("\t")
			waitError(tb, "email", "Enter an email address like name@example.com.")
			check("sign-up form with inline errors")
		}
		tb.open("/signin?next=%2Fdashboard")
		check("sign-in form")
		tb.post(app, "#signin-form", "/signin")
		check("sign-in form with errors")
		tb.fill("#username", "wendy")
		tb.fill("#password", "wrong password")
		tb.post(app, "#signin-form", "/signin")
		check("sign-in form after a wrong password")
		tb.open("/no-such-page")
		check("404 page")
		if maybe("/forgot") {
			tb.open("/forgot")
			check("forgot-password form")
			tb.post(app, "#forgot-form", "/forgot")
			check("forgot-password form with errors")
			tb.fill("#email", "wendy@example.com")
			tb.post(app, "#forgot-form", "/forgot")
			check("forgot-password: link sent")
			tb.open(app.mailLink(t, "/reset?token="))
			check("reset form")
			if !tb.exists("form[action='/reset']") {
				t.Fatalf("the mailed reset link shows no reset form:\n%s", tb.bodyText())
			}
			tb.post(app, "form[action='/reset']", "/reset")
			check("reset form with errors")
		}
		if maybe("/reset?token=bad") {
			tb.open("/reset?token=bad")
			check("reset page with a bad link")
		}
		if maybe("/verify?token=bad") {
			tb.open("/verify?token=bad")
			check("verify page with a bad link")
		}

		tb.open("/signin")
		signinInBrowser(tb, "wendy", testPassword, false)
		check("dashboard")
		if maybe("/account") {
			tb.open("/account")
			check("account page")
			if tb.exists("form[action='/account/password']") {
				tb.post(app, "form[action='/account/password']", "/account/password")
				check("account page with password errors")
			}
		}
		if maybe("/account/sessions") {
			tb.open("/account/sessions")
			check("sessions page")
		}
		if maybe("/account/apps") {
			const cb = "https://grafana.example.com/login/generic_oauth"
			c, _, err := oidcop.AddClient(t.Context(), app.Store, oidcop.NewClient{Name: "Grafana", RedirectURIs: []string{cb}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			tb.do(chromedp.Navigate(authorizeURL(app, c.ID, cb, "s")))
			tb.waitFor("the consent page", `document.querySelector("button[value=allow]")`)
			check("consent page")
			tb.open("/account/apps")
			check("apps page")
		}
		if maybe("/account/activity") {
			tb.open("/account/activity")
			check("activity page")
			tb.post(app, "#not-me-form", "/account/not-me")
			check("activity page with the not-me form's errors")
			u, err := app.Store.UserByUsername(context.Background(), "wendy")
			if err != nil {
				t.Fatal(err)
			}
			if err := app.Store.SetAdmin(context.Background(), u.ID, true); err != nil {
				t.Fatal(err)
			}
			tb.open("/admin")
			check("admin list")
			tb.open("/admin?q=nobody")
			check("admin list without a match")
			tb.open(fmt.Sprintf("/admin/users/%d", u.ID))
			check("admin account page")
			tb.open("/admin/clients")
			check("admin apps page")
			// With an app listed: the table and its delete button.
			if _, _, err := oidcop.AddClient(context.Background(), app.Store, oidcop.NewClient{
				Name: "Grafana", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"},
			}, time.Now()); err != nil {
				t.Fatal(err)
			}
			tb.open("/admin/clients")
			check("admin apps page with an app")
		}
		tb.open("/dashboard")
		tb.submit(".actions form[action='/signout']", "the sign-in page", onSignin)
		check("sign-in page with the signed-out notice")
	})
}
