package e2e

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/apptest"
	"gatehouse/oidcop"
	"gatehouse/rules"
)

// TestScreenshots renders the pages the README shows, at a desktop and a
// phone width. Normally it writes them to a temporary directory (so the
// test still proves they can be made); with GATEHOUSE_SCREENSHOTS=1 it
// writes docs/screenshots/*.png:
//
//	GATEHOUSE_SCREENSHOTS=1 go test ./e2e -run TestScreenshots
func TestScreenshots(t *testing.T) {
	dir := t.TempDir()
	if os.Getenv("GATEHOUSE_SCREENSHOTS") == "1" {
		dir = filepath.Join(repoRoot(t), "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sizes := []struct {
		name          string
		width, height int64
		scale         float64
		mobile        bool
	}{
		{"desktop", 1280, 800, 1, false},
		{"phone", 390, 844, 2, true},
	}
	app := startApp(t, apptest.Options{})
	newAccount(t, app, "taken", "taken@example.com")
	newAccount(t, app, "alice", "alice@example.com")
	// Some history for the activity page, and accounts for the admin
	// list (alice is an admin).
	for _, ua := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	} {
		app.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {"not her password"}}, "User-Agent", ua)
		app.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {testPassword}}, "User-Agent", ua)
	}
	for _, name := range []string{"bob", "carol", "dmitri", "erin"} {
		newAccount(t, app, name, name+"@example.com")
	}
	alice, err := app.Store.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.SetAdmin(context.Background(), alice.ID, true); err != nil {
		t.Fatal(err)
	}
	// Apps for the admin's client list.
	for _, c := range []oidcop.NewClient{
		{Name: "Grafana", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}},
		{Name: "Gitea", RedirectURIs: []string{"https://git.example.com/user/oauth2/gatehouse/callback"}, Trusted: true},
		{Name: "Command-line tool", RedirectURIs: []string{"http://127.0.0.1:8400/callback"}, Public: true},
	} {
		if _, _, err := oidcop.AddClient(context.Background(), app.Store, c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			tb := newTab(t, app.URL, true)
			opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(size.scale)}
			if size.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
			}
			tb.do(chromedp.EmulateViewport(size.width, size.height, opts...))
			shot := func(name string) {
				t.Helper()
				// No caret blinking into the picture.
				eval[bool](tb, `(document.activeElement && document.activeElement.blur(), true)`)
				ctx := tb.ctx
				img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("screenshot %s: %v", name, err)
				}
				cfg, err := png.DecodeConfig(bytes.NewReader(img))
				if err != nil {
					t.Fatalf("screenshot %s is not a PNG: %v", name, err)
				}
				if want := int(float64(size.width) * size.scale); cfg.Width != want {
					t.Errorf("screenshot %s is %d pixels wide, want %d", name, cfg.Width, want)
				}
				f := filepath.Join(dir, name+"-"+size.name+".png")
				if err := os.WriteFile(f, img, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s (%dx%d)", f, cfg.Width, cfg.Height)
			}

			// The sign-up form as a user sees it while fixing mistakes:
			// inline messages under each field.
			tb.open("/signup")
			tb.fill("#username", "taken")
			tb.fill("#email", "alice.example.com")
			tb.fill("#password", "password")
			tb.fill("#password_confirm", "passwort")
			tb.keys("\t")
			waitError(tb, "username", rules.MsgUsernameTaken)
			waitError(tb, "email", rules.MsgEmailFormat)
			waitError(tb, "password", rules.MsgPasswordCommon)
			waitError(tb, "password_confirm", rules.MsgConfirmMismatch)
			shot("signup-errors")

			tb.open("/signin")
			shot("signin")

			signinInBrowser(tb, "alice", testPassword, true)
			shot("dashboard")

			tb.open("/account/activity")
			shot("activity")
			tb.open("/admin")
			shot("admin")
			tb.open("/admin/clients")
			shot("admin-clients")
		})
	}
}
