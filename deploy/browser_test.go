package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The whole §11 flow in a real browser (headless Chromium) through real
// Caddy: an app page asked for signed out lands on Gatehouse's sign-in
// page, the sign-in comes back to the page, and the app sees the account,
// because Chromium sends the cookie with Domain=gatehouse.test to the
// app's name. Chromium resolves *.gatehouse.test to loopback by a
// host-resolver rule (there is no DNS here).
func TestBrowserThroughCaddy(t *testing.T) {
	need(t, "caddy", "caddy")
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		need(t, "chromium", "chromium")
	}
	app := echoApp(t)
	port := freePort(t)
	gh := gatehouse(t, port)
	p := startCaddy(t, port, gh.Addr(), strings.TrimPrefix(app.URL, "http://"))
	p.browser(t).do("POST", p.url("auth", "/signup"), map[string][]string{"username": {"alice"}, "email": {"alice@example.com"},
		"password": {password}, "password_confirm": {password}}, "Origin", p.url("auth", ""))

	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("host-resolver-rules", "MAP *.gatehouse.test 127.0.0.1"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-features", "Translate,PasswordManagerOnboarding,AutofillServerCommunication,HttpsUpgrades"),
		chromedp.WindowSize(1000, 700),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	page := p.url("app", "/wiki/Start?x=1")
	// waitFor polls a JavaScript condition (errors are expected while a
	// navigation runs) and returns the page's URL and text.
	waitFor := func(what, cond string) (string, string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && !!(`+cond+`)`))
			if err == nil && ok {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
				return loc, text
			}
			if time.Now().After(deadline) {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
				t.Fatalf("timed out waiting for %s; at %s showing:\n%s", what, loc, text)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open the app signed out: %v", err)
	}
	location, _ := waitFor("the sign-in page", `document.querySelector("#username")`)
	if want := p.url("auth", "/signin?rd="); !strings.HasPrefix(location, want) {
		t.Fatalf("signed out, the browser is at %q, want %q…", location, want)
	}
	if os.Getenv("GATEHOUSE_SCREENSHOTS") != "" {
		if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join("..", "docs", "screenshots", "forward-auth-signin.png"), shot, 0o644)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#username`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`), chromedp.NodeVisible),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	location, shown := waitFor("the app's page", `location.host.startsWith("app.") && document.body.innerText.includes("Remote-User")`)
	if location != page || !strings.Contains(shown, `Remote-User: ["alice"]`) || !strings.Contains(shown, "GET /wiki/Start?x=1") {
		t.Fatalf("after sign-in the browser is at %q, the app saw:\n%s", location, shown)
	}
	if os.Getenv("GATEHOUSE_SCREENSHOTS") != "" {
		if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join("..", "docs", "screenshots", "forward-auth-app.png"), shot, 0o644)
		}
	}
}
