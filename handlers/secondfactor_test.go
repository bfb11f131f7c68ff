package handlers_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
)

const sfPassword = "correct horse battery"

var (
	secretRe = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	codeRe   = regexp.MustCompile(`<code>([a-z0-9]{5}-[a-z0-9]{5})</code>`)
)

// codeAt is the authenticator code of secret at t, computed the way an
// app does (RFC 6238, SHA-1, 6 digits, 30 s).
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sfServer starts a server whose clock the test moves, at the start of a
// 30-second step so that steps are predictable.
func sfServer(t *testing.T) (*apptest.Server, *fakeClock) {
	t.Helper()
	start := time.Now().Truncate(30 * time.Second).Add(time.Second)
	clock := &fakeClock{t: start}
	srv := apptest.Start(t, apptest.Options{Configure: func(cfg *handlers.Config) { cfg.Now = clock.Now }})
	return srv, clock
}

// enableTOTP turns the authenticator on for the signed-in client through
// the pages, with the code of the current step, and returns the secret
// (read from the setup page, as a person would) and the recovery codes.
func enableTOTP(t *testing.T, b *apptest.Client, clock *fakeClock) (string, []string) {
	t.Helper()
	r := b.Post("/account/totp/setup", url.Values{"current_password": {sfPassword}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("setup: %d\n%s", r.StatusCode, r.Body)
	}
	m := secretRe.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no secret on the setup page:\n%s", r.Body)
	}
	r = b.Post("/account/totp/enable", url.Values{"code": {codeAt(t, m[1], clock.Now())}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d\n%s", r.StatusCode, r.Body)
	}
	var codes []string
	for _, c := range codeRe.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("enable showed %d recovery codes, want 10:\n%s", len(codes), r.Body)
	}
	return m[1], codes
}

// signinPassword posts the right password and expects the second step.
func signinPassword(t *testing.T, b *apptest.Client, form url.Values) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("username", "alice")
	form.Set("password", sfPassword)
	r := b.Post("/signin", form)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/signin/2fa") {
		t.Fatalf("password step: %d %q, want 303 /signin/2fa", r.StatusCode, r.Header.Get("Location"))
	}
}

// product.md §10: setup shows a secret (QR image, text, otpauth URI) and
// turns nothing on; enable needs a code of that secret (wrong: 422 and the
// same secret again) and shows 10 recovery codes once; it ends the user's
// other sessions and marks this one as having passed a second factor.
func TestTOTPSetupAndEnable(t *testing.T) {
	srv, clock := sfServer(t)
	b := srv.NewClient(t)
	b.Signup("alice", "alice@example.com", sfPassword)
	other := srv.NewClient(t)
	other.Signin("alice", sfPassword)

	if r := b.Get("/account"); !strings.Contains(r.Body, `href="/account/security"`) {
		t.Error("/account does not link to /account/security")
	}
	r := b.Get("/account/security")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "Off") || !strings.Contains(r.Body, `action="/account/totp/setup"`) {
		t.Fatalf("security page: %d\n%s", r.StatusCode, r.Body)
	}
	for _, c := range []struct{ pw, msg string }{{"", "Enter your current password."}, {"wrong password!", "Your current password is not correct."}} {
		r := b.Post("/account/totp/setup", url.Values{"current_password": {c.pw}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, c.msg) {
			t.Errorf("setup with password %q: %d, want 422 with %q", c.pw, r.StatusCode, c.msg)
		}
	}
	r = b.Post("/account/totp/setup", url.Values{"current_password": {sfPassword}})
	m := secretRe.FindStringSubmatch(r.Body)
	if r.StatusCode != http.StatusOK || m == nil || !strings.Contains(r.Body, `src="data:image/png;base64,`) ||
		!strings.Contains(html.UnescapeString(r.Body), "otpauth://totp/") || !strings.Contains(html.UnescapeString(r.Body), "secret="+m[1]) {
		t.Fatalf("setup page: %d\n%s", r.StatusCode, r.Body)
	}
	secret := m[1]
	if len(secret) != 32 { // 160 bits in base32
		t.Errorf("secret %q has %d characters, want 32 (160 bits)", secret, len(secret))
	}
	if has, err := srv.Store.HasSecondFactor(t.Context(), 1); err != nil || has {
		t.Errorf("after setup alone: HasSecondFactor = %v, %v; want false", has, err)
	}

	wrong := codeAt(t, secret, clock.Now().Add(-10*time.Minute))
	r = b.Post("/account/totp/enable", url.Values{"code": {wrong}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Incorrect code.") ||
		!strings.Contains(r.Body, `id="totp-secret">`+secret+`<`) {
		t.Fatalf("enable with a wrong code: %d, want 422 with the same secret\n%s", r.StatusCode, r.Body)
	}
	if r := b.Post("/account/totp/enable", url.Values{"code": {""}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("enable with no code: %d, want 422", r.StatusCode)
	}
	// The previous step is accepted when enabling too.
	// The previous step's code, typed with a space as authenticator apps
	// show it ("123 456"): accepted, as at the second step.
	prev := codeAt(t, secret, clock.Now().Add(-30*time.Second))
	r = b.Post("/account/totp/enable", url.Values{"code": {prev[:3] + " " + prev[3:]}})
	codes := codeRe.FindAllStringSubmatch(r.Body, -1)
	if r.StatusCode != http.StatusOK || len(codes) != 10 || !strings.Contains(r.Body, "Store these codes") ||
		!strings.Contains(r.Body, `action="/account/recovery-codes/download"`) {
		t.Fatalf("enable: %d with %d codes\n%s", r.StatusCode, len(codes), r.Body)
	}
	if me := other.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("other session after enable: /api/me %d, want 401", me.StatusCode)
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusOK {
		t.Errorf("this session after enable: /api/me %d, want 200", me.StatusCode)
	}
	var factor bool
	if err := srv.RawDB(t).QueryRow(`SELECT second_factor FROM user_sessions`).Scan(&factor); err != nil || !factor {
		t.Errorf("this session's second_factor = %v, %v; want true", factor, err)
	}
	if r := b.Get("/account/security"); !strings.Contains(r.Body, "<strong>10</strong> unused recovery codes") {
		t.Errorf("security page after enable does not count 10 codes:\n%s", r.Body)
	}

	// The download gives the codes back as a text file.
	all := make([]string, len(codes))
	for i, c := range codes {
		all[i] = c[1]
	}
	d := b.Post("/account/recovery-codes/download", url.Values{"codes": {strings.Join(all, " ")}})
	if d.StatusCode != http.StatusOK || !strings.HasPrefix(d.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(d.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(d.Body, all[0]+"\n") {
		t.Errorf("download: %d %q %q\n%s", d.StatusCode, d.Header.Get("Content-Type"), d.Header.Get("Content-Disposition"), d.Body)
	}
	if d := b.Post("/account/recovery-codes/download", url.Values{"codes": {"<script>"}}); d.StatusCode != http.StatusBadRequest {
		t.Errorf("download of something that is no code: %d, want 400", d.StatusCode)
	}
	events := srv.RawDB(t)
	var n int
	if err := events.QueryRow(`SELECT count(*) FROM security_events WHERE kind = 'totp_enabled'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("totp_enabled events: %d, %v; want 1", n, err)
	}
}

// product.md §10: the second step of a sign-in. The password alone signs
// nobody in (/api/me 401, /dashboard to sign-in); the previous, current
// and next step are accepted, each code once (no replay); a wrong code is
// 401 "Incorrect code."; next is kept; the token is renewed; the session
// remembers the code.
func TestSecondStep(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)
	now := clock.Now()

	b := srv.NewClient(t)
	if r := b.Get("/signin/2fa"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("GET /signin/2fa with no pending step: %d %q, want 303 /signin", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b.Post("/signin/2fa", url.Values{"code": {"123456"}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("POST /signin/2fa with no pending step: %d %q, want 303 /signin", r.StatusCode, r.Header.Get("Location"))
	}
	r := b.Post("/signin", url.Values{"username": {"alice"}, "password": {sfPassword}, "next": {"/account/sessions"}, "rd": {"https://app.example.com/x"}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Path != "/signin/2fa" || loc.Query().Get("next") != "/account/sessions" ||
		loc.Query().Get("rd") != "https://app.example.com/x" {
		t.Fatalf("password step: %d %q, want 303 /signin/2fa keeping next and rd", r.StatusCode, r.Header.Get("Location"))
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/me while the second step is pending: %d, want 401", me.StatusCode)
	}
	if d := b.Get("/dashboard"); d.StatusCode != http.StatusSeeOther || !strings.HasPrefix(d.Header.Get("Location"), "/signin") {
		t.Errorf("/dashboard while pending: %d %q, want 303 to sign-in", d.StatusCode, d.Header.Get("Location"))
	}
	page := b.Get("/signin/2fa")
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Body, `name="code"`) || !strings.Contains(page.Body, `autocomplete="one-time-code"`) {
		t.Fatalf("second-step page: %d\n%s", page.StatusCode, page.Body)
	}
	if strings.Contains(page.Body, "data-passkey-signin") {
		t.Error("second-step page offers a passkey to an account without one")
	}
	if r := b.Post("/signin/2fa", url.Values{"code": {""}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("empty code: %d, want 422", r.StatusCode)
	}
	for _, bad := range []string{codeAt(t, secret, now.Add(-2*time.Minute)), "abc", "12345", "<b>"} {
		r := b.Post("/signin/2fa", url.Values{"code": {bad}})
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Body, "Incorrect code.") {
			t.Errorf("code %q: %d, want 401 Incorrect code.", bad, r.StatusCode)
		}
	}
	// The code that turned the authenticator on was accepted once already.
	if r := b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, now)}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the code used to enable, again: %d, want 401 (replay)", r.StatusCode)
	}
	// The previous step's code is accepted.
	before := b.Cookie("session")
	r = b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, now.Add(-30*time.Second))}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/sessions" {
		t.Fatalf("previous step's code: %d %q, want 303 /account/sessions\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	if b.Cookie("session") == before {
		t.Error("the session token was not renewed when the second step passed")
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusOK {
		t.Errorf("/api/me after the second step: %d", me.StatusCode)
	}
	// The next step is accepted; the previous one, now used, is not.
	c2 := srv.NewClient(t)
	signinPassword(t, c2, nil)
	if r := c2.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, now.Add(-30*time.Second))}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed code: %d, want 401", r.StatusCode)
	}
	if r := c2.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, now.Add(30*time.Second))}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Errorf("next step's code: %d %q, want 303 /dashboard", r.StatusCode, r.Header.Get("Location"))
	}
	var method string
	var factor bool
	if err := srv.RawDB(t).QueryRow(`SELECT method, second_factor FROM user_sessions ORDER BY id DESC LIMIT 1`).Scan(&method, &factor); err != nil ||
		method != "password+code" || !factor {
		t.Errorf("session signed in with a code: method %q, second_factor %v (%v)", method, factor, err)
	}
}

// product.md §10: the pending step lasts 5 minutes; a password change in
// between voids it.
func TestSecondStepExpires(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)

	b := srv.NewClient(t)
	signinPassword(t, b, nil)
	clock.Advance(5 * time.Minute)
	if r := b.Get("/signin/2fa"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("after 5 minutes: GET /signin/2fa %d %q, want 303 /signin", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, clock.Now())}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("after 5 minutes: POST %d %q, want 303 /signin", r.StatusCode, r.Header.Get("Location"))
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/me: %d, want 401", me.StatusCode)
	}

	c := srv.NewClient(t)
	signinPassword(t, c, nil)
	r := owner.Post("/account/password", url.Values{"current_password": {sfPassword}, "new_password": {"a brand new password"}, "new_password_confirm": {"a brand new password"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", r.StatusCode)
	}
	clock.Advance(30 * time.Second)
	if r := c.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, clock.Now())}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("second step after a password change: %d %q, want 303 /signin", r.StatusCode, r.Header.Get("Location"))
	}
	if me := c.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/me: %d, want 401", me.StatusCode)
	}
}

// product.md §10, §6: wrong codes count against the account's sign-in
// limit: past 10, 429 with Retry-After, even with the right code.
func TestSecondStepThrottled(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)
	b := srv.NewClient(t)
	signinPassword(t, b, nil)
	for i := range 10 {
		if r := b.Post("/signin/2fa", url.Values{"code": {"000000"}}); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	r := b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, clock.Now())}})
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Try again in") {
		t.Errorf("11th try: %d Retry-After %q, want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// The wrong codes counted against the client address too: its
	// password sign-ins are refused now as well.
	c := srv.NewClient(t)
	if r := c.Post("/signin", url.Values{"username": {"alice"}, "password": {sfPassword}}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("password step from the same address: %d, want 429", r.StatusCode)
	}
	var n int
	if err := srv.RawDB(t).QueryRow(`SELECT count(*) FROM security_events WHERE kind = 'sign_in_failed' AND detail = 'wrong_code'`).Scan(&n); err != nil || n != 10 {
		t.Errorf("wrong_code events: %d, %v; want 10", n, err)
	}
}

// product.md §10, §6: wrong codes count against the account's limit, and
// "parallel guesses at one account still cannot get past its limit by
// more than the number of hashing slots" (apptest's hasher has four).
// Forty wrong codes posted at once in one pending step: at most 14 are
// checked (401), the rest are refused (429). Each guess is a 3-in-a-million
// chance at the authenticator, so a burst that the limit did not bound
// would wear the second factor down.
func TestParallelWrongCodesStillLimited(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, owner, clock)
	b := srv.NewClient(t)
	signinPassword(t, b, nil)
	right := codeAt(t, secret, clock.Now().Add(30*time.Second))
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			code := fmt.Sprintf("%06d", 100000+i)
			if code == right {
				code = "000000"
			}
			r := b.Post("/signin/2fa", url.Values{"code": {code}})
			mu.Lock()
			counts[r.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[401] < 10 || counts[401] > 10+4 || counts[401]+counts[429] != 40 {
		t.Fatalf("answers %v, want 10 to 14 × 401 and the rest 429", counts)
	}
	if n := strings.Count(srv.Logs.String(), "second step failed"); n != counts[401] {
		t.Errorf("%d failures logged, %d answered 401", n, counts[401])
	}
	if r := b.Post("/signin/2fa", url.Values{"code": {right}}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right code after the burst: %d, want 429", r.StatusCode)
	}
}

// product.md §10: recovery codes: typed leniently, each works once; new
// codes replace the old; turning the authenticator off needs a code and
// ends the codes (no passkey remains).
// Turning the authenticator off with a recovery code uses the code up and
// says so in the security activity (product.md §13), beside the
// authenticator going off; with a code from the app only the latter.
func TestDisableWithRecoveryCodeRecorded(t *testing.T) {
	srv, clock := sfServer(t)

	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	_, codes := enableTOTP(t, owner, clock)
	r := owner.Post("/account/totp/disable", url.Values{"current_password": {sfPassword}, "code": {codes[0]}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable with a recovery code: %d, want 303\n%s", r.StatusCode, r.Body)
	}
	if got := eventKinds(t, srv, "alice", "recovery_code_used", "totp_disabled"); !slices.Equal(got, []string{"recovery_code_used", "totp_disabled"}) {
		t.Errorf("events after turning off with a recovery code: %v", got)
	}

	other := srv.NewClient(t)
	other.Signup("bob", "bob@example.com", sfPassword)
	secret, _ := enableTOTP(t, other, clock)
	clock.Advance(time.Minute) // a step whose code was not used to turn it on
	r = other.Post("/account/totp/disable", url.Values{"current_password": {sfPassword}, "code": {codeAt(t, secret, clock.Now())}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable with an app code: %d, want 303\n%s", r.StatusCode, r.Body)
	}
	if got := eventKinds(t, srv, "bob", "recovery_code_used", "totp_disabled"); !slices.Equal(got, []string{"totp_disabled"}) {
		t.Errorf("events after turning off with an app code: %v", got)
	}
}

func TestRecoveryCodesAndDisable(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, codes := enableTOTP(t, owner, clock)

	b := srv.NewClient(t)
	signinPassword(t, b, nil)
	typed := "  " + strings.ToUpper(strings.ReplaceAll(codes[0], "-", " - ")) + " "
	if r := b.Post("/signin/2fa", url.Values{"code": {typed}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery code typed as %q: %d, want 303\n%s", typed, r.StatusCode, r.Body)
	}
	var method string
	if err := srv.RawDB(t).QueryRow(`SELECT method FROM user_sessions ORDER BY id DESC LIMIT 1`).Scan(&method); err != nil || method != "recovery-code" {
		t.Errorf("method %q (%v), want recovery-code", method, err)
	}
	c := srv.NewClient(t)
	signinPassword(t, c, nil)
	if r := c.Post("/signin/2fa", url.Values{"code": {codes[0]}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a used recovery code: %d, want 401", r.StatusCode)
	}
	if r := owner.Get("/account/security"); !strings.Contains(r.Body, "<strong>9</strong> unused recovery codes") {
		t.Error("security page does not count 9 codes left")
	}

	r := owner.Post("/account/recovery-codes", url.Values{"current_password": {"nope nope nope"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("new codes with a wrong password: %d, want 422", r.StatusCode)
	}
	r = owner.Post("/account/recovery-codes", url.Values{"current_password": {sfPassword}})
	fresh := codeRe.FindAllStringSubmatch(r.Body, -1)
	if r.StatusCode != http.StatusOK || len(fresh) != 10 {
		t.Fatalf("new codes: %d with %d codes", r.StatusCode, len(fresh))
	}
	if r := c.Post("/signin/2fa", url.Values{"code": {codes[1]}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("an old code after renewal: %d, want 401", r.StatusCode)
	}
	if r := c.Post("/signin/2fa", url.Values{"code": {fresh[0][1]}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a new code: %d, want 303", r.StatusCode)
	}

	// Turning the authenticator off: the password and a code.
	r = owner.Post("/account/totp/disable", url.Values{"current_password": {sfPassword}, "code": {"000000"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Incorrect code.") {
		t.Errorf("disable with a wrong code: %d, want 422 Incorrect code.", r.StatusCode)
	}
	r = owner.Post("/account/totp/disable", url.Values{"current_password": {sfPassword}, "code": {""}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(strings.TrimSpace(r.Body), `<form id="disable-form"`) {
		t.Errorf("disable with no code (htmx): %d, want 422 and the form fragment\n%s", r.StatusCode, r.Body)
	}
	clock.Advance(30 * time.Second)
	r = owner.Post("/account/totp/disable", url.Values{"current_password": {sfPassword}, "code": {codeAt(t, secret, clock.Now())}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/security" {
		t.Fatalf("disable: %d %q, want 303 /account/security", r.StatusCode, r.Header.Get("Location"))
	}
	if me := c.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("other session after disable: %d, want 401", me.StatusCode)
	}
	if p := owner.Get("/account/security"); !strings.Contains(p.Body, "The authenticator app is off.") || !strings.Contains(p.Body, "Off") {
		t.Error("no notice or Off after disable")
	}
	var left int
	if err := srv.RawDB(t).QueryRow(`SELECT count(*) FROM recovery_codes`).Scan(&left); err != nil || left != 0 {
		t.Errorf("recovery codes after disable: %d, %v; want 0", left, err)
	}
	d := srv.NewClient(t)
	if r := d.Signin("alice", sfPassword); r.Header.Get("Location") != "/dashboard" {
		t.Errorf("sign-in after disable goes to %q, want /dashboard", r.Header.Get("Location"))
	}
	if r := owner.Post("/account/recovery-codes", url.Values{"current_password": {sfPassword}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("new codes without a second factor: %d, want 422", r.StatusCode)
	}
}

// product.md §10: the secret is stored sealed and codes as hashes: no
// text or blob in the database holds the secret or a recovery code.
func TestNoSecretInDatabase(t *testing.T) {
	srv, clock := sfServer(t)
	owner := srv.NewClient(t)
	owner.Signup("alice", "alice@example.com", sfPassword)
	secret, codes := enableTOTP(t, owner, clock)
	// A pending setup is sealed too.
	r := owner.Post("/account/totp/setup", url.Values{"current_password": {sfPassword}})
	pending := secretRe.FindStringSubmatch(r.Body)[1]
	needles := []string{secret, strings.ToLower(secret), pending}
	for _, c := range codes {
		needles = append(needles, c, strings.ReplaceAll(c, "-", ""))
	}
	raw := srv.RawDB(t)
	tables := queryStrings(t, raw, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	checked := 0
	for _, table := range tables {
		rows, err := raw.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				s := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					s = string(b)
				}
				checked++
				for _, n := range needles {
					if strings.Contains(s, n) {
						t.Errorf("%s.%s holds %q", table, cols[i], n)
					}
				}
			}
		}
		rows.Close()
	}
	if checked == 0 {
		t.Fatal("checked nothing")
	}
}
