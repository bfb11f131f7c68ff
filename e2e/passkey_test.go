package e2e

import (
	"bytes"
	"context"
	"image/png"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"gatehouse/internal/apptest"
)

// startLocalhost runs Gatehouse at http://localhost:PORT: passkeys need a
// domain name as the relying party (WebAuthn refuses an IP address), and
// Chromium treats http://localhost as a secure context.
func startLocalhost(t *testing.T) (*apptest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	srv := apptest.New(t, apptest.Options{BaseURL: base})
	hs := &http.Server{Handler: srv.App.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})
	srv.URL = base
	return srv, base
}

// virtualAuthenticator gives the tab a platform authenticator of the kind
// passkeys live on: CTAP2, internal transport, resident keys, user
// verification that succeeds, presence confirmed at once.
func virtualAuthenticator(tb *Tab) webauthn.AuthenticatorID {
	tb.t.Helper()
	var id webauthn.AuthenticatorID
	tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		off := false
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{EnableUI: &off}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		id = res.AuthenticatorID
		return err
	}))
	return id
}

// presence turns the authenticator's automatic "user present" on or off;
// off, a request waits (the page's autofill request, say).
func presence(tb *Tab, id webauthn.AuthenticatorID, on bool) {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
		return err
	}))
}

// visible reports whether the element matching sel is shown.
func (tb *Tab) visible(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb, `(function(){var e=document.querySelector(`+strconv.Quote(sel)+`);return !!e && e.offsetParent !== null})()`)
}

// product.md §10: a passkey added through the security page signs in on
// its own after sign-out (a discoverable credential with user
// verification, through the page's script), and the session says so.
func TestPasskeyAddSignOutSignIn(t *testing.T) {
	srv, base := startLocalhost(t)
	tb := newTab(t, base, true)
	auth := virtualAuthenticator(tb)
	signupInBrowser(tb, "pia", "pia@example.com", testPassword)

	tb.open("/account/security")
	tb.waitFor("the add-passkey form shown by the script", `!document.querySelector("#passkey-add-form").hidden`)
	tb.fill("#passkey-add-name", "Test laptop")
	tb.fill("#passkey-add-current_password", testPassword)
	tb.click("#passkey-add-form button[type=submit]")
	tb.waitFor("the passkey in the list", `location.pathname === "/account/security" && document.body.innerText.indexOf("Test laptop") >= 0`)
	if got := eval[int](tb, `document.querySelectorAll(".codes code").length`); got != 10 {
		t.Errorf("the first passkey showed %d recovery codes, want 10", got)
	}
	if !strings.Contains(tb.bodyText(), "The passkey was added.") {
		t.Error("no notice after adding the passkey")
	}
	for _, v := range axeViolations(tb) {
		t.Errorf("security page with a passkey: %s", v)
	}
	// Shown once: a reload has no codes.
	tb.open("/account/security")
	if got := eval[int](tb, `document.querySelectorAll(".codes code").length`); got != 0 {
		t.Errorf("recovery codes shown again on reload: %d", got)
	}

	raw := srv.RawDB(t)
	passkeySession := func(how string) {
		t.Helper()
		var method string
		var factor bool
		if err := raw.QueryRow(`SELECT method, second_factor FROM user_sessions ORDER BY id DESC LIMIT 1`).Scan(&method, &factor); err != nil ||
			method != "passkey" || !factor {
			t.Errorf("session after %s: method %q second_factor %v (%v)", how, method, factor, err)
		}
	}

	// Autofill: with presence confirmed at once, the sign-in page's
	// conditional request signs in by itself, nothing clicked.
	tb.click(`form[action="/signout"] button`)
	tb.waitFor("the dashboard after the autofill passkey sign-in", onDashboard)
	passkeySession("the autofill sign-in")

	// The button: presence is held off until it is pressed, so that the
	// autofill request (aborted by the button) cannot win the race.
	presence(tb, auth, false)
	tb.click(`form[action="/signout"] button`)
	tb.waitFor("the sign-in page", onSignin)
	tb.waitFor("the passkey button shown by the script", `!document.querySelector("[data-passkey]").hidden`)
	tb.click("[data-passkey-signin]")
	presence(tb, auth, true)
	tb.waitFor("the dashboard after a passkey sign-in with the button", onDashboard)
	passkeySession("the button sign-in")
	var used int64
	if err := raw.QueryRow(`SELECT coalesce(last_used_at, 0) FROM passkeys`).Scan(&used); err != nil || used == 0 {
		t.Errorf("passkey last used: %d, %v", used, err)
	}

	// Sent to sign in by forward-auth (?rd=), a passkey sign-in goes back
	// to rd, as a password sign-in does (product.md §11): the script
	// passes the page's rd on.
	presence(tb, auth, false)
	tb.click(`form[action="/signout"] button`)
	tb.waitFor("the sign-in page", onSignin)
	tb.open("/signin?rd=" + url.QueryEscape(base+"/account/activity?from=rd"))
	tb.waitFor("the passkey button shown by the script", `!document.querySelector("[data-passkey]").hidden`)
	tb.click("[data-passkey-signin]")
	presence(tb, auth, true)
	tb.waitFor("rd's page after a passkey sign-in from /signin?rd=",
		`location.pathname === "/account/activity" && location.search === "?from=rd"`)

	// With a passkey the password alone is no longer enough: the second
	// step offers the passkey too. (Presence is off while the password is
	// typed: the page's autofill request would otherwise sign in with the
	// passkey at once.)
	presence(tb, auth, false)
	tb.click(`form[action="/signout"] button`)
	tb.waitFor("the sign-in page", onSignin)
	tb.fill("#username", "pia")
	tb.fill("#password", testPassword)
	tb.submit("#signin-form", "the second step", `location.pathname === "/signin/2fa"`)
	tb.waitFor("the passkey offered on the second step", `!document.querySelector("[data-passkey]").hidden`)
	for _, v := range axeViolations(tb) {
		t.Errorf("second step: %s", v)
	}
	presence(tb, auth, true)
	tb.click("[data-passkey-signin]")
	tb.waitFor("the dashboard after the passkey as second step", onDashboard)
}

// The security pages are axe-clean in both modes, and the setup page (its
// QR code) and the recovery codes page go into the screenshots
// (GATEHOUSE_SCREENSHOTS=1 writes docs/screenshots, as TestScreenshots).
// Without JavaScript no passkey control is shown (product.md §10) and the
// authenticator's pages work.
func TestSecurityPagesAccessibleAndShots(t *testing.T) {
	dir := t.TempDir()
	if os.Getenv("GATEHOUSE_SCREENSHOTS") == "1" {
		dir = filepath.Join(repoRoot(t), "docs", "screenshots")
	}
	bothModes(t, func(t *testing.T, js bool) {
		srv, base := startLocalhost(t)
		srv.NewClient(t).Signup("sam", "sam@example.com", testPassword)
		tb := newTab(t, base, js)
		tb.open("/signin")
		if !tb.exists("[data-passkey-signin]") {
			t.Fatal("the sign-in page has no passkey control at all (expected one, shown only with JavaScript)")
		}
		if tb.visible("[data-passkey-signin]") != js {
			t.Errorf("passkey button visible = %v with JavaScript %s", !js, mode(js))
		}
		signinInBrowser(tb, "sam", testPassword, false)
		check := func(state string) {
			t.Helper()
			for _, v := range axeViolations(tb) {
				t.Errorf("%s: %s", state, v)
			}
		}
		tb.open("/account/security")
		check("security page")
		if tb.visible("#passkey-add-form") != js {
			t.Errorf("add-passkey form visible = %v with JavaScript %s", !js, mode(js))
		}
		tb.fill("#setup-current_password", testPassword)
		tb.submit("#setup-form", "the setup page", `location.pathname === "/account/totp/setup" && document.querySelector("img.qr")`)
		check("setup page")
		if !eval[bool](tb, `document.querySelector("img.qr").naturalWidth > 0`) {
			t.Error("the QR code image does not load")
		}
		secret := tb.text("#totp-secret")
		if js {
			shots(t, tb, dir, "totp-setup")
		}
		tb.fill("#enable-code", "000000")
		tb.submit("#enable-form", "the setup page again", `document.querySelector(".error-summary")`)
		check("setup page with a wrong code")
		if tb.text("#totp-secret") != secret {
			t.Error("a wrong code showed another secret")
		}
		tb.fill("#enable-code", totpCode(t, secret))
		tb.submit("#enable-form", "the recovery codes", `document.querySelectorAll(".codes code").length === 10`)
		check("recovery codes page")
		if js {
			shots(t, tb, dir, "recovery-codes")
		}
	})
}

// shots saves a desktop and a phone screenshot of the tab's page.
func shots(t *testing.T, tb *Tab, dir, name string) {
	t.Helper()
	for _, size := range []struct {
		name          string
		width, height int64
		scale         float64
		mobile        bool
	}{{"desktop", 1280, 800, 1, false}, {"phone", 390, 844, 2, true}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(size.scale)}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		tb.do(chromedp.EmulateViewport(size.width, size.height, opts...))
		eval[bool](tb, `(document.activeElement && document.activeElement.blur(), true)`)
		img, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if _, err := png.DecodeConfig(bytes.NewReader(img)); err != nil {
			t.Fatalf("screenshot %s is not a PNG: %v", name, err)
		}
		f := filepath.Join(dir, name+"-"+size.name+".png")
		if err := os.WriteFile(f, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", f)
	}
	tb.do(chromedp.EmulateViewport(1280, 900))
}

// totpCode is the authenticator code of secret now, as an app shows it.
func totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
