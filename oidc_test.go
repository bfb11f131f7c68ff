package main

// Tests of product.md §12: Gatehouse as an OpenID Connect provider, driven
// by a real relying party (coreos/go-oidc and x/oauth2) through the real
// program (run "serve") on SQLite and on PostgreSQL, with the clients made
// by `gatehouse client add`.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"gatehouse/internal/pgtest"
)

// rpRedirect is the relying party's registered redirect URI. Nothing
// listens there: the tests read the code from the redirect's Location.
const rpRedirect = "https://grafana.example.com/login/generic_oauth"

// oidcServer is a running Gatehouse with its database argument.
type oidcServer struct {
	base, dbArg, key string
	stop             func()
}

// startOIDC starts the program on backend ("sqlite" or "postgres") with
// its base URL set to where it listens, so the issuer is that URL.
func startOIDC(t *testing.T, backend string) *oidcServer {
	t.Helper()
	dir := t.TempDir()
	s := &oidcServer{key: filepath.Join(dir, "gatehouse.key")}
	switch backend {
	case "sqlite":
		s.dbArg = filepath.Join(dir, "auth.db")
	case "postgres":
		s.dbArg = pgtest.URL(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s.base = "http://" + addr
	_, _, s.stop = startWith(t, []string{"serve", "-addr", addr, "-db", s.dbArg, "-base-url", s.base, "-secret-key-file", s.key})
	t.Cleanup(s.stop)
	return s
}

// clientAdd runs `gatehouse client add` and returns client_id and secret.
func (s *oidcServer) clientAdd(t *testing.T, args ...string) (id, secret string) {
	t.Helper()
	var out strings.Builder
	full := append([]string{"client", "add", "-db", s.dbArg, "-secret-key-file", s.key}, args...)
	if err := run(context.Background(), full, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("client add: %v", err)
	}
	if m := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out.String()); m != nil {
		id = m[1]
	}
	if m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out.String()); m != nil {
		secret = m[1]
	}
	if id == "" {
		t.Fatalf("client add printed %q", out.String())
	}
	return id, secret
}

// exec runs one SQL statement straight on the database, for what no
// command offers yet (disabling an account is issue 17's).
func (s *oidcServer) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if strings.HasPrefix(s.dbArg, "postgres") {
		conn, err := pgx.Connect(context.Background(), s.dbArg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), query, args...); err != nil {
			t.Fatal(err)
		}
		return
	}
	d, err := sql.Open("sqlite3", "file:"+s.dbArg+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(strings.ReplaceAll(query, "$1", "?"), args...); err != nil {
		t.Fatal(err)
	}
}

// count runs a SELECT count(*) straight on the database.
func (s *oidcServer) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if strings.HasPrefix(s.dbArg, "postgres") {
		conn, err := pgx.Connect(context.Background(), s.dbArg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	d, err := sql.Open("sqlite3", "file:"+s.dbArg+"?_busy_timeout=5000&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// agent is a browser: a cookie jar, no redirects followed.
type agent struct {
	t *testing.T
	c *http.Client
}

func newAgent(t *testing.T) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status   int
	location string
	body     string
}

func (a *agent) do(method, u string, form url.Values) answer {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Location"), string(b)}
}

// abs makes a Location absolute against base.
func abs(base, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return base + loc
	}
	return loc
}

// rp is the relying party: go-oidc's provider from discovery, and an
// oauth2 config for one client.
type rp struct {
	provider *gooidc.Provider
	cfg      oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRP(t *testing.T, issuer, id, secret string, scopes ...string) *rp {
	t.Helper()
	p, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{
		provider: p,
		cfg: oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect,
			Scopes: scopes},
		verifier: p.Verifier(&gooidc.Config{ClientID: id}),
	}
}

// authorization is one authorization request's parameters.
type authorization struct {
	state, nonce, verifier string
}

func newAuthorization() authorization {
	return authorization{state: randomText(), nonce: randomText(), verifier: oauth2.GenerateVerifier()}
}

func randomText() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authURL is the app's redirect to the authorization endpoint.
func (r *rp) authURL(a authorization, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	return r.cfg.AuthCodeURL(a.state, opts...)
}

// returned checks that loc goes back to the app with state and returns its
// query.
func returned(t *testing.T, loc string, a authorization) url.Values {
	t.Helper()
	if !strings.HasPrefix(loc, rpRedirect+"?") {
		t.Fatalf("went to %q, want the app's redirect URI", loc)
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	if q.Get("state") != a.state {
		t.Fatalf("state %q, want %q", q.Get("state"), a.state)
	}
	return q
}

// signInAndAllow walks a signed-out browser through the whole flow: the
// authorization request, sign-in, consent (Allow), and returns the code.
func signInAndAllow(t *testing.T, s *oidcServer, b *agent, r *rp, a authorization, user string) string {
	t.Helper()
	ans := b.do("GET", r.authURL(a), nil)
	if ans.status != http.StatusFound || !strings.HasPrefix(ans.location, "/oauth/consent?id=") {
		t.Fatalf("authorize: %d %q %s", ans.status, ans.location, ans.body)
	}
	consent := ans.location
	ans = b.do("GET", s.base+consent, nil)
	if ans.status != http.StatusSeeOther || ans.location != "/signin?next="+url.QueryEscape(consent) {
		t.Fatalf("consent signed out: %d %q", ans.status, ans.location)
	}
	if ans = b.do("GET", s.base+ans.location, nil); ans.status != http.StatusOK || !strings.Contains(ans.body, `name="next" value="/oauth/consent?id=`) {
		t.Fatalf("sign-in page keeps next: %d", ans.status)
	}
	ans = b.do("POST", s.base+"/signin", url.Values{"username": {user}, "password": {cliPW}, "next": {consent}})
	if ans.status != http.StatusSeeOther || ans.location != consent {
		t.Fatalf("sign-in: %d %q, want back to %q", ans.status, ans.location, consent)
	}
	ans = b.do("GET", s.base+consent, nil)
	if ans.status != http.StatusOK || !strings.Contains(ans.body, "Sign in to Grafana?") ||
		!strings.Contains(ans.body, "Your email address") || !strings.Contains(ans.body, `value="allow"`) {
		t.Fatalf("consent page: %d\n%s", ans.status, ans.body)
	}
	id := strings.TrimPrefix(consent, "/oauth/consent?id=")
	ans = b.do("POST", s.base+"/oauth/consent", url.Values{"id": {id}, "decision": {"allow"}})
	if ans.status != http.StatusSeeOther {
		t.Fatalf("allow: %d %s", ans.status, ans.body)
	}
	code := returned(t, ans.location, a).Get("code")
	if code == "" {
		t.Fatalf("no code in %q", ans.location)
	}
	return code
}

// TestOIDCProvider is §12 end to end, on each backend: discovery, the
// code flow with PKCE through sign-in and consent, the ID token checked
// against the published keys, userinfo, refresh with rotation and reuse
// detection, prompt, consent denied, unknown client and redirect URI,
// RP-initiated sign-out, /account/apps, a disabled account, and client
// deletion.
func TestOIDCProvider(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testOIDCProvider(t, backend) })
	}
}

func testOIDCProvider(t *testing.T, backend string) {
	ctx := context.Background()
	s := startOIDC(t, backend)
	signup(t, s.base, "alice")
	signup(t, s.base, "bob")
	id, secret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect, "-redirect-uri", "https://grafana.example.com/")
	if secret == "" {
		t.Fatal("a confidential client got no secret")
	}
	r := newRP(t, s.base, id, secret, gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess)

	// Discovery lists the code flow only.
	disc := newAgent(t).do("GET", s.base+"/.well-known/openid-configuration", nil)
	for _, want := range []string{`"issuer":"` + s.base + `"`, `"response_types_supported":["code"]`,
		`"grant_types_supported":["authorization_code","refresh_token"]`, `"code_challenge_methods_supported":["S256"]`,
		`"end_session_endpoint":"` + s.base + `/oauth/end_session"`, `"revocation_endpoint"`, `"client_secret_post"`} {
		if !strings.Contains(disc.body, want) {
			t.Errorf("discovery lacks %s:\n%s", want, disc.body)
		}
	}
	if strings.Contains(disc.body, "implicit") || strings.Contains(disc.body, "id_token token") {
		t.Errorf("discovery lists another flow:\n%s", disc.body)
	}

	// The whole flow: sign in, allow, exchange the code with the verifier.
	alice := newAgent(t)
	a := newAuthorization()
	code := signInAndAllow(t, s, alice, r, a, "alice")
	tok, err := r.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := r.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Error("a code worked twice")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctx, raw) // signature against the JWKS, iss, aud, exp
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, a.nonce)
	}
	var claims struct {
		Sub               string   `json:"sub"`
		PreferredUsername string   `json:"preferred_username"`
		Email             string   `json:"email"`
		EmailVerified     *bool    `json:"email_verified"`
		Groups            []string `json:"groups"`
		AuthTime          int64    `json:"auth_time"`
		AMR               []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.ParseInt(claims.Sub, 10, 64); err != nil || claims.PreferredUsername != "alice" ||
		claims.Email != "alice@example.com" || claims.EmailVerified == nil || claims.Groups == nil ||
		claims.AuthTime == 0 || !slices.Equal(claims.AMR, []string{"pwd"}) {
		t.Errorf("ID token claims: %+v", claims)
	}
	info, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != claims.Sub || info.Email != "alice@example.com" {
		t.Fatalf("userinfo: %+v %v", info, err)
	}

	// Refresh rotates; the old refresh token used again revokes the grant.
	old := tok.RefreshToken
	fresh, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
	if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == old {
		t.Fatalf("refresh: %v (new %q)", err, fresh.RefreshToken)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err != nil {
		t.Fatalf("userinfo with the refreshed token: %v", err)
	}
	if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("old refresh token again: %v, want invalid_grant", err)
	}
	if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("the newer refresh token after the reuse: %v, want invalid_grant (grant revoked)", err)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
		t.Error("the access token of the revoked grant still works")
	}

	// Consent is remembered: signed in, the app gets a code at once, and
	// prompt=none too.
	for _, prompt := range []string{"", "none"} {
		a := newAuthorization()
		var opts []oauth2.AuthCodeOption
		if prompt != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
		}
		ans := alice.do("GET", r.authURL(a, opts...), nil)
		ans = alice.do("GET", abs(s.base, ans.location), nil)
		if ans.status != http.StatusFound || returned(t, ans.location, a).Get("code") == "" {
			t.Errorf("prompt=%q signed in and allowed: %d %q", prompt, ans.status, ans.location)
		}
	}

	// A HEAD of the consent page changes nothing (§6): no code for a link
	// checker; the GET after it still goes back to the app.
	a = newAuthorization()
	head := alice.do("GET", r.authURL(a), nil)
	if h := alice.do("HEAD", abs(s.base, head.location), nil); h.status != http.StatusOK || h.location != "" {
		t.Errorf("HEAD of the consent page: %d %q", h.status, h.location)
	}
	if g := alice.do("GET", abs(s.base, head.location), nil); returned(t, g.location, a).Get("code") == "" {
		t.Errorf("GET after HEAD: %d %q", g.status, g.location)
	}

	// prompt=login asks for the password again, then goes on.
	a = newAuthorization()
	ans := alice.do("GET", r.authURL(a, oauth2.SetAuthURLParam("prompt", "login")), nil)
	consent := ans.location
	ans = alice.do("GET", s.base+consent, nil)
	if ans.status != http.StatusOK || !strings.Contains(ans.body, "Sign in again to continue to Grafana.") ||
		!strings.Contains(ans.body, `action="/signin"`) {
		t.Fatalf("prompt=login: %d %q", ans.status, ans.location)
	}
	ans = alice.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}, "next": {consent}})
	if ans.status != http.StatusSeeOther || ans.location != consent {
		t.Fatalf("prompt=login sign-in: %d %q", ans.status, ans.location)
	}
	if ans = alice.do("GET", s.base+consent, nil); ans.status != http.StatusFound || returned(t, ans.location, a).Get("code") == "" {
		t.Fatalf("after prompt=login: %d %q", ans.status, ans.location)
	}

	// prompt=none without a session: login_required; without consent:
	// consent_required. Both go back to the app, with state.
	a = newAuthorization()
	nobody := newAgent(t)
	ans = nobody.do("GET", r.authURL(a, oauth2.SetAuthURLParam("prompt", "none")), nil)
	ans = nobody.do("GET", abs(s.base, ans.location), nil)
	if q := returned(t, ans.location, a); q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Errorf("prompt=none signed out: %q", ans.location)
	}
	bob := newAgent(t)
	if st := bob.do("POST", s.base+"/signin", url.Values{"username": {"bob"}, "password": {cliPW}}).status; st != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d", st)
	}
	a = newAuthorization()
	ans = bob.do("GET", r.authURL(a, oauth2.SetAuthURLParam("prompt", "none")), nil)
	ans = bob.do("GET", abs(s.base, ans.location), nil)
	if q := returned(t, ans.location, a); q.Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %q", ans.location)
	}

	// Deny: the app gets access_denied.
	a = newAuthorization()
	ans = bob.do("GET", r.authURL(a), nil)
	consent = ans.location
	if ans = bob.do("GET", s.base+consent, nil); ans.status != http.StatusOK || !strings.Contains(ans.body, `value="deny"`) {
		t.Fatalf("bob's consent page: %d", ans.status)
	}
	ans = bob.do("POST", s.base+"/oauth/consent", url.Values{"id": {strings.TrimPrefix(consent, "/oauth/consent?id=")}, "decision": {"deny"}})
	if q := returned(t, ans.location, a); ans.status != http.StatusSeeOther || q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("deny: %d %q", ans.status, ans.location)
	}

	// An unknown client or an unregistered redirect URI: an error page,
	// never a redirect.
	for name, u := range map[string]string{
		"unknown client":   strings.Replace(r.authURL(newAuthorization()), "client_id="+id, "client_id=nope", 1),
		"bad redirect URI": strings.Replace(r.authURL(newAuthorization()), url.QueryEscape(rpRedirect), url.QueryEscape("https://evil.example/cb"), 1),
		"redirect URI with a suffix": strings.Replace(r.authURL(newAuthorization()), url.QueryEscape(rpRedirect),
			url.QueryEscape(rpRedirect+"/x"), 1),
	} {
		ans := alice.do("GET", u, nil)
		if ans.status != http.StatusBadRequest || ans.location != "" || !strings.Contains(ans.body, "<h1>") {
			t.Errorf("%s: %d %q", name, ans.status, ans.location)
		}
	}

	// Codes, tokens and secrets are stored as hashes only.
	if backend == "sqlite" {
		var file []byte
		for _, suffix := range []string{"", "-wal"} {
			b, _ := os.ReadFile(s.dbArg + suffix)
			file = append(file, b...)
		}
		for name, v := range map[string]string{"client secret": secret, "refresh token": fresh.RefreshToken,
			"old refresh token": old, "code": code} {
			if strings.Contains(string(file), v) {
				t.Errorf("the database holds the %s", name)
			}
		}
	}

	// /account/apps lists the app; RP-initiated sign-out ends the session.
	if ans := alice.do("GET", s.base+"/account/apps", nil); ans.status != http.StatusOK ||
		!strings.Contains(ans.body, "Grafana") || !strings.Contains(ans.body, "Remove access") {
		t.Errorf("apps page: %d", ans.status)
	}
	c := freshCode(t, s, alice, r)
	tok, err = r.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(c.a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = tok.Extra("id_token").(string)
	ans = alice.do("GET", s.base+"/oauth/end_session?"+url.Values{"id_token_hint": {raw},
		"post_logout_redirect_uri": {rpRedirect}, "state": {"bye"}}.Encode(), nil)
	if ans.status != http.StatusFound || ans.location != rpRedirect+"?state=bye" {
		t.Errorf("end session: %d %q", ans.status, ans.location)
	}
	if ans := alice.do("GET", s.base+"/api/me", nil); ans.status != http.StatusUnauthorized {
		t.Errorf("after the app's sign-out /api/me: %d", ans.status)
	}
	ans = newAgent(t).do("GET", s.base+"/oauth/end_session?"+url.Values{"id_token_hint": {raw},
		"post_logout_redirect_uri": {"https://evil.example/"}}.Encode(), nil)
	if ans.status == http.StatusFound {
		t.Errorf("end session to an unregistered URI redirected to %q", ans.location)
	}

	// Remove access: the app's tokens stop working.
	alice = newAgent(t)
	code2 := signInAndAllowAgain(t, s, alice, r)
	tok, err = r.cfg.Exchange(ctx, code2.code, oauth2.VerifierOption(code2.a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if ans := alice.do("POST", s.base+"/account/apps/revoke", url.Values{"client_id": {id}}); ans.status != http.StatusSeeOther {
		t.Fatalf("remove access: %d", ans.status)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo works after Remove access")
	}
	// Both are in the account's activity (§13), with the app's name.
	for _, kind := range []string{"app_allowed", "app_removed"} {
		if n := s.count(t, `SELECT count(*) FROM security_events e JOIN users u ON u.id = e.user_id
			WHERE u.username = 'alice' AND e.kind = '`+kind+`' AND e.detail = 'Grafana'`); n == 0 {
			t.Errorf("no %s event recorded", kind)
		}
	}
	if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("refresh works after Remove access")
	}

	// A disabled account: its tokens are refused at the token and
	// userinfo endpoints.
	code3 := signInAndAllowAgain(t, s, alice, r)
	tok, err = r.cfg.Exchange(ctx, code3.code, oauth2.VerifierOption(code3.a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	s.exec(t, `UPDATE users SET disabled_at = 1 WHERE username = 'alice'`)
	ans = alice.do("GET", r.authURL(newAuthorization()), nil)
	// Disabling ends the account's sessions (§13): the consent page sends
	// the browser to sign in, where the right password gets 403.
	if ans = alice.do("GET", abs(s.base, ans.location), nil); ans.status != http.StatusSeeOther ||
		!strings.HasPrefix(ans.location, "/signin?next=") {
		t.Errorf("consent page for a disabled account: %d %q, want 303 to sign-in", ans.status, ans.location)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo answers for a disabled account")
	}
	if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh for a disabled account: %v", err)
	}
	s.exec(t, `UPDATE users SET disabled_at = NULL WHERE username = 'alice'`)

	// Deleting the client: its tokens stop working, its requests get the
	// error page.
	tok, err = r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh once enabled again: %v", err)
	}
	var out strings.Builder
	if err := run(ctx, []string{"client", "delete", "-db", s.dbArg, id}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("client delete: %v", err)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo works after the client was deleted")
	}
	if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("refresh works after the client was deleted")
	}
	if ans := alice.do("GET", r.authURL(newAuthorization()), nil); ans.status != http.StatusBadRequest || ans.location != "" {
		t.Errorf("authorize for a deleted client: %d %q", ans.status, ans.location)
	}
}

type codeFor struct {
	code string
	a    authorization
}

// freshCode gets a code for a signed-in browser that has allowed the app.
func freshCode(t *testing.T, s *oidcServer, b *agent, r *rp) codeFor {
	t.Helper()
	a := newAuthorization()
	ans := b.do("GET", r.authURL(a), nil)
	ans = b.do("GET", abs(s.base, ans.location), nil)
	return codeFor{returned(t, ans.location, a).Get("code"), a}
}

// signInAndAllowAgain signs a new browser in through the flow and allows.
func signInAndAllowAgain(t *testing.T, s *oidcServer, b *agent, r *rp) codeFor {
	t.Helper()
	a := newAuthorization()
	ans := b.do("GET", r.authURL(a), nil)
	consent := ans.location
	ans = b.do("GET", s.base+consent, nil)
	if ans.status == http.StatusSeeOther {
		b.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}, "next": {consent}})
		ans = b.do("GET", s.base+consent, nil)
	}
	if ans.status == http.StatusOK {
		ans = b.do("POST", s.base+"/oauth/consent", url.Values{"id": {strings.TrimPrefix(consent, "/oauth/consent?id=")}, "decision": {"allow"}})
	}
	return codeFor{returned(t, ans.location, a).Get("code"), a}
}

// isOAuthError reports whether err is the token endpoint's error code.
func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// A public client must use PKCE; a confidential one may; a wrong secret is
// refused (client_secret_basic and client_secret_post alike).
func TestOIDCClientAuthentication(t *testing.T) {
	ctx := context.Background()
	s := startOIDC(t, "sqlite")
	signup(t, s.base, "alice")
	pubID, pubSecret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect, "-public", "-trusted")
	if pubSecret != "" {
		t.Fatal("a public client got a secret")
	}
	pub := newRP(t, s.base, pubID, "", gooidc.ScopeOpenID)
	b := newAgent(t)
	if st := b.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}}).status; st != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	// Without PKCE, or with the plain method, a public client is sent
	// back at once with invalid_request (RFC 7636 §4.4.1): no code.
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no PKCE": nil,
		"plain": {oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")},
	} {
		a := newAuthorization()
		ans := b.do("GET", pub.cfg.AuthCodeURL(a.state, append(opts, gooidc.Nonce(a.nonce))...), nil)
		if q := returned(t, ans.location, a); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("public client, %s: %q, want invalid_request", name, ans.location)
		}
	}
	// With PKCE it does; a wrong verifier does not.
	c := freshCode(t, s, b, pub)
	if _, err := pub.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong code_verifier was accepted")
	}
	c = freshCode(t, s, b, pub)
	if _, err := pub.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(c.a.verifier)); err != nil {
		t.Errorf("public client with PKCE: %v", err)
	}

	confID, secret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect, "-trusted")
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		conf := newRP(t, s.base, confID, secret, gooidc.ScopeOpenID)
		conf.cfg.Endpoint.AuthStyle = style
		c := freshCode(t, s, b, conf)
		if _, err := conf.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(c.a.verifier)); err != nil {
			t.Errorf("auth style %d: %v", style, err)
		}
		conf.cfg.ClientSecret = secret + "x"
		c = freshCode(t, s, b, conf)
		if _, err := conf.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(c.a.verifier)); !isOAuthError(err, "invalid_client") {
			t.Errorf("auth style %d with a wrong secret: %v", style, err)
		}
	}
	// Other grants are refused.
	resp, err := http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("client_credentials: %d", resp.StatusCode)
	}
}

// `gatehouse client add|list|delete`: bad input is one clear line; list
// shows what add made; delete of an unknown id fails.
func TestClientCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	_ = base
	runClient := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"client"}, args...), env(nil), nil, &out, io.Discard)
		return out.String(), err
	}
	for _, bad := range [][]string{
		{"add", "-db", path, "Grafana"},
		{"add", "-db", path, "Grafana", "-redirect-uri", "ftp://x.example/cb"},
		{"add", "-db", path, "Grafana", "-redirect-uri", "https://x.example/cb#frag"},
		{"add", "-db", path, " ", "-redirect-uri", "https://x.example/cb"},
		{"delete", "-db", path, "nope"},
		{"frobnicate"},
	} {
		if _, err := runClient(bad...); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("client %v: %v, want one line", bad, err)
		}
	}
	out, err := runClient("add", "-db", path, "Gitea", "-redirect-uri", "https://git.example.com/user/oauth2/gatehouse/callback", "-public")
	if err != nil || !strings.Contains(out, "client_id: ") || strings.Contains(out, "client_secret") {
		t.Fatalf("add public: %v %q", err, out)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[0], "client_id: "))
	out, err = runClient("list", "-db", path)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "Gitea") || !strings.Contains(out, "public") {
		t.Fatalf("list: %v %q", err, out)
	}
	if _, err := runClient("delete", "-db", path, id); err != nil {
		t.Fatal(err)
	}
	if out, _ := runClient("list", "-db", path); strings.Contains(out, id) {
		t.Errorf("deleted client still listed: %q", out)
	}

	// Both are in the admin log, as the admin page writes them (product.md §13).
	log, err := adminLogOf(t, path)
	want := "Gitea (" + id + ")"
	if err != nil || len(log) != 2 ||
		log[0].Action != "deleted the app" || log[0].Detail != want || log[0].ActorName != "(command line)" || log[0].TargetID != 0 ||
		log[1].Action != "added the app" || log[1].Detail != want || log[1].ActorName != "(command line)" {
		t.Errorf("admin log = %+v, %v", log, err)
	}
}

// gatehouse copy moves the OpenID Connect tables too: after a copy to
// PostgreSQL (with the same key file) the app's refresh token works, the
// signing key is the same, and the account's apps are listed.
func TestCopyMovesOIDC(t *testing.T) {
	ctx := context.Background()
	s := startOIDC(t, "sqlite")
	signup(t, s.base, "alice")
	id, secret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect)
	r := newRP(t, s.base, id, secret, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	b := newAgent(t)
	a := newAuthorization()
	code := signInAndAllow(t, s, b, r, a, "alice")
	tok, err := r.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	keys := newAgent(t).do("GET", s.base+"/oauth/keys", nil).body
	s.stop()

	dbURL := pgtest.URL(t)
	var out strings.Builder
	if err := run(ctx, []string{"copy", "-from", s.dbArg, "-to", dbURL}, env(nil), nil, &out, &out); err != nil {
		t.Fatalf("copy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	_, _, stop := startWith(t, []string{"serve", "-addr", addr, "-db", dbURL, "-base-url", base, "-secret-key-file", s.key})
	defer stop()

	if got := newAgent(t).do("GET", base+"/oauth/keys", nil).body; got != keys {
		t.Errorf("signing keys after the copy:\n%s\nwant\n%s", got, keys)
	}
	pg := newRP(t, base, id, secret, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	fresh, err := pg.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh after the copy: %v", err)
	}
	if info, err := pg.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err != nil || info.Email != "alice@example.com" {
		t.Errorf("userinfo after the copy: %+v %v", info, err)
	}
	alice := newAgent(t)
	alice.do("POST", base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}})
	if ans := alice.do("GET", base+"/account/apps", nil); !strings.Contains(ans.body, "Grafana") {
		t.Errorf("apps after the copy: %d", ans.status)
	}
}

// product.md §12 with §10: an account with a second factor signs in to an
// app through the second step. The password answers 303 to /signin/2fa
// (the browser is not signed in yet, so the authorization request waits),
// the code goes on to the request, and the ID token says how the account
// signed in (amr: pwd, otp, mfa).
func TestOIDCSecondFactorRequired(t *testing.T) {
	ctx := context.Background()
	s := startOIDC(t, "sqlite")
	signup(t, s.base, "alice")
	secret := turnOnTOTP(t, newBrowser(t, s.base))
	id, sec := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect)
	r := newRP(t, s.base, id, sec, gooidc.ScopeOpenID)
	b := newAgent(t)
	a := newAuthorization()
	consent := b.do("GET", r.authURL(a), nil).location
	ans := b.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}, "next": {consent}})
	if ans.status != http.StatusSeeOther || !strings.HasPrefix(ans.location, "/signin/2fa") {
		t.Fatalf("password of an account with a second factor: %d %q", ans.status, ans.location)
	}
	if g := b.do("GET", s.base+consent, nil); g.status != http.StatusSeeOther || !strings.HasPrefix(g.location, "/signin?") {
		t.Fatalf("the request before the second step: %d %q, want sign-in", g.status, g.location)
	}
	ans = b.do("POST", s.base+"/signin/2fa", url.Values{"code": {totpNow(t, secret, 1)}})
	if ans.status != http.StatusSeeOther || ans.location != consent {
		t.Fatalf("second step: %d %q, want back to %q", ans.status, ans.location, consent)
	}
	if ans = b.do("GET", s.base+consent, nil); ans.status != http.StatusOK || !strings.Contains(ans.body, "Sign in to Grafana?") {
		t.Fatalf("consent after the second step: %d %q", ans.status, ans.location)
	}
	ans = b.do("POST", s.base+"/oauth/consent", url.Values{"id": {strings.TrimPrefix(consent, "/oauth/consent?id=")}, "decision": {"allow"}})
	tok, err := r.cfg.Exchange(ctx, returned(t, ans.location, a).Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	idt.Claims(&claims)
	if !slices.Equal(claims.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr %v, want [pwd otp mfa]", claims.AMR)
	}
}

// TestAppAccessEndsOnDisableAndNotMe: disabling an account (the
// `gatehouse user disable` command, the same account rule as the admin
// page) and "This wasn't me" end every app's access (product.md §13): the
// app's access and refresh tokens stop working, and stay dead when the
// account is enabled again, so it is the grant that is gone.
func TestAppAccessEndsOnDisableAndNotMe(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testAppAccessEnds(t, backend) })
	}
}

func testAppAccessEnds(t *testing.T, backend string) {
	ctx := context.Background()
	s := startOIDC(t, backend)
	signup(t, s.base, "alice")
	id, secret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect)
	r := newRP(t, s.base, id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	tokens := func() *oauth2.Token {
		t.Helper()
		c := signInAndAllowAgain(t, s, newAgent(t), r)
		tok, err := r.cfg.Exchange(ctx, c.code, oauth2.VerifierOption(c.a.verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v", err)
		}
		if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatalf("userinfo before: %v", err)
		}
		return tok
	}
	dead := func(when string, tok *oauth2.Token) {
		t.Helper()
		if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Errorf("%s: the access token still works", when)
		}
		if _, err := r.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Errorf("%s: refresh: %v, want invalid_grant", when, err)
		}
	}
	user := func(args ...string) {
		t.Helper()
		full := append([]string{"user"}, append(args[:1:1], append([]string{"-db", s.dbArg}, args[1:]...)...)...)
		if err := run(ctx, full, env(nil), nil, io.Discard, io.Discard); err != nil {
			t.Fatalf("%v: %v", full, err)
		}
	}

	// Disabling, then enabling again: the old tokens stay dead.
	tok := tokens()
	user("disable", "alice")
	if n := s.count(t, `SELECT count(*) FROM oidc_tokens`); n != 0 {
		t.Errorf("%d app tokens left after disabling", n)
	}
	user("enable", "alice")
	dead("disabled and enabled again", tok)

	// "This wasn't me" from another browser ends the app's access too.
	tok = tokens()
	b := newAgent(t)
	if st := b.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}}).status; st != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", st)
	}
	if ans := b.do("POST", s.base+"/account/not-me", url.Values{"current_password": {cliPW}}); ans.status != http.StatusSeeOther || ans.location != "/account" {
		t.Fatalf("not-me: %d %q", ans.status, ans.location)
	}
	dead("after This wasn't me", tok)
	if ans := b.do("GET", s.base+"/account/apps", nil); ans.status != http.StatusOK || strings.Contains(ans.body, "Remove access") {
		t.Errorf("apps page after This wasn't me: %d, still lists an app", ans.status)
	}
}

// product.md §15: with -log-format json, what the OpenID Connect library
// logs (a refused token request, an authorization request sent back with
// an error) is in the app's log, one JSON object per line like every
// other, and holds no secret, code or verifier that was sent.
func TestOIDCErrorsInTheAppsJSONLog(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &oidcServer{base: "http://" + addr, dbArg: filepath.Join(dir, "auth.db"), key: filepath.Join(dir, "gatehouse.key")}
	_, logs, stop := startWith(t, []string{"serve", "-addr", addr, "-db", s.dbArg, "-base-url", s.base,
		"-secret-key-file", s.key, "-log-format", "json"})
	defer stop()
	id, secret := s.clientAdd(t, "Grafana", "-redirect-uri", rpRedirect, "-trusted")
	pubID, _ := s.clientAdd(t, "Gitea", "-redirect-uri", rpRedirect, "-public", "-trusted")
	signup(t, s.base, "alice")

	// A token request with a made-up code and a wrong secret: refused
	// (op looks the code up first: 400 invalid_grant).
	wrongSecret, code, verifier := secret+"-wrong", randomText(), oauth2.GenerateVerifier()
	resp, err := http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpRedirect}, "client_id": {id}, "client_secret": {wrongSecret}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token request with a wrong secret: %d, want 400 or 401", resp.StatusCode)
	}
	// A made-up refresh token with the right secret: 400.
	refresh := randomText()
	resp, err = http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("made-up refresh token: %d, want 400", resp.StatusCode)
	}
	// A public client's request without PKCE, signed in: sent back with
	// invalid_request.
	b := newAgent(t)
	if st := b.do("POST", s.base+"/signin", url.Values{"username": {"alice"}, "password": {cliPW}}).status; st != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	a := newAuthorization()
	ans := b.do("GET", newRP(t, s.base, pubID, "", gooidc.ScopeOpenID).cfg.AuthCodeURL(a.state, gooidc.Nonce(a.nonce)), nil)
	if q := returned(t, ans.location, a); q.Get("error") != "invalid_request" {
		t.Fatalf("public client without PKCE: %q", ans.location)
	}
	stop()

	var tokenErr, authErr bool
	for i, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		for _, sent := range []string{secret, wrongSecret, code, verifier, refresh} {
			if strings.Contains(line, sent) {
				t.Errorf("line %d holds a value sent to the token endpoint:\n%s", i+1, line)
			}
		}
		switch rec["msg"] {
		case "request error":
			tokenErr = tokenErr || rec["level"] == "WARN"
		case "auth request", "auth request redirect":
			authErr = authErr || rec["level"] == "WARN"
		}
	}
	if !tokenErr || !authErr {
		t.Errorf("the library's warnings are not in the app's log (token endpoint %v, authorization endpoint %v):\n%s",
			tokenErr, authErr, logs.String())
	}
}
