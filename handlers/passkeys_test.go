package handlers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
)

// postJSON sends a JSON body as the passkey script does.
func postJSON(c *apptest.Client, path, body string) (*apptest.Response, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Client.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return &apptest.Response{Response: resp}, m
}

// product.md §10: the WebAuthn begin steps. Adding a passkey needs a name
// and the current password (422 JSON with field errors otherwise) and
// answers options for a discoverable credential with user verification;
// signing in answers a challenge for any discoverable passkey; a finish
// with a challenge never given fails without signing in.
func TestPasskeyBegin(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "http://gatehouse.test"})
	b := srv.NewClient(t)
	b.Signup("alice", "alice@example.com", sfPassword)

	r, m := postJSON(b, "/account/passkeys/register/begin", `{"name":"","current_password":"wrong one!"}`)
	fields, _ := m["fields"].(map[string]any)
	if r.StatusCode != http.StatusUnprocessableEntity || fields["name"] != "Give the passkey a name." ||
		fields["current_password"] != "Your current password is not correct." {
		t.Errorf("register begin with bad input: %d %v", r.StatusCode, m)
	}
	r, m = postJSON(b, "/account/passkeys/register/begin", `{"name":"Laptop","current_password":"`+sfPassword+`"}`)
	pk, _ := m["publicKey"].(map[string]any)
	if r.StatusCode != http.StatusOK || m["id"] == "" || pk == nil {
		t.Fatalf("register begin: %d %v", r.StatusCode, m)
	}
	sel, _ := pk["authenticatorSelection"].(map[string]any)
	rp, _ := pk["rp"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "required" || rp["id"] != "gatehouse.test" {
		t.Errorf("creation options: rp %v, selection %v", rp, sel)
	}
	if r, _ := postJSON(b, "/account/passkeys/register/begin", `not json`); r.StatusCode != http.StatusBadRequest {
		t.Errorf("register begin with no JSON: %d, want 400", r.StatusCode)
	}

	anon := srv.NewClient(t)
	r, m = postJSON(anon, "/signin/passkey/begin", `{}`)
	pk, _ = m["publicKey"].(map[string]any)
	if r.StatusCode != http.StatusOK || pk["userVerification"] != "required" || pk["allowCredentials"] != nil {
		t.Errorf("sign-in begin: %d %v", r.StatusCode, m)
	}
	r, _ = postJSON(anon, "/signin/passkey/finish", `{"id":"never-given","credential":{}}`)
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("finish with an unknown challenge: %d, want 400", r.StatusCode)
	}
	if me := anon.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/me after a failed passkey sign-in: %d", me.StatusCode)
	}
}

// POST /signin/passkey/begin is open to anyone and stores a challenge per
// call, so one client address gets account.PasskeyChallenges' worth (300
// in 10 minutes) and then 429 with Retry-After, storing nothing more;
// another address is served, and the window passing frees the first.
func TestPasskeyBeginLimitedPerAddress(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv := apptest.Start(t, apptest.Options{
		BaseURL:        "http://gatehouse.test",
		TrustedProxies: []string{"127.0.0.1"},
		Configure:      func(cfg *handlers.Config) { cfg.Now = clock.Now },
	})
	c := srv.NewClient(t)
	begin := func(ip string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, c.Base+"/signin/passkey/begin", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	challenges := func() (n int) {
		srv.RawDB(t).QueryRow(`SELECT count(*) FROM one_time`).Scan(&n)
		return n
	}
	limit := account.PasskeyChallenges.Limit
	for i := range limit {
		r := begin("192.0.2.10")
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("begin %d of %d: %d, want 200", i+1, limit, r.StatusCode)
		}
	}
	stored := challenges()
	r := begin("192.0.2.10")
	var m map[string]any
	json.NewDecoder(r.Body).Decode(&m)
	r.Body.Close()
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(fmt.Sprint(m["message"]), "Too many passkey sign-ins from your network. Try again in ") {
		t.Errorf("begin %d: %d, Retry-After %q, %v; want 429 with a wait", limit+1, r.StatusCode, r.Header.Get("Retry-After"), m)
	}
	if got := challenges(); got != stored {
		t.Errorf("a refused begin stored a challenge: %d, then %d", stored, got)
	}
	if r := begin("192.0.2.11"); r.StatusCode != http.StatusOK {
		t.Errorf("another address: %d, want 200", r.StatusCode)
	}
	clock.Advance(account.PasskeyChallenges.Window + time.Second)
	if r := begin("192.0.2.10"); r.StatusCode != http.StatusOK {
		t.Errorf("after the window: %d, want 200", r.StatusCode)
	}
}

// Passkeys need a domain name: with an IP address as the base URL's host
// the passkey routes are not there and no control is shown.
func TestPasskeysOffForIPBaseURL(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	c := srv.NewClient(t)
	for _, path := range []string{"/signin/passkey/begin", "/signin/passkey/finish"} {
		if r, _ := postJSON(c, path, `{}`); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
	in := srv.NewClient(t)
	in.Signup("alice", "alice@example.com", "correct horse battery")
	for _, path := range []string{"/account/passkeys/register/begin", "/account/passkeys/register/finish"} {
		if r, _ := postJSON(in, path, `{}`); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s signed in: %d, want 404", path, r.StatusCode)
		}
	}
	if p := c.Get("/signin"); strings.Contains(p.Body, "data-passkey-signin") {
		t.Error("/signin offers a passkey")
	}
	if !strings.Contains(srv.Logs.String(), "passkeys are off") {
		t.Error("no warning that passkeys are off")
	}
}

// product.md §10: removing a passkey needs the current password, answers
// 404 for one that is not the user's, ends the other sessions, and takes
// the recovery codes with the last second factor. An account with a
// passkey gets the second step after its password.
func TestPasskeyDelete(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "http://gatehouse.test"})
	b := srv.NewClient(t)
	b.Signup("alice", "alice@example.com", sfPassword)
	srv.NewClient(t).Signup("bob", "bob@example.com", sfPassword)
	elsewhere := srv.NewClient(t)
	elsewhere.Signin("alice", sfPassword) // before the passkey: the password alone
	ctx := t.Context()
	alice, _ := srv.Store.UserByUsername(ctx, "alice")
	bob, _ := srv.Store.UserByUsername(ctx, "bob")
	now := time.Now()
	id, err := srv.Store.AddPasskey(ctx, db.Passkey{UserID: alice.ID, CredentialID: []byte("cred-a"), Name: "Phone <1>", Credential: []byte("{}"), CreatedAt: now}, []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	bobs, _ := srv.Store.AddPasskey(ctx, db.Passkey{UserID: bob.ID, CredentialID: []byte("cred-b"), Name: "Bob's", Credential: []byte("{}"), CreatedAt: now}, nil)

	page := b.Get("/account/security")
	if !strings.Contains(page.Body, "Phone &lt;1&gt;") || !strings.Contains(page.Body, "Never") || !strings.Contains(page.Body, `aria-label="Remove the passkey Phone &lt;1&gt;"`) {
		t.Errorf("security page does not list the passkey:\n%s", page.Body)
	}
	other := srv.NewClient(t)
	other.Post("/signin", url.Values{"username": {"alice"}, "password": {sfPassword}})
	if p := other.Get("/signin/2fa"); p.StatusCode != http.StatusOK || !strings.Contains(p.Body, "data-passkey-signin") {
		t.Errorf("second step of an account with a passkey: %d, passkey offered: %v", p.StatusCode, strings.Contains(p.Body, "data-passkey-signin"))
	}

	sid := strconv.FormatInt(id, 10)
	r := b.Post("/account/passkeys/delete", url.Values{"id": {sid}, "current_password": {"nope nope nope"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="passkeys-card"`) {
		t.Errorf("delete with a wrong password (htmx): %d, want 422 and the passkey card\n%s", r.StatusCode, r.Body)
	}
	if r := b.Post("/account/passkeys/delete", url.Values{"id": {strconv.FormatInt(bobs, 10)}, "current_password": {sfPassword}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("delete bob's passkey: %d, want 404", r.StatusCode)
	}
	r = b.Post("/account/passkeys/delete", url.Values{"id": {sid}, "current_password": {sfPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/security" {
		t.Fatalf("delete: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if me := elsewhere.Get("/api/me"); me.StatusCode != http.StatusUnauthorized {
		t.Errorf("another session after removing a passkey: %d, want 401", me.StatusCode)
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusOK {
		t.Errorf("this session after removing a passkey: %d, want 200", me.StatusCode)
	}
	if has, _ := srv.Store.HasSecondFactor(ctx, alice.ID); has {
		t.Error("alice still has a second factor")
	}
	if n, _ := srv.Store.RecoveryCodesLeft(ctx, alice.ID); n != 0 {
		t.Errorf("recovery codes after the last passkey: %d", n)
	}
	var n int
	if err := srv.RawDB(t).QueryRow(`SELECT count(*) FROM security_events WHERE kind = 'passkey_removed' AND detail = 'Phone <1>'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("passkey_removed events: %d, %v", n, err)
	}
	if _, err := srv.Store.PasskeyByCredentialID(ctx, []byte("cred-b")); err != nil {
		t.Errorf("bob's passkey: %v", err)
	}
}

// softPasskey is a discoverable passkey held in the test: an ECDSA P-256
// key that answers WebAuthn assertions as an authenticator would, with
// user presence and verification, for the relying party rpID.
type softPasskey struct {
	rpID   string
	origin string
	userID int64
	credID []byte
	key    *ecdsa.PrivateKey
	count  uint32
}

// addSoftPasskey makes a passkey for the account and stores it as a
// registration would have.
func addSoftPasskey(t *testing.T, srv *apptest.Server, rpID, origin string, userID int64) *softPasskey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := &softPasskey{rpID: rpID, origin: origin, userID: userID, credID: make([]byte, 16), key: key}
	rand.Read(pk.credID)
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        pub[1:33],
		YCoord:        pub[33:],
	})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := json.Marshal(webauthn.Credential{
		ID: pk.credID, PublicKey: cose, AttestationType: "none",
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store.AddPasskey(context.Background(), db.Passkey{
		UserID: userID, CredentialID: pk.credID, Name: "Test key", Credential: cred, CreatedAt: time.Now(),
	}, nil); err != nil {
		t.Fatal(err)
	}
	return pk
}

// aliceWithPasskey signs alice up through c and gives her a software
// passkey for rpID, used from origin.
func aliceWithPasskey(t *testing.T, srv *apptest.Server, c *apptest.Client, rpID, origin string) *softPasskey {
	t.Helper()
	c.Signup("alice", "alice@example.com", sfPassword)
	var id int64
	if err := srv.RawDB(t).QueryRow(`SELECT id FROM users WHERE username = 'alice'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return addSoftPasskey(t, srv, rpID, origin, id)
}

// assert answers a sign-in challenge (base64url, as the begin step gives
// it) with the credential JSON that passkey.js posts.
func (pk *softPasskey) assert(t *testing.T, challenge string) json.RawMessage {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	clientData, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": pk.origin, "crossOrigin": false})
	rp := sha256.Sum256([]byte(pk.rpID))
	pk.count++
	authData := append(rp[:], 0x05) // user present, user verified
	authData = binary.BigEndian.AppendUint32(authData, pk.count)
	cd := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(slices.Clone(authData), cd[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, pk.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64(pk.credID), "rawId": b64(pk.credID), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(authData),
			"signature":         b64(sig),
			"userHandle":        b64(binary.BigEndian.AppendUint64(nil, uint64(pk.userID))),
		},
	})
	return out
}

// passkeySignin runs the passkey sign-in as passkey.js does on the page
// (begin, then finish with the page's hidden fields) and returns the
// finish answer.
func passkeySignin(t *testing.T, c *apptest.Client, pk *softPasskey, fields map[string]string) (*apptest.Response, map[string]any) {
	t.Helper()
	r, m := postJSON(c, "/signin/passkey/begin", `{}`)
	pub, _ := m["publicKey"].(map[string]any)
	challenge, _ := pub["challenge"].(string)
	if r.StatusCode != http.StatusOK || challenge == "" {
		t.Fatalf("passkey begin: %d %v", r.StatusCode, m)
	}
	body := map[string]any{"id": m["id"], "credential": pk.assert(t, challenge)}
	for k, v := range fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return postJSON(c, "/signin/passkey/finish", string(b))
}

// product.md §11: "rd on /signin and /signin/2fa is honoured after
// success ... rd wins over next", and §8: whatever the way in, the same
// rules hold. A passkey sign-in on /signin?rd=… (the page's hidden rd
// field, sent by passkey.js) returns to the app like a password sign-in;
// a foreign rd still falls back to next or the dashboard.
func TestSpec11PasskeySigninRd(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{
		BaseURL:   "http://auth.gatehouse.test",
		Configure: func(c *handlers.Config) { c.CookieDomain = "gatehouse.test" },
	})
	client := func() *apptest.Client { return apptest.NewClientVia(t, "http://auth.gatehouse.test", srv.Addr()) }
	pk := aliceWithPasskey(t, srv, client(), "auth.gatehouse.test", "http://auth.gatehouse.test")

	page := client().Get("/signin?rd=" + url.QueryEscape("https://app.gatehouse.test/wiki?p=1"))
	if !strings.Contains(page.Body, `name="rd" value="https://app.gatehouse.test/wiki?p=1"`) {
		t.Fatalf("the sign-in page does not keep rd:\n%s", page.Body)
	}
	for _, c := range []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"rd": "https://app.gatehouse.test/wiki?p=1"}, "https://app.gatehouse.test/wiki?p=1"},
		{map[string]string{"rd": "https://app.gatehouse.test/", "next": "/account"}, "https://app.gatehouse.test/"},
		{map[string]string{"rd": "https://evil.example/", "next": "/account"}, "/account"},
		{map[string]string{"rd": "https://app.gatehouse.test@evil.example/"}, "/dashboard"},
		{map[string]string{}, "/dashboard"},
	} {
		b := client()
		r, m := passkeySignin(t, b, pk, c.fields)
		if r.StatusCode != http.StatusOK || m["redirect"] != c.want {
			t.Errorf("passkey sign-in with %v: %d %v, want redirect %q", c.fields, r.StatusCode, m, c.want)
		}
		if me := b.Get("/api/me"); me.StatusCode != http.StatusOK {
			t.Errorf("/api/me after the passkey sign-in: %d", me.StatusCode)
		}
	}
}

// A base URL written with capitals and a default port
// (http://Auth.Gatehouse.test:80) names the origin browsers write as
// http://auth.gatehouse.test: a passkey sign-in from it works (as the
// cross-origin check accepts it, product.md §6).
func TestPasskeyOriginAsBrowsersWriteIt(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{BaseURL: "http://Auth.Gatehouse.test:80"})
	client := func() *apptest.Client { return apptest.NewClientVia(t, "http://auth.gatehouse.test", srv.Addr()) }
	pk := aliceWithPasskey(t, srv, client(), "auth.gatehouse.test", "http://auth.gatehouse.test")
	b := client()
	if r, m := passkeySignin(t, b, pk, nil); r.StatusCode != http.StatusOK || m["redirect"] != "/dashboard" {
		t.Fatalf("passkey sign-in: %d %v, want 200 and on to /dashboard", r.StatusCode, m)
	}
	if me := b.Get("/api/me"); me.StatusCode != http.StatusOK {
		t.Errorf("/api/me after the passkey sign-in: %d", me.StatusCode)
	}
}
