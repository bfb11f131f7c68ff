// Package e2e drives Gatehouse in a real browser (headless Chromium through
// the DevTools protocol) against the real server on a loopback port, with
// JavaScript off and on. It shows what an HTTP-level test cannot: that htmx
// runs, that focus moves, that a button is disabled, that Back shows no
// private page, and that every page passes axe-core and an HTML validator.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The one browser every test opens its tabs in. Starting Chromium costs
// about half a second, a tab far less, and each tab gets its own browser
// context (its own cookies and cache), so tests stay independent.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
	dir    string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dir != "" {
		os.RemoveAll(browser.dir)
	}
	os.Exit(code)
}

// missing skips a test whose tool is absent, or fails it when CI is set:
// CI must run every browser test.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", msg)
	}
	t.Skipf("%s; skipping (set CI=1 to make this a failure)", msg)
}

// chromiumPath finds Chromium as Debian installs it (apt-get install chromium).
func chromiumPath() string {
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserContext starts the shared browser on first use.
func browserContext(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		missing(t, "Chromium is not installed (apt-get install -y chromium)")
	}
	browser.once.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-e2e-chromium-")
		if err != nil {
			browser.err = err
			return
		}
		browser.dir = dir
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.UserDataDir(dir),
			// Root in a container has no sandbox to offer.
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			// The tests' only network is loopback: no update checks,
			// no sync, no phoning home.
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("no-first-run", true),
			chromedp.Flag("disable-quic", true),
			// No password manager bubbles or autofill over the forms.
			chromedp.Flag("disable-features", "Translate,PasswordManagerOnboarding,AutofillServerCommunication"),
			chromedp.WindowSize(1280, 900),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.ctx = bctx
		browser.cancel = func() { bcancel(); acancel() }
		// The first Run starts the browser; it must not carry a timeout.
		browser.err = chromedp.Do(bctx)
	})
	if browser.err != nil {
		t.Fatalf("start Chromium %s: %v", path, browser.err)
	}
	return browser.ctx
}

// Tab is one browser tab in a fresh browser context (a new profile: no
// cookies, no cache), with JavaScript on or off.
type Tab struct {
	t    testing.TB
	ctx  context.Context
	base string
	JS   bool

	mu       sync.Mutex
	problems []string
	allowed  []*regexp.Regexp
}

// newTab opens a tab for the app at base.
func newTab(t testing.TB, base string, js bool) *Tab {
	t.Helper()
	bctx := browserContext(t)
	tab := &Tab{t: t, base: base, JS: js}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(tab.listen))
	tab.ctx = ctx
	t.Cleanup(cancel)
	// A page that breaks its CSP, throws, or logs an error fails the test
	// that opened it, whatever the test was looking at.
	t.Cleanup(func() {
		for _, p := range tab.Problems() {
			t.Errorf("browser console: %s", p)
		}
	})
	// The first Run opens the tab and lives as long as its context: it
	// must not carry a timeout of its own.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// Applies to every page this tab loads: no script runs, not even
		// htmx's, just as in a browser with JavaScript switched off.
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled,
			emulation.SetScriptExecutionDisabledParams{Value: !js})
		return err
	}))
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// listen collects what a developer would see in red in the console:
// exceptions, console errors and warnings, and browser errors such as a
// CSP violation. Failed loads of expected statuses (a 422 form, a 401
// sign-in) are how forms answer and are left out.
func (tb *Tab) listen(ev any) {
	var p string
	switch e := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		p = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			p += " " + e.ExceptionDetails.Exception.Description
		}
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type != cdpruntime.ConsoleAPICalledTypeError && e.Type != cdpruntime.ConsoleAPICalledTypeWarning {
			return
		}
		p = "console." + string(e.Type) + ":"
		for _, a := range e.Args {
			p += " " + string(a.Value) + a.Description
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level != cdplog.EntryLevelError && e.Entry.Level != cdplog.EntryLevelWarning {
			return
		}
		if e.Entry.Source == cdplog.EntrySourceNetwork && expectedStatus.MatchString(e.Entry.Text) {
			return
		}
		p = string(e.Entry.Source) + " " + string(e.Entry.Level) + ": " + e.Entry.Text + " " + e.Entry.URL
	default:
		return
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, re := range tb.allowed {
		if re.MatchString(p) {
			return
		}
	}
	tb.problems = append(tb.problems, p)
}

// allow lets console messages matching re pass, for a test that causes
// them on purpose.
func (tb *Tab) allow(re string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowed = append(tb.allowed, regexp.MustCompile(re))
}

// expectedStatus matches the browser's note on a response with a status a
// page or form answers on purpose (a bad link, a wrong password, a 404
// page, a form with errors, a throttled sign-in).
var expectedStatus = regexp.MustCompile(`status of (400|401|404|405|422|429)\b`)

// Problems returns what listen collected so far.
func (tb *Tab) Problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.problems)
}

// mode names a JavaScript setting for subtests.
func mode(js bool) string {
	if js {
		return "js"
	}
	return "nojs"
}

// bothModes runs f as two subtests, JavaScript off and on.
func bothModes(t *testing.T, f func(t *testing.T, js bool)) {
	for _, js := range []bool{false, true} {
		t.Run(mode(js), func(t *testing.T) { f(t, js) })
	}
}

// do runs actions with a time limit, failing the test on error.
func (tb *Tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.location())
	}
}

// eval evaluates a JavaScript expression through DevTools (which works with
// the page's scripts disabled) and decodes its value.
func eval[T any](tb *Tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// location is the tab's URL, or "?" when it cannot be read.
func (tb *Tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// path is the path and query of the tab's URL.
func (tb *Tab) path() string {
	return strings.TrimPrefix(tb.location(), tb.base)
}

// open loads a page of the app.
func (tb *Tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base + path))
}

// waitFor polls a JavaScript condition until it is true (a page load, a
// swap, a message) and fails with what the page shows when it never is.
// Errors while polling are expected during a navigation and ignored.
func (tb *Tab) waitFor(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`document.readyState === "complete" && !!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("timed out waiting for %s (%s)\nat %s, page text:\n%s", what, cond, tb.location(), tb.bodyText())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// bodyText is the visible text of the page, for failure messages.
func (tb *Tab) bodyText() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// text is the trimmed text content of the first element matching the CSS
// selector, or "" when there is none.
func (tb *Tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.textContent.trim().replace(/\s+/g," "):""})()`, sel))
}

// exists reports whether the CSS selector matches an element.
func (tb *Tab) exists(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// attr is an attribute of the first element matching sel ("" when absent).
func (tb *Tab) attr(sel, name string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e&&e.getAttribute(%q)||""})()`, sel, name))
}

// value is the current value of a form control.
func (tb *Tab) value(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, sel))
}

// focused describes the focused element: its id, or its tag and text.
func (tb *Tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, `(function(){var e=document.activeElement;if(!e||e===document.body)return "body";`+
		`return e.id?"#"+e.id:e.tagName.toLowerCase()+":"+(e.innerText||"").trim().replace(/\s+/g," ")})()`)
}

// focusOn waits a little for the focus to be on want (an id with #, as
// focused describes it) and returns where it is. A new page's autofocus
// field is focused at the browser's next rendering update, not when the
// page has loaded: on a busy machine a check right after the load saw the
// body (CI, TestAccountFormErrors without JavaScript).
func (tb *Tab) focusOn(want string) string {
	tb.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := tb.focused()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fill types a value into an input the way a user does: focus, clear,
// keystrokes (so input events fire for htmx).
func (tb *Tab) fill(sel, value string) {
	tb.t.Helper()
	// A long value is put in as if pasted, all but its last character;
	// the keystrokes of the rest would only slow the test.
	head := ""
	if r := []rune(value); len(r) > 40 {
		head, value = string(r[:len(r)-1]), string(r[len(r)-1:])
	}
	eval[bool](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%q);e.focus();e.value=%q;return true})()`, sel, head))
	if value != "" {
		tb.do(chromedp.SendKeys(chromedp.CSS(sel), value))
	}
}

// keys sends keystrokes to whatever has focus.
func (tb *Tab) keys(k string) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(k))
}

// click clicks an element with the mouse, as a user does.
func (tb *Tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// doubleClick presses the mouse twice in quick succession on an element,
// as an impatient user does: two clicks, the second with click count 2.
func (tb *Tab) doubleClick(sel string) {
	tb.t.Helper()
	xy := eval[[]float64](tb, fmt.Sprintf(`(function(){var r=document.querySelector(%q).getBoundingClientRect();`+
		`return [r.left+r.width/2, r.top+r.height/2]})()`, sel))
	tb.do(chromedp.MouseClickXY(xy[0], xy[1]), chromedp.MouseClickXY(xy[0], xy[1], chromedp.ClickCount(2)))
}

// mark tags the current document so that a later check can tell whether
// the page was reloaded (the mark is gone) or only partly swapped (it is
// still there).
func (tb *Tab) mark() {
	tb.t.Helper()
	eval[bool](tb, `window.__gatehouseMark = true`)
}

// marked reports whether the document tagged by mark is still the one shown.
func (tb *Tab) marked() bool {
	tb.t.Helper()
	return eval[bool](tb, `window.__gatehouseMark === true`)
}

// submit clicks the form's submit button and waits for the result: a new
// page without JavaScript, a swap or a redirect with it. until is the
// JavaScript condition that says the result is shown.
func (tb *Tab) submit(form, what, until string) {
	tb.t.Helper()
	tb.quiet(form)
	tb.mark()
	tb.click(form + ` button[type=submit]`)
	tb.waitFor(what, until)
}

// post submits a form that is expected to come back (with errors): it
// clicks the submit button, waits until the server has answered the POST
// to path, then until the answer is shown: a new page without JavaScript,
// a settled htmx swap with it.
func (tb *Tab) post(app *App, form, path string) {
	tb.t.Helper()
	n := len(app.Hits("POST", path))
	tb.quiet(form)
	tb.mark()
	tb.click(form + ` button[type=submit]`)
	deadline := time.Now().Add(10 * time.Second)
	for len(app.Hits("POST", path)) == n {
		if time.Now().After(deadline) {
			tb.t.Fatalf("the form %s sent no POST %s", form, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tb.JS {
		tb.settle()
	} else {
		tb.waitFor("the answer page to load", `!window.__gatehouseMark`)
	}
}

// quiet waits, before a click on form's button, until the form's inline
// checks have answered: the debounce of the last keystroke has run out and
// no check is in flight. A message that appears between the moment the
// click's position is computed and the press would move the button away
// from it. (A person sees the page before clicking; a test has to wait.)
func (tb *Tab) quiet(form string) {
	tb.t.Helper()
	if !tb.JS || !tb.exists(form+` [hx-trigger*="delay"]`) {
		return
	}
	time.Sleep(600 * time.Millisecond) // the checks' debounce is 500 ms
	tb.settle()
}

// settle waits until htmx has finished every request, swap and settle.
// htmx focuses an autofocus field while settling, 20 ms after the swap:
// a test that types before then has its keys land in the wrong field.
func (tb *Tab) settle() {
	tb.t.Helper()
	tb.waitFor("htmx to settle", `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`)
}

// cookie returns the browser's cookie name for the app, or nil.
func (tb *Tab) cookie(name string) *network.Cookie {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.base + "/"}})
	})
	if err != nil {
		tb.t.Fatalf("get cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}
