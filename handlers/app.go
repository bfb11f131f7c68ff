// Package handlers is Gatehouse's web layer: the middleware stack, the
// route table and one handler per page or action.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/webauthn"

	"gatehouse/access"
	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/mail"
	"gatehouse/oidcop"
	"gatehouse/password"
	"gatehouse/secretkey"
	"gatehouse/static"
	"gatehouse/throttle"
	"gatehouse/views"
)

// Store is what the web layer needs from the database: the account rules'
// needs and the per-request session look-ups. *db.Store (SQLite) and
// *postgres.Store implement it.
type Store interface {
	account.Store
	oidcop.Store
	secretkey.Settings
	Ping(ctx context.Context) error
	CreateSession(ctx context.Context, n db.NewSession) (int64, error)
	SessionUser(ctx context.Context, sessionID int64, token string) (*db.User, db.Session, error)
	TouchSession(ctx context.Context, sessionID int64, now time.Time) error
	RekeySession(ctx context.Context, sessionID int64, token string) error
	UserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]db.Session, error)
	UserByEmail(ctx context.Context, email string) (*db.User, error)
	CreateLinkToken(ctx context.Context, userID int64, kind db.TokenKind, newEmail string, now, expires time.Time) (string, error)
	UseEmailToken(ctx context.Context, token string, now time.Time) (*db.LinkToken, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error)
	// The activity and admin pages (product.md §13).
	UserEvents(ctx context.Context, userID int64, since time.Time, limit, offset int) ([]db.Event, error)
	SearchUsers(ctx context.Context, q, signedInKind string, limit, offset int) ([]db.UserListing, error)
	AddAdminLog(ctx context.Context, e db.AdminLogEntry) error
	AdminLog(ctx context.Context, limit, offset int) ([]db.AdminLogEntry, error)
	MarkSecondFactor(ctx context.Context, sessionID int64) error
	account.OneTime
	DeleteExpiredOneTime(ctx context.Context, now time.Time) (int64, error)
}

// SessionStore is where scs keeps session data, keyed by token hash; the
// account rules remove the data of sessions they end through it.
type SessionStore interface {
	scs.Store
	account.SessionData
}

// Backend is where Gatehouse keeps its state: the database, the session
// data scs loads on every request, and the throttle's counts. With SQLite
// or PostgreSQL alone the database holds all three; with Redis (product.md
// §14) the last two live there.
type Backend struct {
	Store    Store
	Sessions SessionStore
	Throttle throttle.Store
	// Ping checks a service besides the database (Redis) for /healthz;
	// nil when there is none.
	Ping func(ctx context.Context) error
	// OneTime keeps the authenticator's replay guard and WebAuthn
	// challenges: Redis when there is one; nil is the database (Store).
	OneTime account.OneTime
}

// eventCleaner is a throttle store whose old events must be deleted (SQL
// tables; Redis expires them itself).
type eventCleaner interface {
	DeleteEventsBefore(ctx context.Context, before int64) (int64, error)
}

// Config is what the web layer needs to know from the command line.
type Config struct {
	BaseURL         *url.URL      // public URL; https makes cookies Secure
	SessionLifetime time.Duration // absolute lifetime of a session
	SessionIdle     time.Duration // a session unused this long ends
	TrustedProxies  []string      // addresses/CIDRs whose X-Forwarded-For is believed
	Logger          *slog.Logger
	// RequestLog writes the one line per request; nil is Logger. The
	// server gives it a batching writer (package logbuf), so a busy
	// server does not make a write per request.
	RequestLog *slog.Logger
	// Now is the clock of the throttle and of stored times; nil is
	// time.Now. Tests move it to let a window pass.
	Now func() time.Time
	// ThrottleKey, derived from the server's secret key, names throttle
	// counts in the store by HMAC (throttle.Limiter.Keyed); nil: SHA-256.
	ThrottleKey []byte
	// SecretKey seals second-factor secrets and signing keys (product.md
	// §10); main loads it with secretkey.LoadFor, which refuses a key the
	// database was not used with.
	SecretKey *secretkey.Key
	// Mail sends verification, reset and email-change mail; nil writes
	// each mail to the log (mail.LogSender).
	Mail mail.Sender
	// HashWait is how long a request waits for a hashing slot before it
	// is answered 503 with Retry-After; zero means 60 seconds (two thirds
	// of the server's write timeout). It bounds requests only: other users
	// of the same Hasher (tests keeping it busy, say) wait as they choose.
	HashWait time.Duration
	// CookieDomain, when set, is the session cookie's Domain, so apps on
	// names under it share the sign-in (product.md §11). main checks it
	// against the base URL and the public suffix list.
	CookieDomain string
	// AccessRules decide the forward-auth endpoints; nil is
	// access.Default() (every host needs a signed-in account).
	AccessRules *access.Rules
	// Metrics counts requests, sign-ins, mail...; nil: metrics are off.
	Metrics Metrics
}

// Metrics counts what product.md §15 lists; package metrics implements it
// for the metrics listener. Nil (metrics off) costs nothing: no route is
// noted, no clock is read, nothing is counted.
type Metrics interface {
	account.Metrics // the wait for a hashing slot
	// Request counts an answered request; route is the route template
	// (Gin's FullPath, never the raw path), "" when none matched.
	Request(method, route string, status int, elapsed time.Duration)
	// InFlight moves the count of requests being answered: +1, then -1.
	InFlight(delta int)
	SignIn(outcome string)
	SignUp(outcome string)
	Throttled(rule string)
	Mail(name string, err error)
}

// App holds everything a handler needs: one struct, built once in main.
type App struct {
	cfg        Config
	log        *slog.Logger
	reqLog     *slog.Logger
	store      Store
	backend    Backend
	accounts   *account.Service
	sessions   *scs.SessionManager
	views      *views.Views
	engine     *gin.Engine
	touchEvery time.Duration
	mail       *mailer
	oidc       *oidcop.Provider             // OpenID Connect (product.md §12)
	rules      atomic.Pointer[access.Rules] // replaced whole on reload
	metrics    Metrics                      // nil when off
	oneTime    account.OneTime
	webauthn   *webauthn.WebAuthn
}

// New builds the App and its routes over a backend and the password hasher.
func New(cfg Config, b Backend, hasher *password.Hasher) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestLog == nil {
		cfg.RequestLog = cfg.Logger
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = defaultHashWait
	}
	if cfg.SessionLifetime <= 0 || cfg.SessionIdle <= 0 {
		return nil, fmt.Errorf("handlers: session lifetime and idle timeout must be positive")
	}
	if cfg.SecretKey == nil {
		return nil, fmt.Errorf("handlers: the server's secret key is needed")
	}
	if b.Store == nil || b.Sessions == nil || b.Throttle == nil {
		return nil, fmt.Errorf("handlers: the backend needs a store, a session store and a throttle store")
	}
	v, err := views.New(static.URL)
	if err != nil {
		return nil, err
	}
	if b.OneTime == nil {
		b.OneTime = b.Store
	}
	// Passkeys need a domain name: WebAuthn refuses an IP address as the
	// relying party (browsers too). Such a server goes without them.
	var wa *webauthn.WebAuthn
	if net.ParseIP(cfg.BaseURL.Hostname()) == nil {
		if wa, err = newWebAuthn(webOrigin(cfg.BaseURL), strings.ToLower(cfg.BaseURL.Hostname())); err != nil {
			return nil, fmt.Errorf("handlers: passkeys for %s: %w", cfg.BaseURL, err)
		}
	} else {
		cfg.Logger.Warn("passkeys are off: the base URL's host is an IP address, and WebAuthn needs a domain name (use -base-url)",
			"base_url", cfg.BaseURL.String())
	}
	limits := throttle.New(b.Throttle, cfg.Now).Keyed(cfg.ThrottleKey)
	if cfg.Metrics != nil {
		limits = limits.OnRefusal(func(r throttle.Rule) { cfg.Metrics.Throttled(r.Name) })
	}
	a := &App{
		oneTime:  b.OneTime,
		webauthn: wa,
		cfg:      cfg,
		metrics:  cfg.Metrics,
		log:      cfg.Logger,
		reqLog:   cfg.RequestLog,
		store:    b.Store,
		backend:  b,
		accounts: account.New(account.Config{
			Store:    b.Store,
			Sessions: b.Sessions,
			Hasher:   hasher,
			Limits:   limits,
			Logger:   cfg.Logger,
			HashWait: cfg.HashWait,
			Metrics:  cfg.Metrics,
			Sealer:   cfg.SecretKey,
			CodeKey:  cfg.SecretKey.Derive("recovery-codes"),
			OneTime:  b.OneTime,
			Issuer:   issuer(cfg.BaseURL),
		}),
		views:    v,
		sessions: newSessionManager(cfg, b.Sessions),
	}
	a.SetAccessRules(cfg.AccessRules)
	// A session's last-seen time is written at most once a minute, or once
	// per tenth of a short idle timeout, so page views never wait on writes.
	a.touchEvery = min(time.Minute, cfg.SessionIdle/10)
	a.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		if a.clientGone(w, r, err) {
			return
		}
		a.log.Error("session store", "err", err, "path", r.URL.Path)
		// As any other 500: JSON on the API routes, else the error page.
		a.plainError(w, r, http.StatusInternalServerError)
	}
	if a.mail, err = newMailer(cfg); err != nil {
		return nil, err
	}
	if err := a.newProvider(); err != nil {
		return nil, err
	}
	if a.engine, err = a.routes(); err != nil {
		return nil, err
	}
	return a, nil
}

// issuer names Gatehouse in authenticator apps: "Gatehouse" and the
// host, so two Gatehouse servers' entries can be told apart.
// (An IPv6 host loses its colons: the app's label is "issuer:account".)
func issuer(base *url.URL) string {
	return "Gatehouse (" + strings.ReplaceAll(base.Hostname(), ":", ".") + ")"
}

// newSessionManager configures scs as product.md §5 says.
func newSessionManager(cfg Config, data scs.Store) *scs.SessionManager {
	sm := scs.New()
	sm.Store = data
	// A compact binary form instead of gob, whose decoder cost a fifth of
	// a signed-in page view (docs/PERFORMANCE.md); it still reads gob rows.
	sm.Codec = db.SessionCodec{}
	sm.Lifetime = cfg.SessionLifetime
	// scs's own IdleTimeout would rewrite the session on every request; the
	// idle deadline is kept in user_sessions instead (see loadUser).
	sm.IdleTimeout = 0
	sm.Cookie.Name = "session"
	sm.Cookie.Path = "/"
	sm.Cookie.Domain = cfg.CookieDomain
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.BaseURL.Scheme == "https"
	// Without "remember me" the cookie ends with the browser.
	sm.Cookie.Persist = false
	return sm
}

// Handler returns the whole stack, outermost first: request log, security
// headers, body limit, cross-origin check, sessions, then the Gin engine
// (recovery, current user, routes). Tests use exactly this.
func (a *App) Handler() http.Handler {
	var h http.Handler = asGet(a.engine)
	// LoadAndSave wraps the engine as an http.Handler: a Gin middleware
	// that saved after c.Next() would lose the cookie once a body was written.
	h = a.sessions.LoadAndSave(h)
	h = a.crossOrigin(h)
	h = a.limitBody(h)
	// Headers and the log sit outside the rejections above, so a 403 or
	// 413 carries the headers and is logged too.
	h = securityHeaders(h, a.cfg.BaseURL.Scheme == "https")
	h = a.logRequests(h)
	return h
}

// asGet routes as a GET two kinds of request that Gin would not:
//   - HEAD, answered like GET (uptime monitors use HEAD on /healthz);
//     net/http drops the body because the request it answers is a HEAD.
//     The request remembers that it was a HEAD (isHead), so that handlers
//     whose GET changes something (opening a link from a mail) change
//     nothing: a link scanner's HEAD must not use up the user's link
//     (product.md §6).
//   - any method on the forward-auth paths. Gin's table has a tree per
//     method and Any fills only the nine standard ones, so PROPFIND, MKCOL
//     or any method a proxy passes on would get 405; product.md §11
//     answers them all. Those handlers read the original method from the
//     proxy's headers, never the request's own.
//
// The layers outside the engine (log, metrics, headers) still see the
// method that was sent.
func asGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead:
			r = r.Clone(context.WithValue(r.Context(), headKey{}, true))
			r.Method = http.MethodGet
		case r.Method != http.MethodGet && (r.URL.Path == pathForwardAuth || r.URL.Path == pathAuthRequest):
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

type headKey struct{}

// isHead reports whether the request was a HEAD answered as a GET.
func isHead(r *http.Request) bool { return r.Context().Value(headKey{}) != nil }

// RunCleanup runs Cleanup every interval until ctx ends.
func (a *App) RunCleanup(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Cleanup(ctx)
		}
	}
}

// Cleanup removes what has outlived its use: expired sessions, old link
// tokens, throttle events past every window, and security events past
// their 90 days (product.md §13). Errors are logged.
func (a *App) Cleanup(ctx context.Context) {
	n, err := a.store.DeleteExpiredSessions(ctx, time.Now(), a.cfg.SessionIdle)
	if err != nil {
		a.log.Error("session cleanup", "err", err)
	} else if n > 0 {
		a.log.Info("session cleanup", "ended", n)
	}
	// Used and expired link tokens stay a week, so a late click is
	// told "expired" or "already used" instead of "not valid".
	if _, err := a.store.DeleteExpiredTokens(ctx, time.Now().Add(-7*24*time.Hour)); err != nil {
		a.log.Error("link token cleanup", "err", err)
	}
	// Authorization requests and tokens past their lifetime.
	if _, err := a.store.DeleteExpiredOIDC(ctx, a.cfg.Now()); err != nil {
		a.log.Error("oidc cleanup", "err", err)
	}
	if _, err := a.store.DeleteExpiredOneTime(ctx, time.Now()); err != nil {
		a.log.Error("one-time cleanup", "err", err)
	}
	// Throttle events past every window count for nothing.
	if c, ok := a.backend.Throttle.(eventCleaner); ok {
		if _, err := c.DeleteEventsBefore(ctx, a.cfg.Now().Add(-account.LongestWindow).UnixNano()); err != nil {
			a.log.Error("throttle cleanup", "err", err)
		}
	}
	if _, err := a.accounts.DeleteOldEvents(ctx); err != nil {
		a.log.Error("security event cleanup", "err", err)
	}
}
