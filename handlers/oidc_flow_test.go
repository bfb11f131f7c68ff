package handlers_test

// product.md §12 at the provider's endpoints through the real router: what
// the authorization and end-session endpoints refuse, what a HEAD of
// them leaves alone (§6), and what a sign-out through an app records (§13).

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/oidcop"
)

// oidcApp is a signed-in browser and a registered app on a running
// server, for the authorization and end-session endpoints.
type oidcApp struct {
	srv              *apptest.Server
	c                *apptest.Client // alice, signed in
	id, secret, back string          // the client and its redirect URI
}

const oidcPW = "correct horse battery"

// newOIDCApp starts a server with alice signed in and one trusted app
// (no consent page), public or confidential.
func newOIDCApp(t *testing.T, public bool) *oidcApp {
	t.Helper()
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	c.Signup("alice", "alice@example.com", oidcPW)
	back := "https://app.example.com/cb"
	client, secret, err := oidcop.AddClient(t.Context(), srv.Store,
		oidcop.NewClient{Name: "App", RedirectURIs: []string{back}, Public: public, Trusted: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &oidcApp{srv: srv, c: c, id: client.ID, secret: secret, back: back}
}

// authorize is the app's authorization request with params added to
// client_id, redirect_uri, response_type=code and state=s1.
func (o *oidcApp) authorize(method string, params url.Values) *apptest.Response {
	q := url.Values{"client_id": {o.id}, "redirect_uri": {o.back}, "response_type": {"code"}, "state": {"s1"}}
	for k, v := range params {
		q[k] = v
	}
	return o.c.Do(method, oidcop.PathAuthorize+"?"+q.Encode(), nil)
}

// pkce returns a code_verifier and its S256 code_challenge.
func pkce() (verifier, challenge string) {
	verifier = strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// idToken walks the code flow for alice and returns the ID token.
func (o *oidcApp) idToken(t *testing.T) string {
	t.Helper()
	verifier, challenge := pkce()
	r := o.authorize(http.MethodGet, url.Values{"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}})
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), oidcop.PathConsent) {
		t.Fatalf("authorize: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = o.c.Get(r.Header.Get("Location"))
	code := o.returned(t, r).Get("code")
	if code == "" {
		t.Fatalf("no code: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = o.srv.NewClient(t).Post(oidcop.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {o.back}, "client_id": {o.id}, "client_secret": {o.secret}, "code_verifier": {verifier}})
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token endpoint: %d %s", r.StatusCode, r.Body)
	}
	return tok.IDToken
}

// returned checks that r sends the browser back to the app with the state
// and returns the query it carries.
func (o *oidcApp) returned(t *testing.T, r *apptest.Response) url.Values {
	t.Helper()
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(loc, o.back+"?") {
		t.Fatalf("%d %q, want 302 to the app's redirect URI", r.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("state") != "s1" {
		t.Fatalf("state lost: %q", loc)
	}
	return u.Query()
}

// requests counts the stored authorization requests.
func (o *oidcApp) requests(t *testing.T) int {
	t.Helper()
	var n int
	if err := o.srv.RawDB(t).QueryRow(`SELECT count(*) FROM oidc_auth_requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// §6 with §12: HEAD never changes anything, at the provider's endpoints
// too: a HEAD of an authorization request stores no request, and a HEAD
// of an app's sign-out link ends no session. The GETs after them work.
func TestOIDCHeadChangesNothing(t *testing.T) {
	o := newOIDCApp(t, false)
	_, challenge := pkce()
	params := url.Values{"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	if r := o.authorize(http.MethodHead, params); r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" {
		t.Errorf("HEAD of an authorization request: %d %q, want 200", r.StatusCode, r.Header.Get("Location"))
	}
	if n := o.requests(t); n != 0 {
		t.Errorf("a HEAD stored %d authorization requests", n)
	}
	if r := o.authorize(http.MethodGet, params); r.StatusCode != http.StatusFound || o.requests(t) != 1 {
		t.Errorf("GET after the HEAD: %d %q", r.StatusCode, r.Header.Get("Location"))
	}

	signOut := oidcop.PathEndSession + "?" + url.Values{"id_token_hint": {o.idToken(t)}, "post_logout_redirect_uri": {o.back}}.Encode()
	if r := o.c.Do(http.MethodHead, signOut, nil); r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" {
		t.Errorf("HEAD of the end-session link: %d %q, want 200", r.StatusCode, r.Header.Get("Location"))
	}
	if r := o.c.Get("/api/me"); r.StatusCode != http.StatusOK {
		t.Fatalf("a HEAD of the end-session link signed out: /api/me %d", r.StatusCode)
	}
	expect(t, o.c.Get(signOut), http.StatusFound, o.back)
	if r := o.c.Get("/api/me"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the GET of the end-session link /api/me: %d, want 401", r.StatusCode)
	}
}

// §12: PKCE S256 is required for public clients: plain, or no
// code_challenge, goes back to the app as invalid_request (RFC 7636
// §4.4.1) and stores nothing. A confidential client may go without, but
// a challenge it sends is S256 too (discovery lists no other method).
func TestOIDCPublicClientNeedsS256(t *testing.T) {
	o := newOIDCApp(t, true)
	_, challenge := pkce()
	for name, params := range map[string]url.Values{
		"plain":             {"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"plain"}},
		"no method":         {"scope": {"openid"}, "code_challenge": {challenge}}, // plain by default (RFC 7636 §4.3)
		"no code_challenge": {"scope": {"openid"}},
	} {
		if q := o.returned(t, o.authorize(http.MethodGet, params)); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("%s: %v, want error=invalid_request", name, q)
		}
	}
	if n := o.requests(t); n != 0 {
		t.Errorf("%d refused requests stored", n)
	}
	r := o.authorize(http.MethodGet, url.Values{"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}})
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), oidcop.PathConsent) {
		t.Errorf("S256: %d %q, want on to the consent page", r.StatusCode, r.Header.Get("Location"))
	}

	conf := newOIDCApp(t, false)
	for name, params := range map[string]url.Values{
		"plain":     {"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"plain"}},
		"no method": {"scope": {"openid"}, "code_challenge": {challenge}},
	} {
		if q := conf.returned(t, conf.authorize(http.MethodGet, params)); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("confidential client, %s: %v, want error=invalid_request", name, q)
		}
	}
	if n := conf.requests(t); n != 0 {
		t.Errorf("%d refused requests of the confidential client stored", n)
	}
	for name, params := range map[string]url.Values{
		"without PKCE": {"scope": {"openid"}},
		"with S256":    {"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
	} {
		r = conf.authorize(http.MethodGet, params)
		if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), oidcop.PathConsent) {
			t.Errorf("confidential client %s: %d %q, want on to the consent page", name, r.StatusCode, r.Header.Get("Location"))
		}
	}
}

// §12: the openid scope is required: a request without it goes back to
// the app as invalid_scope and stores nothing.
func TestOIDCOpenIDScopeRequired(t *testing.T) {
	o := newOIDCApp(t, false)
	_, challenge := pkce()
	for _, scope := range []string{"profile", "profile email", "offline_access", "nonsense"} {
		r := o.authorize(http.MethodGet, url.Values{"scope": {scope}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}})
		if q := o.returned(t, r); q.Get("error") != "invalid_scope" || q.Get("code") != "" {
			t.Errorf("scope=%q: %v, want error=invalid_scope", scope, q)
		}
	}
	if n := o.requests(t); n != 0 {
		t.Errorf("%d refused requests stored", n)
	}
}

// §13: a sign-out through an app (the end-session endpoint) is a
// "signed out" event like POST /signout's, with the browser and address.
func TestOIDCEndSessionRecordsSignedOut(t *testing.T) {
	o := newOIDCApp(t, false)
	signOut := oidcop.PathEndSession + "?" + url.Values{"id_token_hint": {o.idToken(t)}, "post_logout_redirect_uri": {o.back}}.Encode()
	expect(t, o.c.Do(http.MethodGet, signOut, nil, "User-Agent", "Firefox/140"), http.StatusFound, o.back)
	if got := eventKinds(t, o.srv, "alice", "signed_out"); len(got) != 1 {
		t.Fatalf("signed_out events after the app's sign-out: %v, want one", got)
	}
	var ua, ip string
	err := o.srv.RawDB(t).QueryRow(`SELECT user_agent, ip FROM security_events WHERE kind = 'signed_out'`).Scan(&ua, &ip)
	if err != nil || ua != "Firefox/140" || ip != "127.0.0.1" {
		t.Errorf("the event's browser and address: %q %q (%v)", ua, ip, err)
	}
	// Nothing is recorded when there was no session to end.
	stranger := o.srv.NewClient(t)
	expect(t, stranger.Get(signOut), http.StatusFound, o.back)
	if got := eventKinds(t, o.srv, "alice", "signed_out"); len(got) != 1 {
		t.Errorf("signed_out events after a sign-out link opened signed out: %v", got)
	}
}

// product.md §12: prompt=login asks for the password again and then goes
// on, also for an account with a second factor. Its password step ends
// the browser's session before the second step starts the new one, so on
// SQLite the new session can take the old one's row id; the new sign-in
// must still count as fresh and not ask again.
func TestOIDCPromptLoginWithSecondFactor(t *testing.T) {
	srv, clock := sfServer(t)
	b := srv.NewClient(t)
	b.Signup("alice", "alice@example.com", sfPassword)
	secret, _ := enableTOTP(t, b, clock)
	back := "https://app.example.com/cb"
	client, _, err := oidcop.AddClient(t.Context(), srv.Store,
		oidcop.NewClient{Name: "App", RedirectURIs: []string{back}, Trusted: true}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second) // a later sign-in, and a new code step

	q := url.Values{"client_id": {client.ID}, "redirect_uri": {back}, "response_type": {"code"},
		"state": {"s1"}, "scope": {"openid"}, "prompt": {"login"}}
	r := b.Get(oidcop.PathAuthorize + "?" + q.Encode())
	consent := r.Header.Get("Location")
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(consent, oidcop.PathConsent) {
		t.Fatalf("authorize: %d %q", r.StatusCode, consent)
	}
	r = b.Get(consent)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `name="password"`) {
		t.Fatalf("prompt=login should ask for the password: %d\n%.2000s", r.StatusCode, r.Body)
	}
	clock.Advance(5 * time.Second) // the time it takes to type a password
	signinPassword(t, b, url.Values{"next": {consent}})
	r = b.Post("/signin/2fa", url.Values{"code": {codeAt(t, secret, clock.Now())}, "next": {consent}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != consent {
		t.Fatalf("second step: %d %q, want 303 %q", r.StatusCode, r.Header.Get("Location"), consent)
	}
	r = b.Get(consent)
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || !strings.HasPrefix(loc, back+"?code=") {
		t.Fatalf("after signing in again: %d %q, want 302 to the app with a code; body:\n%.1500s", r.StatusCode, loc, r.Body)
	}
}

// §12: an error in a request from a registered client to one of its
// redirect URIs goes back to the app as an RFC 6749 error: a max_age
// that is not a number of seconds is invalid_request at the redirect URI
// (with the state), not a plain-text 400 of the parser's words, and
// nothing is stored.
func TestOIDCBadMaxAgeGoesBackToTheApp(t *testing.T) {
	o := newOIDCApp(t, false)
	for _, maxAge := range []string{"abc", "-5", "1.5", "99999999999999999999999"} {
		r := o.authorize(http.MethodGet, url.Values{"scope": {"openid"}, "max_age": {maxAge}})
		if q := o.returned(t, r); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("max_age=%s: %v, want error=invalid_request", maxAge, q)
		}
	}
	if n := o.requests(t); n != 0 {
		t.Errorf("%d refused requests stored", n)
	}
	r := o.authorize(http.MethodGet, url.Values{"scope": {"openid"}, "max_age": {"600"}})
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), oidcop.PathConsent) {
		t.Errorf("max_age=600: %d %q, want on to the consent page", r.StatusCode, r.Header.Get("Location"))
	}
}

// An end-session request whose query or form does not parse (a bad %
// escape) is the app's or the visitor's mistake: 400, not a 500, and the
// session goes on.
func TestOIDCEndSessionBadFormIs400(t *testing.T) {
	o := newOIDCApp(t, false)
	if r := o.c.Get(oidcop.PathEndSession + "?id_token_hint=%zz"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("GET with a bad escape: %d, want 400", r.StatusCode)
	}
	resp, err := http.Post(o.c.Base+oidcop.PathEndSession, "application/x-www-form-urlencoded", strings.NewReader("id_token_hint=%zz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST with a bad escape: %d, want 400", resp.StatusCode)
	}
	if r := o.c.Get("/api/me"); r.StatusCode != http.StatusOK {
		t.Errorf("after the bad requests /api/me: %d, want 200 (still signed in)", r.StatusCode)
	}
}
