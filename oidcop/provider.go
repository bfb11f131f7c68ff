package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/db"
)

// Store is what the provider needs of the database. *db.Store and
// *postgres.Store implement it.
type Store interface {
	ClientStore
	UserByID(ctx context.Context, id int64) (*db.User, error)
	CreateAuthRequest(ctx context.Context, r db.OIDCAuthRequest) error
	AuthRequest(ctx context.Context, id string, now time.Time) (*db.OIDCAuthRequest, error)
	AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*db.OIDCAuthRequest, error)
	UpdateAuthRequest(ctx context.Context, id string, userID int64, data []byte) error
	SetAuthCode(ctx context.Context, id, codeHash string) error
	DeleteAuthRequest(ctx context.Context, id string) error
	ExchangeCode(ctx context.Context, requestID string, tokens ...db.OIDCToken) error
	OIDCToken(ctx context.Context, hash string, now time.Time) (*db.OIDCToken, error)
	RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, tokens ...db.OIDCToken) error
	RevokeOIDCToken(ctx context.Context, hash, clientID string) error
	RevokeUserClient(ctx context.Context, userID int64, clientID string) error
	RevokeUserGrants(ctx context.Context, userID int64) error
	Consent(ctx context.Context, userID int64, clientID string) (*db.OIDCConsent, error)
	PutConsent(ctx context.Context, c db.OIDCConsent) error
	UserConsents(ctx context.Context, userID int64) ([]db.OIDCConsent, error)
	DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error)
	Setting(ctx context.Context, name string) ([]byte, error)
	PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error)
}

// Sealer is the server's secret key (secretkey.Key): it encrypts the
// signing key at rest and gives the key that encrypts access tokens.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
	Derive(purpose string) []byte
}

// Lifetimes of what the provider hands out.
const (
	requestLifetime = 10 * time.Minute    // from /oauth/authorize to the code's exchange
	accessLifetime  = time.Hour           // access tokens
	idTokenLifetime = time.Hour           // ID tokens
	refreshLifetime = 30 * 24 * time.Hour // each refresh token; a use gives a new one
)

// Paths of the endpoints, under the issuer (the base URL). Discovery says
// where they are; /oauth/consent is Gatehouse's own page (sign-in and
// consent), where the authorization endpoint sends the browser.
const (
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathUserinfo   = "/oauth/userinfo"
	PathRevoke     = "/oauth/revoke"
	PathKeys       = "/oauth/keys"
	PathEndSession = "/oauth/end_session"
	PathConsent    = "/oauth/consent"
)

// settingSigningKey names the sealed signing key in the settings table.
const settingSigningKey = "oidc_signing_key"

// Config is what New needs.
type Config struct {
	Issuer *url.URL // the base URL
	Store  Store
	Key    Sealer
	Logger *slog.Logger
	Now    func() time.Time
	// EndSession ends the Gatehouse session of the request in ctx if it
	// belongs to userID (RP-initiated sign-out); the web layer sets it.
	EndSession func(ctx context.Context, userID int64) error
	// Usable says whether an account may still use apps (not disabled).
	Usable func(u *db.User) error
}

// Provider is the OpenID Provider: op's handler over our storage.
type Provider struct {
	op      *op.Provider
	storage *storage
	issuer  string
}

// New builds the provider. The RS256 signing key is made at the first
// start, sealed under the server's secret key and stored with
// PutSettingIfAbsent, so instances starting together all use the one
// that was stored first.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Usable == nil {
		cfg.Usable = func(*db.User) error { return nil }
	}
	key, err := loadSigningKey(ctx, cfg.Store, cfg.Key, cfg.Logger)
	if err != nil {
		return nil, err
	}
	issuer := strings.TrimSuffix(cfg.Issuer.String(), "/")
	s := &storage{cfg: cfg, key: key}
	var crypto [32]byte
	copy(crypto[:], cfg.Key.Derive("oidc access tokens"))
	opts := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(strings.TrimPrefix(PathAuthorize, "/"))),
		op.WithCustomTokenEndpoint(op.NewEndpoint(strings.TrimPrefix(PathToken, "/"))),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(strings.TrimPrefix(PathUserinfo, "/"))),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(strings.TrimPrefix(PathRevoke, "/"))),
		op.WithCustomKeysEndpoint(op.NewEndpoint(strings.TrimPrefix(PathKeys, "/"))),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(strings.TrimPrefix(PathEndSession, "/"))),
	}
	if cfg.Issuer.Scheme == "http" {
		// op refuses an http issuer unless told: a base URL on plain
		// http is for trying Gatehouse out and for tests.
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(&op.Config{
		CryptoKey:                crypto,
		DefaultLogoutRedirectURI: "/",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          Scopes,
		SupportedClaims:          claims,
	}, s, op.StaticIssuer(issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	return &Provider{op: p, storage: s, issuer: issuer}, nil
}

// Scopes are the scopes Gatehouse knows (product.md §12).
var Scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups, oidc.ScopeOfflineAccess}

// ScopeGroups asks for the account's groups.
const ScopeGroups = "groups"

var claims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash",
	"preferred_username", "name", "email", "email_verified", "groups"}

// Handler answers the provider's endpoints (token, userinfo, revoke,
// keys, end_session); Authorize answers the authorization endpoint and
// Discovery discovery.
func (p *Provider) Handler() http.Handler { return p.op }

// Authorize answers the authorization endpoint: op's, with the checks of
// authorizer added to op's own. An error goes back to the app's redirect
// URI as op sends it (RFC 6749 §4.1.2.1), and nothing is stored.
//
// The caller has checked client_id and redirect_uri. A request op cannot
// parse (a max_age that is not a number of seconds) op would answer with
// a plain-text 400; it goes back to the app as invalid_request instead,
// since the redirect URI is the client's.
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) {
	// op's router would put the issuer in the context; this bypasses it.
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
	if _, err := op.ParseAuthorizeRequest(r, p.op.Decoder()); err != nil {
		e := oidc.ErrInvalidRequest().WithDescription("a parameter of the request is not valid")
		e.State = r.Form.Get("state")
		target, err := op.AuthResponseURL(r.Form.Get("redirect_uri"), oidc.ResponseTypeCode, oidc.ResponseModeQuery, e, p.op.Encoder())
		if err != nil {
			http.Error(w, "invalid_request", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	op.Authorize(w, r, authorizer{p.op})
}

// authorizer is op's provider with the rules product.md §12 has beyond
// op's: as an op.AuthorizeValidator, its ValidateAuthRequest replaces
// op's validation, which it runs first.
type authorizer struct{ *op.Provider }

func (a authorizer) ValidateAuthRequest(ctx context.Context, req *oidc.AuthRequest, s op.Storage, v *op.IDTokenHintVerifier) (string, error) {
	c, err := s.GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		// As op's own validation: no redirect to an unchecked URI.
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("unable to retrieve client by id").WithParent(err)
	}
	sub, err := op.ValidateAuthRequestClient(ctx, req, c, v)
	if err != nil {
		return "", err
	}
	return sub, checkAuthRequest(req, c.AuthMethod() == oidc.AuthMethodNone)
}

// checkAuthRequest refuses what product.md §12 forbids and op allows: a
// request without the openid scope (op would serve it as plain OAuth, ID
// token and all), and a public client's request without a code_challenge
// of method S256 (op accepts plain, and none at all; a missing method
// means plain, RFC 7636 §4.3), which RFC 7636 §4.4.1 makes
// invalid_request. A confidential client may go without PKCE, but when it
// sends a challenge it is S256 too: discovery lists no other method, and
// plain protects nothing from whoever sees the authorization request.
func checkAuthRequest(req *oidc.AuthRequest, public bool) error {
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	if public && (req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256) {
		return oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE with code_challenge_method S256")
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256, the only one supported")
	}
	return nil
}

// Discovery answers /.well-known/openid-configuration. op's own document
// lists the implicit and hybrid flows, introspection and device
// authorization; Gatehouse offers the code flow only (product.md §12), so
// the document is trimmed to what is served.
func (p *Provider) Discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthMethodsSupported = d.TokenEndpointAuthMethodsSupported
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpoint = ""
	d.IntrospectionEndpointAuthMethodsSupported = nil
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.DeviceAuthorizationEndpoint = ""
	d.RequestObjectSigningAlgValuesSupported = nil
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	op.Discover(w, d)
}

// ErrUnknownRequest means the authorization request does not exist (any
// more): expired, finished, or never made.
var ErrUnknownRequest = errors.New("no such authorization request")

// Request returns a pending authorization request by id.
func (p *Provider) Request(ctx context.Context, id string) (*AuthRequest, error) {
	r, err := p.storage.request(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrUnknownRequest
	}
	return r, err
}

// SaveRequest stores what the sign-in page learned about a request.
func (p *Provider) SaveRequest(ctx context.Context, r *AuthRequest) error {
	return p.storage.save(ctx, r)
}

// Approve marks the request allowed by the account, signed in at authTime
// with the methods amr, and returns where to send the browser: the app's
// redirect URI with the code and state.
func (p *Provider) Approve(ctx context.Context, r *AuthRequest, userID int64, authTime time.Time, amr []string) (string, error) {
	r.UserID = userID
	r.AuthTime = authTime.Unix()
	r.AMR = amr
	if err := p.storage.save(ctx, r); err != nil {
		return "", err
	}
	ctx = op.ContextWithIssuer(ctx, p.issuer)
	return op.BuildAuthResponseCallbackURL(ctx, r, p.op)
}

// Refuse ends the request with an OAuth error (access_denied,
// login_required, consent_required, …) and returns where to send the
// browser: the app's redirect URI with the error and state (RFC 6749
// §4.1.2.1). The request's redirect URI was checked against the client
// when the request was made.
func (p *Provider) Refuse(ctx context.Context, r *AuthRequest, e *oidc.Error) (string, error) {
	if err := p.storage.cfg.Store.DeleteAuthRequest(ctx, r.ID); err != nil {
		return "", err
	}
	e.State = r.State
	return op.AuthResponseURL(r.RedirectURI, r.ResponseType, "", e, p.op.Encoder())
}

// loadSigningKey returns the RS256 key, making and storing it the first
// time. The stored form is the PKCS #8 key sealed under the server key. A
// stored key is opened now, so a key that does not open stops the start;
// a new one is made in the background (keyFuture).
func loadSigningKey(ctx context.Context, s Store, k Sealer, log *slog.Logger) (*keyFuture, error) {
	f := &keyFuture{done: make(chan struct{})}
	sealed, err := s.Setting(ctx, settingSigningKey)
	if err == nil {
		f.key, err = openSigningKey(sealed, k)
		close(f.done)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return nil, fmt.Errorf("read the signing key: %w", err)
	}
	go func() {
		defer close(f.done)
		// Not the start's context: the start returns before this ends.
		f.key, f.err = makeSigningKey(context.Background(), s, k)
		if f.err != nil {
			log.Error("make the OpenID Connect signing key", "err", f.err)
		}
	}()
	return f, nil
}

// Wait blocks until the signing key a first start makes in the background
// is stored (or failed); at once otherwise. The server calls it before it
// closes the database: a stop during the first start would otherwise
// close it under that write (and leave the write-ahead log behind).
func (p *Provider) Wait() { <-p.storage.key.done }

// makeSigningKey makes a new key and stores it, unless another instance
// stored one first: then that one is used.
func makeSigningKey(ctx context.Context, s Store, k Sealer) (*signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	mine, err := k.Seal(der, []byte(settingSigningKey))
	if err != nil {
		return nil, err
	}
	sealed, err := s.PutSettingIfAbsent(ctx, settingSigningKey, mine)
	if err != nil {
		return nil, fmt.Errorf("store the signing key: %w", err)
	}
	return openSigningKey(sealed, k)
}

// openSigningKey opens a stored key.
func openSigningKey(sealed []byte, k Sealer) (*signingKey, error) {
	aad := []byte(settingSigningKey)
	der, err := k.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("the OpenID Connect signing key does not open with this secret key file: %w", err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("the stored signing key: %w", err)
	}
	rk, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the stored signing key is not an RSA key")
	}
	pub, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		return nil, err
	}
	// The key id is derived from the public key, so every instance
	// publishes the same one.
	sum := sha256.Sum256(pub)
	return &signingKey{id: hex.EncodeToString(sum[:8]), key: rk}, nil
}

// signingKey is the RS256 key (op.SigningKey), and its public half is the
// one key of the JWKS (op.Key).
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// Subject is the "sub" of an account: its id, which never changes (a
// username can).
func Subject(userID int64) string { return strconv.FormatInt(userID, 10) }

// userIDOf parses a subject back into an account id.
func userIDOf(sub string) (int64, bool) {
	id, err := strconv.ParseInt(sub, 10, 64)
	return id, err == nil && id > 0
}
