package handlers_test

// Tests for product.md §6, one group per line of it: cross-origin
// requests, sign-in throttling, security headers, body limits.

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
)

// --- Cross-origin requests -------------------------------------------------

func TestCrossOriginPostsRefused(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", "correct horse battery")
	creds := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}

	refused := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"sign-in from another site", "/signin", creds, []string{"Sec-Fetch-Site", "cross-site"}},
		{"sign-in from a sibling subdomain", "/signin", creds, []string{"Sec-Fetch-Site", "same-site"}},
		{"sign-up from another site", "/signup", url.Values{"username": {"bob"}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"sign-out from another site", "/signout", url.Values{}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"old browser, foreign Origin", "/signin", creds, []string{"Origin", "https://evil.example"}},
		{"old browser, Origin null", "/signout", url.Values{}, []string{"Origin", "null"}},
		{"htmx request from another site", "/signin", creds, []string{"Sec-Fetch-Site", "cross-site", "HX-Request", "true"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Post(tc.path, tc.form, tc.headers...)
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d, want 403", r.StatusCode)
			}
			if !strings.Contains(r.Body, "came from another site") {
				t.Errorf("403 page does not say why:\n%s", r.Body)
			}
			if r.Header.Get("Content-Security-Policy") == "" {
				t.Error("403 without security headers")
			}
		})
	}
	// The refused sign-out did nothing: alice is still signed in.
	if r := c.Get("/dashboard"); r.StatusCode != http.StatusOK {
		t.Fatalf("dashboard after refused cross-site sign-out: %d, want 200", r.StatusCode)
	}

	// The same requests from our own pages go through.
	fresh := srv.NewClient(t)
	if r := fresh.Post("/signin", creds, "Sec-Fetch-Site", "same-origin", "Origin", srv.URL); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin sign-in: %d, want 303", r.StatusCode)
	}
	// Following a link from another site (a GET) is fine.
	if r := srv.NewClient(t).Get("/signin", "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusOK {
		t.Fatalf("cross-site GET: %d, want 200", r.StatusCode)
	}
}

// --- Sign-in throttling ----------------------------------------------------

// fakeClock is the server's clock (Config.Now), so tests can let a
// throttle window pass.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// throttledServer runs Gatehouse behind a trusted proxy on loopback, so a
// test can speak for many client addresses through X-Forwarded-For, with
// the default limits on a clock the test controls.
func throttledServer(t *testing.T) (*apptest.Server, *fakeClock) {
	clock := &fakeClock{t: time.Now()}
	srv := apptest.Start(t, apptest.Options{
		TrustedProxies: []string{"127.0.0.1"},
		Configure:      func(cfg *handlers.Config) { cfg.Now = clock.Now },
	})
	return srv, clock
}

// signinFrom posts a sign-in as the client at address ip.
func signinFrom(c *apptest.Client, ip, login, pw string, headers ...string) *apptest.Response {
	return c.Post("/signin", url.Values{"username": {login}, "password": {pw}},
		append([]string{"X-Forwarded-For", ip}, headers...)...)
}

// parallelSignins sends n sign-ins at once, the i-th as attempt(i) says
// (client address, name, password), and counts the answers by status.
func parallelSignins(t *testing.T, srv *apptest.Server, n int, attempt func(i int) (ip, login, pw string)) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ip, login, pw := attempt(i)
			r := signinFrom(srv.NewClient(t), ip, login, pw)
			mu.Lock()
			counts[r.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

func wantStatus(t *testing.T, r *apptest.Response, want int, what string) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s: got %d, want %d; body:\n%.2000s", what, r.StatusCode, want, r.Body)
	}
}

func TestThrottlePerAccount(t *testing.T) {
	srv, clock := throttledServer(t)
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	srv.NewClient(t).Signup("bob", "bob@example.com", "bob's long password")

	// Ten failures, each from its own address: the account's count.
	for i := range 10 {
		r := signinFrom(srv.NewClient(t), fmt.Sprintf("203.0.113.%d", i+1), "alice", "wrong password")
		wantStatus(t, r, http.StatusUnauthorized, fmt.Sprintf("failure %d", i+1))
	}
	clock.Advance(3 * time.Minute)

	// The 11th is refused, from a fresh address, even with the right
	// password, and costs no hash.
	r := signinFrom(srv.NewClient(t), "198.51.100.7", "ALICE ", "correct horse battery")
	wantStatus(t, r, http.StatusTooManyRequests, "11th attempt")
	if got := r.Header.Get("Retry-After"); got != "420" {
		t.Errorf("Retry-After = %q, want 420 (seconds until the first failure is 10 minutes old)", got)
	}
	if !strings.Contains(r.Body, "Too many failed sign-ins. Try again in 7 minutes.") {
		t.Errorf("429 page does not say when to try again:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, `name="username"`) || strings.Contains(r.Body, "correct horse battery") {
		t.Error("429 page should show the form again without the password")
	}
	// htmx gets the form fragment with the same status and message.
	r = signinFrom(srv.NewClient(t), "198.51.100.7", "alice", "correct horse battery", "HX-Request", "true")
	wantStatus(t, r, http.StatusTooManyRequests, "htmx attempt")
	if strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Try again in 7 minutes") {
		t.Errorf("htmx 429 should be the form fragment with the message:\n%s", r.Body)
	}
	if !strings.Contains(srv.Logs.String(), "limit=signin") {
		t.Error("throttling not logged")
	}

	// Success elsewhere is unaffected: bob signs in from an address that
	// failed for alice.
	wantStatus(t, signinFrom(srv.NewClient(t), "203.0.113.1", "bob", "bob's long password"), http.StatusSeeOther, "bob")

	// Until the window passes.
	clock.Advance(7*time.Minute - time.Second)
	wantStatus(t, signinFrom(srv.NewClient(t), "198.51.100.7", "alice", "correct horse battery"), http.StatusTooManyRequests, "one second early")
	clock.Advance(time.Second)
	wantStatus(t, signinFrom(srv.NewClient(t), "198.51.100.7", "alice", "correct horse battery"), http.StatusSeeOther, "after the window")
}

func TestThrottleUnknownAccountLooksTheSame(t *testing.T) {
	srv, _ := throttledServer(t)
	for i := range 10 {
		wantStatus(t, signinFrom(srv.NewClient(t), fmt.Sprintf("203.0.113.%d", i+1), "nobody", "guess"), http.StatusUnauthorized, "failure")
	}
	r := signinFrom(srv.NewClient(t), "198.51.100.7", "nobody", "guess")
	wantStatus(t, r, http.StatusTooManyRequests, "11th attempt on an unknown account")
	if r.Header.Get("Retry-After") != "600" {
		t.Errorf("Retry-After = %q, want 600", r.Header.Get("Retry-After"))
	}
}

func TestThrottlePerAddress(t *testing.T) {
	srv, clock := throttledServer(t)
	srv.NewClient(t).Signup("carol", "carol@example.com", "carol's long password")

	// One address fails for ten different accounts.
	for i := range 10 {
		wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.66", fmt.Sprintf("user%d", i), "guess"), http.StatusUnauthorized, "failure")
	}
	clock.Advance(time.Minute)
	// Now that address is refused, even for a real account and password...
	r := signinFrom(srv.NewClient(t), "192.0.2.66", "carol", "carol's long password")
	wantStatus(t, r, http.StatusTooManyRequests, "11th from the address")
	if r.Header.Get("Retry-After") != "540" || !strings.Contains(r.Body, "Try again in 9 minutes.") {
		t.Errorf("Retry-After %q, body:\n%s", r.Header.Get("Retry-After"), r.Body)
	}
	// ...and that refusal did not count against carol: from elsewhere she
	// signs in.
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.67", "carol", "carol's long password"), http.StatusSeeOther, "carol elsewhere")

	// An IPv6 client owns its /64: hopping addresses inside it does not help.
	for i := range 10 {
		wantStatus(t, signinFrom(srv.NewClient(t), fmt.Sprintf("2001:db8:1:2::%x", i+1), "x", "guess"), http.StatusUnauthorized, "v6 failure")
	}
	wantStatus(t, signinFrom(srv.NewClient(t), "2001:db8:1:2:ffff::1", "carol", "carol's long password"), http.StatusTooManyRequests, "same /64")
	wantStatus(t, signinFrom(srv.NewClient(t), "2001:db8:1:3::1", "carol", "carol's long password"), http.StatusSeeOther, "other /64")
}

// TestRetryAfterIsTheLongestWait: product.md §3, §6 — a throttled
// sign-in says when to try again. When both the name and the address are
// at their limits, that is when the later of the two windows passes:
// naming the first key's wait sent the user back to another 429.
func TestRetryAfterIsTheLongestWait(t *testing.T) {
	srv, clock := throttledServer(t)
	srv.NewClient(t).Signup("frank", "frank@example.com", "frank's long password")
	// Frank's name: ten failures from ten addresses; its window ends at 10 min.
	for i := range 10 {
		wantStatus(t, signinFrom(srv.NewClient(t), fmt.Sprintf("203.0.113.%d", i+1), "frank", "guess"), http.StatusUnauthorized, "failure on frank")
	}
	clock.Advance(3 * time.Minute)
	// One address: ten failures on other names; its window ends at 13 min.
	for i := range 10 {
		wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.80", fmt.Sprintf("other%d", i), "guess"), http.StatusUnauthorized, "failure from the address")
	}
	clock.Advance(time.Minute)
	r := signinFrom(srv.NewClient(t), "192.0.2.80", "frank", "frank's long password")
	wantStatus(t, r, http.StatusTooManyRequests, "name and address both at their limits")
	if got := r.Header.Get("Retry-After"); got != "540" || !strings.Contains(r.Body, "Try again in 9 minutes.") {
		t.Errorf("Retry-After %q (want 540, when the address's window passes); body:\n%s", got, r.Body)
	}
	// At the time named, the sign-in works.
	clock.Advance(9 * time.Minute)
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.80", "frank", "frank's long password"), http.StatusSeeOther, "at the time named")
}

// Only failures count: successes neither count nor wipe earlier failures.
func TestThrottleCountsFailuresOnly(t *testing.T) {
	srv, _ := throttledServer(t)
	c := srv.NewClient(t)
	c.Signup("dave", "dave@example.com", "dave's long password")
	for range 15 {
		wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.1", "dave", "dave's long password"), http.StatusSeeOther, "success")
	}
	for range 9 {
		wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.1", "dave", "wrong"), http.StatusUnauthorized, "failure")
	}
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.1", "dave", "dave's long password"), http.StatusSeeOther, "success after 9 failures")
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.1", "dave", "wrong"), http.StatusUnauthorized, "10th failure")
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.1", "dave", "dave's long password"), http.StatusTooManyRequests, "after 10 failures")
	// Forms with a field missing are not guesses and do not count.
	srv2, _ := throttledServer(t)
	srv2.NewClient(t).Signup("erin", "erin@example.com", "erin's long password")
	for range 20 {
		r := srv2.NewClient(t).Post("/signin", url.Values{"username": {"erin"}}, "X-Forwarded-For", "192.0.2.9")
		wantStatus(t, r, http.StatusUnprocessableEntity, "missing password")
	}
	wantStatus(t, signinFrom(srv2.NewClient(t), "192.0.2.9", "erin", "erin's long password"), http.StatusSeeOther, "erin")
}

// product.md §6: parallel guesses at one account still cannot get past
// its limit by more than the number of hashing slots (apptest's hasher has
// four). Forty wrong guesses from forty addresses at once: at most 14
// reach the hash, the rest are refused, and then the account stays shut
// for the window, the right password included.
func TestParallelGuessesStillLimited(t *testing.T) {
	srv, _ := throttledServer(t)
	srv.NewClient(t).Signup("frank", "frank@example.com", "frank's long password")
	counts := parallelSignins(t, srv, 40, func(i int) (string, string, string) {
		return fmt.Sprintf("203.0.113.%d", i+1), "frank", fmt.Sprintf("guess %d", i)
	})
	if counts[401] < 10 || counts[401] > 10+4 || counts[401]+counts[429] != 40 {
		t.Fatalf("answers %v, want 10 to 14 × 401 and the rest 429", counts)
	}
	if n := strings.Count(srv.Logs.String(), "sign-in failed"); n != counts[401] {
		t.Errorf("%d failures logged, %d answered 401", n, counts[401])
	}
	r := signinFrom(srv.NewClient(t), "198.51.100.99", "frank", "frank's long password")
	wantStatus(t, r, http.StatusTooManyRequests, "right password after the failures")
	if !strings.Contains(r.Body, "Try again in 10 minutes.") {
		t.Errorf("refusal should give the window's wait:\n%.1500s", r.Body)
	}
}

// product.md §6: only failures count against an address, so many people
// signing in at once from one address (an office behind NAT, a proxy not
// named in -trusted-proxies) are never refused while they type their own
// passwords right. Sixteen accounts sign in at the same moment from one
// address, three times over: every answer is 303.
func TestConcurrentSigninsFromOneAddress(t *testing.T) {
	srv, _ := throttledServer(t)
	for i := range 16 {
		srv.NewClient(t).Signup(fmt.Sprintf("nat%d", i), fmt.Sprintf("nat%d@example.com", i), "a long enough password")
	}
	for round := range 3 {
		counts := parallelSignins(t, srv, 16, func(i int) (string, string, string) {
			return "192.0.2.50", fmt.Sprintf("nat%d", i), "a long enough password"
		})
		if counts[http.StatusSeeOther] != 16 {
			t.Fatalf("round %d: answers %v, want 16 × 303", round+1, counts)
		}
	}
}

// Without a trusted proxy, X-Forwarded-For is the client's own claim and
// is ignored: the connection's address is counted.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for i := range 10 {
		r := signinFrom(srv.NewClient(t), fmt.Sprintf("203.0.113.%d", i+1), fmt.Sprintf("user%d", i), "guess")
		wantStatus(t, r, http.StatusUnauthorized, "failure")
	}
	r := signinFrom(srv.NewClient(t), "198.51.100.1", "someone", "guess")
	wantStatus(t, r, http.StatusTooManyRequests, "spoofed X-Forwarded-For")
	if !strings.Contains(srv.Logs.String(), "ip=127.0.0.1") {
		t.Error("log should name the connection's address")
	}
}

func TestThrottledMessageWording(t *testing.T) {
	srv, clock := throttledServer(t)
	for range 10 {
		signinFrom(srv.NewClient(t), "192.0.2.1", "gina", "guess")
	}
	for _, tc := range []struct {
		advance time.Duration
		want    string
		retry   string
	}{
		{0, "Try again in 10 minutes.", "600"},
		{9 * time.Minute, "Try again in 1 minute.", "60"},
		{30 * time.Second, "Try again in 30 seconds.", "30"},
		{29 * time.Second, "Try again in 1 second.", "1"},
	} {
		clock.Advance(tc.advance)
		r := signinFrom(srv.NewClient(t), "192.0.2.1", "gina", "guess")
		wantStatus(t, r, http.StatusTooManyRequests, tc.want)
		if !strings.Contains(r.Body, tc.want) || r.Header.Get("Retry-After") != tc.retry {
			t.Errorf("after +%v: Retry-After %q, want %q; message want %q", tc.advance, r.Header.Get("Retry-After"), tc.retry, tc.want)
		}
	}
}

// --- Security headers ------------------------------------------------------

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	signedIn := srv.NewClient(t)
	signedIn.Signup("hank", "hank@example.com", "hank's long password")
	guest := srv.NewClient(t)

	type req struct {
		name   string
		client *apptest.Client
		method string
		path   string
		form   url.Values
		hdr    []string
	}
	for _, rq := range []req{
		{"home", guest, "GET", "/", nil, nil},
		{"sign-in page", guest, "GET", "/signin", nil, nil},
		{"sign-up page", guest, "GET", "/signup", nil, nil},
		{"failed sign-in", guest, "POST", "/signin", url.Values{"username": {"x"}, "password": {"y"}}, nil},
		{"invalid sign-up", guest, "POST", "/signup", url.Values{}, nil},
		{"inline check", guest, "POST", "/signup/validate/username", url.Values{"username": {"hank"}}, nil},
		{"404", guest, "GET", "/nope", nil, nil},
		{"405", guest, "GET", "/signout", nil, nil},
		{"403", guest, "POST", "/signin", url.Values{}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"healthz", guest, "GET", "/healthz", nil, nil},
		{"static", guest, "GET", "/static/app.css", nil, nil},
		{"api 401", guest, "GET", "/api/me", nil, nil},
		{"dashboard", signedIn, "GET", "/dashboard", nil, nil},
		{"api me", signedIn, "GET", "/api/me", nil, nil},
		{"redirect", signedIn, "GET", "/signin", nil, nil},
	} {
		t.Run(rq.name, func(t *testing.T) {
			r := rq.client.Do(rq.method, rq.path, rq.form, rq.hdr...)
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "http:", "https:"} {
				if strings.Contains(csp, bad) {
					t.Errorf("CSP %q allows %q", csp, bad)
				}
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := r.Header.Get("Referrer-Policy"); got != "same-origin" {
				t.Errorf("Referrer-Policy = %q", got)
			}
		})
	}
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inlineEvent = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=|<style\b`)
	htmxConfig  = regexp.MustCompile(`<meta name="htmx-config" content='([^']*)'>`)
)

// Every page works under the CSP: scripts only from files, no inline
// handlers or styles, and htmx told not to eval or inject styles.
func TestPagesNeedNoInlineScriptOrStyle(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	pages := map[string]string{
		"home":           c.Get("/").Body,
		"signin":         c.Get("/signin?next=%2Fdashboard").Body,
		"signup":         c.Get("/signup").Body,
		"signup invalid": c.Post("/signup", url.Values{"username": {"x"}}).Body,
		"signin failed":  c.Post("/signin", url.Values{"username": {"x"}, "password": {"y"}}).Body,
		"404":            c.Get("/nope").Body,
	}
	c.Signup("ivan", "ivan@example.com", "ivan's long password")
	pages["dashboard"] = c.Get("/dashboard").Body
	for name, body := range pages {
		scripts := scriptTag.FindAllStringSubmatch(body, -1)
		if len(scripts) == 0 {
			t.Errorf("%s: no script tags at all", name)
		}
		for _, s := range scripts {
			if !strings.Contains(s[1], `src="/static/`) || strings.TrimSpace(s[2]) != "" {
				t.Errorf("%s: inline or foreign script %q", name, s[0])
			}
		}
		if m := inlineEvent.FindString(body); m != "" {
			t.Errorf("%s: inline event handler %q", name, m)
		}
		if m := styleAttr.FindString(body); m != "" {
			t.Errorf("%s: inline style %q", name, m)
		}
		cfg := htmxConfig.FindStringSubmatch(body)
		if cfg == nil {
			t.Errorf("%s: no htmx-config meta tag", name)
			continue
		}
		for _, want := range []string{`"allowEval":false`, `"includeIndicatorStyles":false`, `"allowScriptTags":false`} {
			if !strings.Contains(cfg[1], want) {
				t.Errorf("%s: htmx-config lacks %s: %s", name, want, cfg[1])
			}
		}
	}
}

func TestNoStoreWhereAccountDataIsShown(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("judy", "judy@example.com", "judy's long password")
	for _, path := range []string{"/dashboard", "/api/me", "/nope"} {
		r := c.Get(path)
		if got := r.Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
			t.Errorf("%s signed in: Cache-Control = %q, want no-store", path, got)
		}
	}
	if r := c.Get("/dashboard", "HX-Request", "true"); !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		t.Error("htmx dashboard request without no-store")
	}
	// Hashed static files stay cacheable.
	if got := c.Get("/static/app.css?v=1").Header.Get("Cache-Control"); strings.Contains(got, "no-store") {
		t.Errorf("static file: Cache-Control = %q", got)
	}
}

// --- Body limits -----------------------------------------------------------

func TestBodyLimit(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	big := strings.Repeat("a", 64<<10)
	for _, path := range []string{"/signin", "/signup", "/signup/validate/username", "/signout"} {
		c := srv.NewClient(t)
		r := c.Post(path, url.Values{"username": {big}, "password": {"x"}})
		if r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a 64 KiB field: %d, want 413", path, r.StatusCode)
		}
		if !strings.Contains(r.Body, "Too much data") {
			t.Errorf("%s: 413 page does not explain", path)
		}
	}
	// A body without Content-Length (chunked) is cut off at the limit too.
	req, _ := http.NewRequest("POST", srv.URL+"/signin", &endlessReader{})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked endless body: %d, want 413", resp.StatusCode)
	}
	// Just under the limit is read (and judged on its content).
	c := srv.NewClient(t)
	form := url.Values{"username": {"x"}, "password": {"y"}}
	form.Set("next", "/"+strings.Repeat("n", (64<<10)-len(form.Encode())-len("&next=%2F")-10))
	if r := c.Post("/signin", form); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("body just under 64 KiB: %d, want 401", r.StatusCode)
	}
	if n, _ := srv.Store.CountUsers(t.Context()); n != 0 {
		t.Errorf("%d users after oversize requests", n)
	}
}

// endlessReader is a request body that never ends: "a=aaaa…".
type endlessReader struct{ started bool }

func (r *endlessReader) Read(p []byte) (int, error) {
	n := 0
	if !r.started {
		n = copy(p, "a=")
		r.started = true
	}
	for i := n; i < len(p); i++ {
		p[i] = 'a'
	}
	return len(p), nil
}

// product.md §6: the same bound holds for an address: forty wrong guesses
// at forty names from one address at once pass its limit by at most the
// number of hashing slots (apptest's hasher has four).
func TestParallelGuessesFromOneAddressStillLimited(t *testing.T) {
	srv, _ := throttledServer(t)
	counts := parallelSignins(t, srv, 40, func(i int) (string, string, string) {
		return "203.0.113.77", fmt.Sprintf("name%d", i), "guess"
	})
	if counts[401] < 10 || counts[401] > 10+4 || counts[401]+counts[429] != 40 {
		t.Fatalf("answers %v, want 10 to 14 × 401 and the rest 429", counts)
	}
}
