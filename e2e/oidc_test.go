package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/apptest"
	"gatehouse/oidcop"
)

// startRP runs a stand-in for an app's callback on its own origin: it
// answers every path with a small page, so the browser can land there.
func startRP(t *testing.T) *httptest.Server {
	t.Helper()
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html lang="en"><head><title>App</title><link rel="icon" href="data:,"></head><body><h1>The app</h1></body></html>`)
	}))
	t.Cleanup(rp.Close)
	return rp
}

// authorizeURL is an app's authorization request with PKCE.
func authorizeURL(app *App, clientID, redirect, state string) string {
	sum := sha256.Sum256([]byte("a-verifier-of-at-least-forty-three-characters-long"))
	return app.URL + oidcop.PathAuthorize + "?" + url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {state}, "nonce": {"n-" + state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
}

// product.md §12 in Chromium, JavaScript off and on: an app sends a
// signed-out browser to Gatehouse; it signs in, sees the consent page
// (which names the app and what it will see), allows, and lands back on
// the app with a code and its state. Nothing breaks the page's policy:
// the redirect to the app's origin after the consent form is allowed.
func TestConsentPageInBrowser(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		rp := startRP(t)
		newAccount(t, app, "alice", "alice@example.com")
		c, _, err := oidcop.AddClient(context.Background(), app.Store, oidcop.NewClient{
			Name: "Grafana", RedirectURIs: []string{rp.URL + "/login/generic_oauth"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tb := newTab(t, app.URL, js)
		tb.do(chromedp.Navigate(authorizeURL(app, c.ID, rp.URL+"/login/generic_oauth", "s1")))
		tb.waitFor("the sign-in page", `location.pathname === "/signin" && document.querySelector("#signin-form")`)
		if next := tb.value(`input[name=next]`); !strings.HasPrefix(next, "/oauth/consent?id=") {
			t.Fatalf("next on the sign-in page: %q", next)
		}
		tb.fill("#username", "alice")
		tb.fill("#password", testPassword)
		tb.submit("#signin-form", "the consent page", `document.querySelector("button[value=allow]")`)
		if h := tb.text("h1"); h != "Sign in to Grafana?" {
			t.Errorf("consent heading %q", h)
		}
		body := tb.bodyText()
		for _, want := range []string{"Your username", "Your email address", "alice"} {
			if !strings.Contains(body, want) {
				t.Errorf("consent page lacks %q:\n%s", want, body)
			}
		}
		if !js {
			shot(t, tb, "consent.png")
		}
		tb.click(`button[value=allow]`)
		tb.waitFor("the app's callback", `location.origin === `+jsString(rp.URL))
		u, _ := url.Parse(tb.location())
		if u.Path != "/login/generic_oauth" || u.Query().Get("code") == "" || u.Query().Get("state") != "s1" {
			t.Errorf("back at the app: %s", u)
		}
	})
}

// A trusted app skips the consent page: after the sign-in form, the
// browser goes on to the app by itself (a page that refreshes to it, so
// the sign-in form's policy does not stop the redirect), with JavaScript
// off and on.
func TestTrustedAppAfterSignInInBrowser(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := startApp(t, apptest.Options{})
		rp := startRP(t)
		newAccount(t, app, "alice", "alice@example.com")
		c, _, err := oidcop.AddClient(context.Background(), app.Store, oidcop.NewClient{
			Name: "Gitea", RedirectURIs: []string{rp.URL + "/user/oauth2/gatehouse/callback"}, Trusted: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tb := newTab(t, app.URL, js)
		tb.do(chromedp.Navigate(authorizeURL(app, c.ID, rp.URL+"/user/oauth2/gatehouse/callback", "s2")))
		tb.waitFor("the sign-in page", `location.pathname === "/signin" && document.querySelector("#signin-form")`)
		tb.fill("#username", "alice")
		tb.fill("#password", testPassword)
		tb.submit("#signin-form", "the app's callback", `location.origin === `+jsString(rp.URL))
		u, _ := url.Parse(tb.location())
		if u.Query().Get("code") == "" || u.Query().Get("state") != "s2" {
			t.Errorf("back at the app: %s", u)
		}
	})
}

func jsString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// shot saves a screenshot of the tab into docs/screenshots.
func shot(t *testing.T, tb *Tab, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// Into the docs only when asked (GATEHOUSE_SCREENSHOTS=1, as
	// TestScreenshots): a test run leaves the tree as it found it.
	dir := t.TempDir()
	if os.Getenv("GATEHOUSE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		t.Fatal(err)
	}
}
