package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gatehouse/db"
	"gatehouse/views"
)

// maxFormBytes bounds every request body (product.md §6).
const maxFormBytes = 64 << 10

// statusWriter remembers the status code for the request log, and the
// route template for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	route  string // set by noteRoute when metrics are on
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one line per request. It logs the path without the
// query string: links carry tokens there, and tokens never reach the log.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if a.metrics != nil {
			a.metrics.InFlight(1)
			defer a.metrics.InFlight(-1)
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)
		a.reqLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", elapsed),
			slog.String("remote", r.RemoteAddr),
		)
		if a.metrics != nil {
			status := sw.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http answered 200
			}
			a.metrics.Request(r.Method, sw.route, status, elapsed)
		}
	})
}

// noteRoute tells the request log's writer which route matched, so the
// metrics count by route template (/static/*file), never by raw path: a
// scan of random URLs must not add label values. The log layer sits
// outside the engine, where the route is not known; it is reached through
// the writers wrapping it (Gin's, then scs's), which costs no allocation.
func (a *App) noteRoute(c *gin.Context) {
	var w http.ResponseWriter = c.Writer
	for range 8 {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = c.FullPath()
			break
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	c.Next()
}

// contentSecurityPolicy allows our own scripts and styles only: no inline
// script, no eval (htmx is configured for that in the layout's meta tag).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Header values set on every response, built once: assigning a prepared
// slice costs no allocation per request (a later Add appends to a copy,
// since each slice is full).
var (
	headerCSP         = []string{contentSecurityPolicy}
	headerNoSniff     = []string{"nosniff"}
	headerReferrer    = []string{"same-origin"}
	headerFrameDeny   = []string{"DENY"}
	headerOpenerSame  = []string{"same-origin"}
	headerHSTS        = []string{"max-age=31536000"}
	headerNoStoreOnly = []string{"no-store"}
)

// securityHeaders sets the headers of product.md §6 on every response;
// with an https base URL, Strict-Transport-Security too, so a browser that
// has been here once never tries plain http again.
func securityHeaders(next http.Handler, https bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if https {
			h["Strict-Transport-Security"] = headerHSTS
		}
		h["Content-Security-Policy"] = headerCSP
		h["X-Content-Type-Options"] = headerNoSniff
		h["Referrer-Policy"] = headerReferrer
		h["X-Frame-Options"] = headerFrameDeny
		h["Cross-Origin-Opener-Policy"] = headerOpenerSame
		next.ServeHTTP(w, r)
	})
}

// limitBody answers 413 to a body declared too large, and caps the rest so
// reading past the limit fails (handlers turn that into 413 as well).
func (a *App) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxFormBytes {
			a.plainError(w, r, http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing requests from other sites with 403,
// judged from Sec-Fetch-Site or, for older browsers, Origin against Host.
// The base URL's origin always counts as same-origin: behind a proxy that
// rewrites Host, Origin and Host differ for Gatehouse's own forms.
func (a *App) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	base := webOrigin(a.cfg.BaseURL)
	if err := cop.AddTrustedOrigin(base); err != nil {
		a.log.Error("base URL as trusted origin", "origin", base, "err", err)
	}
	for _, p := range oidcCrossOriginBypass {
		cop.AddInsecureBypassPattern(p)
	}
	// The forward-auth endpoints change nothing, and nginx's subrequest
	// brings the app's POST with the app's Origin (product.md §11).
	cop.AddInsecureBypassPattern(pathForwardAuth)
	cop.AddInsecureBypassPattern(pathAuthRequest)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		a.plainError(w, r, http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// webOrigin is u's origin as a browser writes it in Origin: the host in
// lower case, without the scheme's default port (RFC 6454), so a base URL
// written https://Auth.Example.com:443 is https://auth.example.com.
func webOrigin(u *url.URL) string {
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host
}

// recovery turns a panic into a logged 500 page.
func (a *App) recovery(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			a.log.Error("panic", "path", c.Request.URL.Path, "panic", p)
			if !c.Writer.Written() {
				a.errorPage(c, http.StatusInternalServerError)
			}
			c.Abort()
		}
	}()
	c.Next()
}

// current is the signed-in user and their session, loaded once per request.
type current struct {
	user    *db.User
	session db.Session
}

type currentKey struct{}

// currentUser returns the signed-in user, or nil.
func currentUser(c *gin.Context) *db.User {
	if v, ok := c.Get(currentKey{}); ok {
		cur := v.(*current)
		return cur.user
	}
	return nil
}

// currentSession returns the signed-in session (zero when signed out).
func currentSession(c *gin.Context) db.Session {
	if v, ok := c.Get(currentKey{}); ok {
		cur := v.(*current)
		return cur.session
	}
	return db.Session{}
}

// loadUser finds the signed-in user, once, for every route: the session
// holds only our session id, and one query returns the session row and its
// user. It ends sessions that were idle too long and rate-limits the
// last-seen write.
func (a *App) loadUser(c *gin.Context) {
	ctx := c.Request.Context()
	sid := a.sessions.GetInt64(ctx, sessionIDKey)
	if sid == 0 {
		c.Next()
		return
	}
	user, sess, err := a.store.SessionUser(ctx, sid, a.sessions.Token(ctx))
	if errors.Is(err, db.ErrNotFound) {
		// Ended elsewhere (revoked, signed out everywhere, account
		// deleted), or its token replaced by a renewal: a request that
		// began before the renewal may have saved the session data back
		// under the old token, and that token stays dead (product.md §5).
		_ = a.sessions.Destroy(ctx)
		c.Next()
		return
	}
	if err != nil {
		a.serverError(c, err)
		c.Abort()
		return
	}
	// Disabling ends every session of the account; one that a sign-in
	// checked meanwhile started after that ends at its first request.
	if user.Disabled() {
		a.endSession(c, user.ID)
		c.Next()
		return
	}
	now := time.Now()
	if now.Sub(sess.LastSeenAt) >= a.cfg.SessionIdle {
		a.endSession(c, user.ID)
		c.Next()
		return
	}
	// A HEAD changes nothing (product.md §6), not even last-seen.
	if now.Sub(sess.LastSeenAt) >= a.touchEvery && !isHead(c.Request) {
		if err := a.store.TouchSession(ctx, sid, now); err != nil {
			a.log.Error("touch session", "err", err)
		} else {
			sess.LastSeenAt = time.Unix(db.LastSeenUnix(now), 0).UTC() // as stored
		}
	}
	c.Set(currentKey{}, &current{user: user, session: sess})
	// Every answer to a signed-in request can show account data.
	c.Writer.Header()["Cache-Control"] = headerNoStoreOnly
	c.Next()
}

// guestOnly sends signed-in visitors to the dashboard.
func (a *App) guestOnly(c *gin.Context) {
	if currentUser(c) != nil {
		a.redirect(c, "/dashboard")
		c.Abort()
		return
	}
	c.Next()
}

// requireUser sends signed-out visitors to sign in, then back here.
func (a *App) requireUser(c *gin.Context) {
	if currentUser(c) == nil {
		a.redirect(c, "/signin?next="+url.QueryEscape(returnTo(c.Request)))
		c.Abort()
		return
	}
	c.Next()
}

// returnTo is where to go back after signing in: the page asked for, or,
// for a form posted after the session ended (which cannot be replayed by a
// GET), the page the form was on, known from a same-origin Referer.
func returnTo(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		if next := safeNext(ref.RequestURI()); next != "" && ref.Path != r.URL.Path {
			return next
		}
	}
	if strings.HasPrefix(r.URL.Path, "/account/") {
		return "/account"
	}
	return "/dashboard"
}

// requireUserJSON answers 401 JSON to signed-out API callers.
func (a *App) requireUserJSON(c *gin.Context) {
	if currentUser(c) == nil {
		a.errorPage(c, http.StatusUnauthorized)
		c.Abort()
		return
	}
	c.Next()
}

// safeNext returns next when it is a local path (one leading slash, no
// scheme or host, no backslash, no control characters), else "".
func safeNext(next string) string {
	if len(next) == 0 || len(next) > 2048 || next[0] != '/' {
		return ""
	}
	if strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") || !utf8.ValidString(next) {
		// Bytes that are not UTF-8 would be echoed into the page (the
		// hidden next field) as invalid text.
		return ""
	}
	for _, r := range next {
		// Browsers drop tabs and newlines from URLs, so "/\t/evil.com"
		// would become "//evil.com".
		if r < 0x20 || r == 0x7f || r == ' ' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

// account is the signed-in user as views show them.
func viewAccount(u *db.User) *views.Account {
	if u == nil {
		return nil
	}
	return &views.Account{
		ID:            u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified(),
		CreatedAt:     u.CreatedAt,
		Admin:         u.Admin,
	}
}
