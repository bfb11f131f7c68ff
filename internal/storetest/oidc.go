package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/oidcop"
)

// OIDC is what the OpenID Connect provider (product.md §12) needs of a
// backend: oidcop.Store. Store embeds it through the behaviour tests here.
type OIDC = oidcop.Store

func oidcStore(t *testing.T, s Store) OIDC {
	t.Helper()
	o, ok := s.(OIDC)
	if !ok {
		t.Fatal("the backend does not implement oidcop.Store")
	}
	return o
}

func newClient(t *testing.T, s OIDC, id string) db.OIDCClient {
	t.Helper()
	c := db.OIDCClient{ID: id, Name: "App " + id, SecretHash: db.HashToken("secret-" + id),
		RedirectURIs: []string{"https://app.example/cb", "http://localhost:3000/cb"}, Trusted: true, CreatedAt: now}
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	return c
}

// tokenRows are an access and a refresh token of one grant.
func tokenRows(u *db.User, clientID, grant, access, refresh string) []db.OIDCToken {
	base := db.OIDCToken{GrantID: grant, ClientID: clientID, UserID: u.ID, Scopes: []string{"openid", "email"},
		AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now}
	a, r := base, base
	a.Hash, a.Kind, a.ExpiresAt = db.HashToken(access), db.TokenAccess, now.Add(time.Hour)
	r.Hash, r.Kind, r.ExpiresAt = db.HashToken(refresh), db.TokenRefresh, now.Add(24*time.Hour)
	return []db.OIDCToken{a, r}
}

// authorized stores an authorization request allowed by u, with a code.
func authorized(t *testing.T, s OIDC, u *db.User, clientID, id, code string) {
	t.Helper()
	ctx := t.Context()
	err := s.CreateAuthRequest(ctx, db.OIDCAuthRequest{ID: id, ClientID: clientID, Data: []byte(`{"a":1}`),
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	if err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
	if err := s.SetAuthCode(ctx, id, db.HashToken(code)); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("code for a request nobody allowed: %v, want ErrNotFound", err)
	}
	if err := s.UpdateAuthRequest(ctx, id, u.ID, []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAuthCode(ctx, id, db.HashToken(code)); err != nil {
		t.Fatal(err)
	}
}

// Clients: created, listed by name, found, deleted once.
func testOIDCClients(t *testing.T, st Store) {
	s, ctx := oidcStore(t, st), t.Context()
	b := newClient(t, s, "b")
	a := newClient(t, s, "a")
	pub := db.OIDCClient{ID: "p", Name: "Public", RedirectURIs: []string{"https://p.example/cb"}, Public: true, CreatedAt: now}
	if err := s.CreateClient(ctx, pub); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client(ctx, "b")
	if err != nil || got.Name != b.Name || got.SecretHash != b.SecretHash || !slices.Equal(got.RedirectURIs, b.RedirectURIs) ||
		got.Public || !got.Trusted || !got.CreatedAt.Equal(now) {
		t.Errorf("Client = %+v, %v; want %+v", got, err, b)
	}
	if got, _ := s.Client(ctx, "p"); got == nil || !got.Public || got.Trusted || got.SecretHash != "" {
		t.Errorf("public client = %+v", got)
	}
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 3 || list[0].ID != a.ID || list[1].ID != b.ID || list[2].ID != "p" {
		t.Errorf("ListClients = %+v, %v", list, err)
	}
	if err := s.DeleteClient(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "a"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.Client(ctx, "a"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("deleted client: %v", err)
	}
}

// A code is exchanged once: the request goes, the tokens are stored; a
// second exchange (two at once too) finds nothing.
func testOIDCCodeExchange(t *testing.T, st Store) {
	s, ctx := oidcStore(t, st), t.Context()
	u := newUser(t, st, "alice", "hash")
	c := newClient(t, s, "app")
	authorized(t, s, u, c.ID, "req1", "code1")
	r, err := s.AuthRequestByCode(ctx, db.HashToken("code1"), now)
	if err != nil || r.ID != "req1" || r.UserID != u.ID || string(r.Data) != `{"a":2}` || !r.ExpiresAt.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("AuthRequestByCode = %+v, %v", r, err)
	}
	if _, err := s.AuthRequest(ctx, "req1", now.Add(11*time.Minute)); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("expired request: %v", err)
	}
	var wg sync.WaitGroup
	results := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.ExchangeCode(ctx, "req1", tokenRows(u, c.ID, "g", "access"+string(rune('a'+i)), "refresh"+string(rune('a'+i)))...)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, db.ErrNotFound):
			t.Errorf("exchange: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d exchanges of one code succeeded, want 1", won)
	}
	if _, err := s.AuthRequestByCode(ctx, db.HashToken("code1"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("request after the exchange: %v", err)
	}
}

// Refresh tokens rotate once; the used one coming back revokes its grant
// and nothing else.
func testOIDCRefreshRotation(t *testing.T, st Store) {
	s, ctx := oidcStore(t, st), t.Context()
	u := newUser(t, st, "alice", "hash")
	c := newClient(t, s, "app")
	authorized(t, s, u, c.ID, "req1", "code1")
	if err := s.ExchangeCode(ctx, "req1", tokenRows(u, c.ID, "g1", "a1", "r1")...); err != nil {
		t.Fatal(err)
	}
	authorized(t, s, u, c.ID, "req2", "code2")
	if err := s.ExchangeCode(ctx, "req2", tokenRows(u, c.ID, "g2", "other-a", "other-r")...); err != nil {
		t.Fatal(err)
	}
	tok, err := s.OIDCToken(ctx, db.HashToken("r1"), now)
	if err != nil || tok.Kind != db.TokenRefresh || tok.GrantID != "g1" || tok.UserID != u.ID ||
		!slices.Equal(tok.Scopes, []string{"openid", "email"}) || !slices.Equal(tok.AMR, []string{"pwd"}) ||
		!tok.AuthTime.Equal(now) || !tok.UsedAt.IsZero() {
		t.Fatalf("OIDCToken = %+v, %v", tok, err)
	}
	if err := s.RotateRefreshToken(ctx, db.HashToken("r1"), now, tokenRows(u, c.ID, "g1", "a2", "r2")...); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.OIDCToken(ctx, db.HashToken("r1"), now); tok == nil || !tok.UsedAt.Equal(now) {
		t.Errorf("used refresh token = %+v", tok)
	}
	if err := s.RotateRefreshToken(ctx, db.HashToken("r1"), now, tokenRows(u, c.ID, "g1", "a3", "r3")...); !errors.Is(err, db.ErrRefreshReused) {
		t.Fatalf("reuse: %v, want ErrRefreshReused", err)
	}
	for _, gone := range []string{"a1", "r1", "a2", "r2", "a3", "r3"} {
		if _, err := s.OIDCToken(ctx, db.HashToken(gone), now); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("token %s of the revoked grant: %v", gone, err)
		}
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("other-r"), now); err != nil {
		t.Errorf("another grant's token: %v", err)
	}
	if err := s.RotateRefreshToken(ctx, db.HashToken("unknown"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown refresh token: %v", err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("other-a"), now.Add(2*time.Hour)); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("expired access token: %v", err)
	}
	// Revoking a refresh token takes its grant; another client cannot.
	if err := s.RevokeOIDCToken(ctx, db.HashToken("other-r"), "someone-else"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("other-a"), now); err != nil {
		t.Errorf("another client revoked a token: %v", err)
	}
	if err := s.RevokeOIDCToken(ctx, db.HashToken("other-r"), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("other-a"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("access token of a revoked refresh token: %v", err)
	}
}

// Consents, Remove access, RevokeUserGrants (disabling, "This wasn't
// me"), and the cascade of a deleted client.
func testOIDCGrants(t *testing.T, st Store) {
	s, ctx := oidcStore(t, st), t.Context()
	alice, bob := newUser(t, st, "alice", "hash"), newUser(t, st, "bob", "hash")
	c1, c2 := newClient(t, s, "one"), newClient(t, s, "two")
	for _, u := range []*db.User{alice, bob} {
		for _, c := range []db.OIDCClient{c1, c2} {
			if err := s.PutConsent(ctx, db.OIDCConsent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid"}, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			g := u.Username + c.ID
			authorized(t, s, u, c.ID, "req-"+g, "code-"+g)
			if err := s.ExchangeCode(ctx, "req-"+g, tokenRows(u, c.ID, g, "a-"+g, "r-"+g)...); err != nil {
				t.Fatal(err)
			}
			authorized(t, s, u, c.ID, "pending-"+g, "pcode-"+g)
		}
	}
	if err := s.PutConsent(ctx, db.OIDCConsent{UserID: alice.ID, ClientID: c1.ID, Scopes: []string{"openid", "email"}, CreatedAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	k, err := s.Consent(ctx, alice.ID, c1.ID)
	if err != nil || !slices.Equal(k.Scopes, []string{"openid", "email"}) || !k.CreatedAt.Equal(now) {
		t.Errorf("widened consent = %+v, %v (created stays)", k, err)
	}
	list, err := s.UserConsents(ctx, alice.ID)
	if err != nil || len(list) != 2 || list[0].ClientName != "App one" || list[1].ClientID != "two" {
		t.Errorf("UserConsents = %+v, %v", list, err)
	}

	// Remove access: one app, one account.
	if err := s.RevokeUserClient(ctx, alice.ID, c1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consent(ctx, alice.ID, c1.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("consent after Remove access: %v", err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("r-aliceone"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("token after Remove access: %v", err)
	}
	if _, err := s.AuthRequest(ctx, "pending-aliceone", now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("pending request after Remove access: %v", err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("r-alicetwo"), now); err != nil {
		t.Errorf("the other app's token: %v", err)
	}

	// Every app of one account.
	if err := s.RevokeUserGrants(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.UserConsents(ctx, alice.ID); len(l) != 0 {
		t.Errorf("consents after RevokeUserGrants: %+v", l)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("a-alicetwo"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("token after RevokeUserGrants: %v", err)
	}
	if _, err := s.AuthRequest(ctx, "pending-alicetwo", now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("pending request after RevokeUserGrants: %v", err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("a-bobtwo"), now); err != nil {
		t.Errorf("bob's token after alice's revocation: %v", err)
	}

	// Deleting a client takes everything it held.
	if err := s.DeleteClient(ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("r-bobtwo"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("token of a deleted client: %v", err)
	}
	if l, _ := s.UserConsents(ctx, bob.ID); len(l) != 1 || l[0].ClientID != c1.ID {
		t.Errorf("bob's consents after the delete: %+v", l)
	}

	// Expired requests and tokens are cleaned up.
	n, err := s.DeleteExpiredOIDC(ctx, now.Add(25*time.Hour))
	if err != nil || n == 0 {
		t.Errorf("DeleteExpiredOIDC = %d, %v", n, err)
	}
	if _, err := s.OIDCToken(ctx, db.HashToken("r-bobone"), now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("expired token left: %v", err)
	}
}
