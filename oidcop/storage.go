package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/db"
)

// AuthRequest is an authorization request as op sees it (op.AuthRequest)
// and as it is kept between the steps: its JSON is the data column of
// oidc_auth_requests.
type AuthRequest struct {
	ID                  string                   `json:"-"`
	ClientID            string                   `json:"client_id"`
	RedirectURI         string                   `json:"redirect_uri"`
	Scopes              []string                 `json:"scopes"`
	State               string                   `json:"state,omitempty"`
	Nonce               string                   `json:"nonce,omitempty"`
	ResponseType        oidc.ResponseType        `json:"response_type"`
	CodeChallenge       string                   `json:"code_challenge,omitempty"`
	CodeChallengeMethod oidc.CodeChallengeMethod `json:"code_challenge_method,omitempty"`
	Prompt              []string                 `json:"prompt,omitempty"`
	// MaxAge is max_age in seconds; prompt=login makes it 0 (op does).
	MaxAge *uint `json:"max_age,omitempty"`
	// Seen is set when the browser first reached the consent page, and
	// SessionID is the Gatehouse session it had then (0 for none): a
	// sign-in that is to count as fresh (prompt=login, max_age) must be
	// another session.
	Seen      bool  `json:"seen,omitempty"`
	SessionID int64 `json:"session_id,omitempty"`
	// Set when the account allows the request.
	UserID   int64    `json:"-"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	Created  time.Time
}

func (r *AuthRequest) GetID() string         { return r.ID }
func (r *AuthRequest) GetACR() string        { return "" }
func (r *AuthRequest) GetAMR() []string      { return r.AMR }
func (r *AuthRequest) GetAudience() []string { return []string{r.ClientID} }
func (r *AuthRequest) GetAuthTime() time.Time {
	return time.Unix(r.AuthTime, 0).UTC()
}
func (r *AuthRequest) GetClientID() string { return r.ClientID }
func (r *AuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
}
func (r *AuthRequest) GetNonce() string                   { return r.Nonce }
func (r *AuthRequest) GetRedirectURI() string             { return r.RedirectURI }
func (r *AuthRequest) GetResponseType() oidc.ResponseType { return r.ResponseType }

// GetResponseMode is always the query: form_post would need an inline
// script, which Gatehouse's policy forbids, and discovery lists only query.
func (r *AuthRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseModeQuery }
func (r *AuthRequest) GetScopes() []string                { return r.Scopes }
func (r *AuthRequest) GetState() string                   { return r.State }
func (r *AuthRequest) GetSubject() string {
	if r.UserID == 0 {
		return ""
	}
	return Subject(r.UserID)
}
func (r *AuthRequest) Done() bool { return r.UserID != 0 }

// HasPrompt reports whether the request carries prompt value v.
func (r *AuthRequest) HasPrompt(v string) bool { return slices.Contains(r.Prompt, v) }

// refreshRequest is a refresh token's grant as op sees it
// (op.RefreshTokenRequest).
type refreshRequest struct {
	t      *db.OIDCToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string                 { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string            { return []string{r.t.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return Subject(r.t.UserID) }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// storage implements op.Storage over Gatehouse's store.
type storage struct {
	cfg Config
	key *keyFuture
}

// keyFuture is the signing key, ready at once when it was stored before,
// or once the first start has made it: generating an RSA key takes 10 to
// 150 ms, which the first start does not wait for (product.md §9: cold
// start under 100 ms); the endpoints that sign or publish wait instead.
type keyFuture struct {
	done chan struct{}
	key  *signingKey
	err  error
}

func (f *keyFuture) get(ctx context.Context) (*signingKey, error) {
	select {
	case <-f.done:
		return f.key, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// errNotFound is what op gets for an unknown client, code or token: a
// plain error, which op answers as invalid_client / invalid_grant rather
// than server_error.
var errNotFound = errors.New("not found")

func (s *storage) now() time.Time { return s.cfg.Now() }

func (s *storage) request(ctx context.Context, id string) (*AuthRequest, error) {
	row, err := s.cfg.Store.AuthRequest(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	return decodeRequest(row)
}

func decodeRequest(row *db.OIDCAuthRequest) (*AuthRequest, error) {
	var r AuthRequest
	if err := json.Unmarshal(row.Data, &r); err != nil {
		return nil, fmt.Errorf("auth request %s: %w", row.ID, err)
	}
	r.ID, r.ClientID, r.UserID, r.Created = row.ID, row.ClientID, row.UserID, row.CreatedAt
	return &r, nil
}

func (s *storage) save(ctx context.Context, r *AuthRequest) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.cfg.Store.UpdateAuthRequest(ctx, r.ID, r.UserID, data)
}

// CreateAuthRequest stores a validated request (op has checked the client,
// the redirect URI, the scopes, PKCE's method and prompt).
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	id, err := randomString(16)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &AuthRequest{
		ID:                  id,
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              req.Scopes,
		State:               req.State,
		Nonce:               req.Nonce,
		ResponseType:        req.ResponseType,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		Prompt:              req.Prompt,
		MaxAge:              req.MaxAge,
		Created:             now,
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	err = s.cfg.Store.CreateAuthRequest(ctx, db.OIDCAuthRequest{ID: id, ClientID: req.ClientID, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(requestLifetime)})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.request(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, errNotFound
	}
	return r, err
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	row, err := s.cfg.Store.AuthRequestByCode(ctx, db.HashToken(code), s.now())
	if errors.Is(err, db.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeRequest(row)
}

// SaveAuthCode keeps only the code's hash.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.cfg.Store.SetAuthCode(ctx, id, db.HashToken(code))
}

// DeleteAuthRequest is called by op after the code's exchange, which has
// already deleted the request (ExchangeCode); it is also harmless twice.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.cfg.Store.DeleteAuthRequest(ctx, id)
}

// usableUser loads the account a token is for and refuses a deleted or
// disabled one: apps lose access the moment the account does.
func (s *storage) usableUser(ctx context.Context, userID int64) (*db.User, error) {
	u, err := s.cfg.Store.UserByID(ctx, userID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the account no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Usable(u); err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the account is disabled")
	}
	return u, nil
}

// newTokens makes an access token id and, with refresh, a refresh token,
// with their stored (hashed) rows.
func (s *storage) newTokens(grant, clientID string, userID int64, scopes []string, authTime time.Time, amr []string, refresh bool) (accessID, refreshToken string, rows []db.OIDCToken, err error) {
	now := s.now()
	if accessID, err = randomString(32); err != nil {
		return "", "", nil, err
	}
	base := db.OIDCToken{GrantID: grant, ClientID: clientID, UserID: userID, Scopes: scopes, AuthTime: authTime, AMR: amr, CreatedAt: now}
	access := base
	access.Hash, access.Kind, access.ExpiresAt = db.HashToken(accessID), db.TokenAccess, now.Add(accessLifetime)
	rows = append(rows, access)
	if refresh {
		if refreshToken, err = randomString(32); err != nil {
			return "", "", nil, err
		}
		r := base
		r.Hash, r.Kind, r.ExpiresAt = db.HashToken(refreshToken), db.TokenRefresh, now.Add(refreshLifetime)
		rows = append(rows, r)
	}
	return accessID, refreshToken, rows, nil
}

// CreateAccessToken is the code exchange without offline_access.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, _, exp, err := s.issue(ctx, req, "", false)
	return id, exp, err
}

// CreateAccessAndRefreshTokens is the code exchange with offline_access,
// or a refresh, which rotates the refresh token.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.issue(ctx, req, current, true)
}

func (s *storage) issue(ctx context.Context, req op.TokenRequest, current string, refresh bool) (string, string, time.Time, error) {
	switch r := req.(type) {
	case *AuthRequest:
		if _, err := s.usableUser(ctx, r.UserID); err != nil {
			return "", "", time.Time{}, err
		}
		grant, err := randomString(16)
		if err != nil {
			return "", "", time.Time{}, err
		}
		accessID, refreshToken, rows, err := s.newTokens(grant, r.ClientID, r.UserID, r.Scopes, r.GetAuthTime(), r.AMR, refresh)
		if err != nil {
			return "", "", time.Time{}, err
		}
		// Deleting the request with the insert makes the code single-use.
		if err := s.cfg.Store.ExchangeCode(ctx, r.ID, rows...); errors.Is(err, db.ErrNotFound) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the code was already used")
		} else if err != nil {
			return "", "", time.Time{}, err
		}
		return accessID, refreshToken, rows[0].ExpiresAt, nil
	case *refreshRequest:
		if _, err := s.usableUser(ctx, r.t.UserID); err != nil {
			return "", "", time.Time{}, err
		}
		accessID, refreshToken, rows, err := s.newTokens(r.t.GrantID, r.t.ClientID, r.t.UserID, r.scopes, r.t.AuthTime, r.t.AMR, true)
		if err != nil {
			return "", "", time.Time{}, err
		}
		err = s.cfg.Store.RotateRefreshToken(ctx, db.HashToken(current), s.now(), rows...)
		if errors.Is(err, db.ErrRefreshReused) {
			s.cfg.Logger.Warn("oidc refresh token reused; grant revoked", "client_id", r.t.ClientID, "user_id", r.t.UserID)
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used")
		}
		if errors.Is(err, db.ErrNotFound) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		if err != nil {
			return "", "", time.Time{}, err
		}
		return accessID, refreshToken, rows[0].ExpiresAt, nil
	}
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

// TokenRequestByRefreshToken finds a live refresh token. One that was
// already used is a replay (the app's copy leaked, or an attacker's):
// its whole grant is revoked (RFC 9700 §4.14.2).
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	hash := db.HashToken(token)
	t, err := s.cfg.Store.OIDCToken(ctx, hash, s.now())
	if errors.Is(err, db.ErrNotFound) || (err == nil && t.Kind != db.TokenRefresh) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !t.UsedAt.IsZero() {
		if err := s.cfg.Store.RotateRefreshToken(ctx, hash, s.now()); err != nil && !errors.Is(err, db.ErrRefreshReused) {
			return nil, err
		}
		s.cfg.Logger.Warn("oidc refresh token reused; grant revoked", "client_id", t.ClientID, "user_id", t.UserID)
		return nil, errors.New("refresh token already used")
	}
	if _, err := s.usableUser(ctx, t.UserID); err != nil {
		return nil, err
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest is.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest ends the Gatehouse session of the browser
// when the app named its account with a valid id_token_hint (RP-initiated
// sign-out); without a hint nothing is ended, since anyone could link
// there.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	if id, ok := userIDOf(req.UserID); ok && s.cfg.EndSession != nil {
		if err := s.cfg.EndSession(ctx, id); err != nil {
			return "", err
		}
	}
	return req.RedirectURI, nil
}

// RevokeToken revokes an access token (by its id) or a refresh token (by
// itself) held by clientID. An unknown token is no error (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *oidc.Error {
	if err := s.cfg.Store.RevokeOIDCToken(ctx, db.HashToken(tokenOrID), clientID); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.cfg.Store.OIDCToken(ctx, db.HashToken(token), s.now())
	if errors.Is(err, db.ErrNotFound) || (err == nil && (t.Kind != db.TokenRefresh || t.ClientID != clientID)) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return Subject(t.UserID), token, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) { return s.key.get(ctx) }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	k, err := s.key.get(ctx)
	if err != nil {
		return nil, err
	}
	return []op.Key{publicKey{k}}, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.cfg.Store.Client(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		// invalid_client, not the server_error a plain error becomes
		// on the refresh path.
		return nil, oidc.ErrInvalidClient().WithParent(errNotFound)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &client{c}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.cfg.Store.Client(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if c.Public || !secretMatches(c.SecretHash, secret) {
		return errors.New("wrong client secret")
	}
	return nil
}

// SetUserinfoFromScopes fills the ID token's claims.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	id, ok := userIDOf(subject)
	if !ok {
		return errNotFound
	}
	u, err := s.usableUser(ctx, id)
	if err != nil {
		return err
	}
	fillUserinfo(info, u, scopes)
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint: the claims of the
// token's scopes, for an account that may still use apps.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.cfg.Store.OIDCToken(ctx, db.HashToken(tokenID), s.now())
	if errors.Is(err, db.ErrNotFound) || (err == nil && (t.Kind != db.TokenAccess || Subject(t.UserID) != subject)) {
		return errors.New("token not valid")
	}
	if err != nil {
		return err
	}
	u, err := s.usableUser(ctx, t.UserID)
	if err != nil {
		return err
	}
	fillUserinfo(info, u, t.Scopes)
	return nil
}

// fillUserinfo sets the claims product.md §12 gives each scope. sub is the
// account id, never the username.
func fillUserinfo(info *oidc.UserInfo, u *db.User, scopes []string) {
	info.Subject = Subject(u.ID)
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			info.PreferredUsername = u.Username
			info.Name = u.Username
		case oidc.ScopeEmail:
			info.Email = u.Email
			// A claim rather than the field: the field's omitempty
			// would drop false.
			info.AppendClaims("email_verified", u.EmailVerified())
		case ScopeGroups:
			info.AppendClaims("groups", userGroups(u))
		}
	}
}

// Introspection is not offered (not in discovery, not routed).
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// JWT profile grants and private_key_jwt are not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no client keys")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// client is a registered app as op sees it (op.Client).
type client struct{ c *db.OIDCClient }

func (c *client) GetID() string          { return c.c.ID }
func (c *client) RedirectURIs() []string { return c.c.RedirectURIs }

// PostLogoutRedirectURIs: a client's redirect URIs count as registered
// for sign-out too (product.md §12).
func (c *client) PostLogoutRedirectURIs() []string    { return c.c.RedirectURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	// Basic here still accepts client_secret_post: op reads the secret
	// from either place.
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string            { return PathConsent + "?id=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return idTokenLifetime }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == ScopeGroups }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// DevMode lets a registered http:// redirect URI be used by a public
// client too: redirect URIs match exactly, so what the admin registered
// decides.
func (c *client) DevMode() bool { return true }

// userGroups is the account's groups ([] when none, never null).
func userGroups(u *db.User) []string {
	return append([]string{}, groupsOf(u)...)
}

// scopesCovered reports whether every scope asked for is in allowed.
func scopesCovered(asked, allowed []string) bool {
	for _, s := range asked {
		if !slices.Contains(allowed, s) {
			return false
		}
	}
	return true
}

// NeedsConsent reports whether the account must be asked before the app
// gets what r asks for: never for a trusted app, always with
// prompt=consent, and otherwise when the scopes go beyond what it allowed.
func NeedsConsent(c *db.OIDCClient, consent *db.OIDCConsent, r *AuthRequest) bool {
	if c.Trusted {
		return false
	}
	if r.HasPrompt(oidc.PromptConsent) || consent == nil {
		return true
	}
	return !scopesCovered(r.Scopes, consent.Scopes)
}

// AMR is the "amr" claim (RFC 8176) for a Gatehouse sign-in method.
func AMR(method string) []string {
	switch method {
	case "password+code":
		return []string{"pwd", "otp", "mfa"}
	case "recovery-code":
		return []string{"pwd", "mfa"}
	case "passkey":
		return []string{"hwk", "user", "mfa"}
	default:
		return []string{"pwd"}
	}
}

// ScopeText says in words what a scope lets an app see (the consent page).
func ScopeText(scope string) string {
	switch scope {
	case oidc.ScopeOpenID:
		return "Your account ID, to know it is you"
	case oidc.ScopeProfile:
		return "Your username"
	case oidc.ScopeEmail:
		return "Your email address and whether it is verified"
	case ScopeGroups:
		return "The groups you are in"
	case oidc.ScopeOfflineAccess:
		return "Access while you are away (until you remove it)"
	}
	return strings.TrimSpace(scope)
}
