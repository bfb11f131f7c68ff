// Package handlers is Gatehouse's web layer: the middleware stack, the
// route table and one handler per page or action.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"

	"gatehouse/db"
	"gatehouse/mail"
	"gatehouse/password"
	"gatehouse/static"
	"gatehouse/throttle"
	"gatehouse/views"
)

// Config is what the web layer needs to know from the command line.
type Config struct {
	BaseURL         *url.URL      // public URL; https makes cookies Secure
	SessionLifetime time.Duration // absolute lifetime of a session
	SessionIdle     time.Duration // a session unused this long ends
	TrustedProxies  []string      // addresses/CIDRs whose X-Forwarded-For is believed
	Logger          *slog.Logger
	// Throttle counts failed sign-ins per account and per client address;
	// nil means an in-memory one with product.md §6's limits.
	Throttle throttle.Limiter
	// Mail sends verification, reset and email-change mail; nil writes
	// each mail to the log (mail.LogSender).
	Mail mail.Sender
	// HashWait is how long a request waits for a hashing slot before it
	// is answered 503 with Retry-After; zero means 60 seconds (two thirds
	// of the server's write timeout). It bounds requests only: other users
	// of the same Hasher (tests keeping it busy, say) wait as they choose.
	HashWait time.Duration
}

// App holds everything a handler needs: one struct, built once in main.
type App struct {
	cfg        Config
	log        *slog.Logger
	store      *db.Store
	hasher     *password.Hasher
	sessions   *scs.SessionManager
	views      *views.Views
	engine     *gin.Engine
	touchEvery time.Duration
	mail       *mailer
}

// New builds the App and its routes.
func New(cfg Config, store *db.Store, hasher *password.Hasher) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.NewMemory(throttle.Options{Limit: signinLimit, Window: signinWindow})
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = defaultHashWait
	}
	if cfg.SessionLifetime <= 0 || cfg.SessionIdle <= 0 {
		return nil, fmt.Errorf("handlers: session lifetime and idle timeout must be positive")
	}
	v, err := views.New(static.URL)
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    store,
		hasher:   hasher,
		views:    v,
		sessions: newSessionManager(cfg, store),
	}
	// A session's last-seen time is written at most once a minute, or once
	// per tenth of a short idle timeout, so page views never wait on writes.
	a.touchEvery = min(time.Minute, cfg.SessionIdle/10)
	a.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		a.log.Error("session store", "err", err, "path", r.URL.Path)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
	}
	if a.mail, err = newMailer(cfg); err != nil {
		return nil, err
	}
	if a.engine, err = a.routes(); err != nil {
		return nil, err
	}
	return a, nil
}

// newSessionManager configures scs as product.md §5 says.
func newSessionManager(cfg Config, store *db.Store) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store.SessionStore()
	// A compact binary form instead of gob, whose decoder cost a fifth of
	// a signed-in page view (docs/PERFORMANCE.md); it still reads gob rows.
	sm.Codec = db.SessionCodec{}
	sm.Lifetime = cfg.SessionLifetime
	// scs's own IdleTimeout would rewrite the session on every request; the
	// idle deadline is kept in user_sessions instead (see loadUser).
	sm.IdleTimeout = 0
	sm.Cookie.Name = "session"
	sm.Cookie.Path = "/"
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
	var h http.Handler = headAsGet(a.engine)
	// LoadAndSave wraps the engine as an http.Handler: a Gin middleware
	// that saved after c.Next() would lose the cookie once a body was written.
	h = a.sessions.LoadAndSave(h)
	h = a.crossOrigin(h)
	h = a.limitBody(h)
	// Headers and the log sit outside the rejections above, so a 403 or
	// 413 carries the headers and is logged too.
	h = securityHeaders(h)
	h = a.logRequests(h)
	return h
}

// headAsGet answers HEAD like GET (uptime monitors use HEAD on /healthz);
// net/http drops the body because the request it answers is a HEAD.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

// RunCleanup removes expired sessions every interval until ctx ends.
func (a *App) RunCleanup(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
		}
	}
}
