package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/access"
)

// Routes of the forward-auth endpoints (product.md §11). They are outside
// the cross-origin check (crossOrigin): nginx's subrequest keeps the
// original method and headers, so a POST to the app arrives here as a
// POST with the app's Origin, and it changes nothing.
const (
	pathForwardAuth = "/api/authz/forward-auth" // Caddy forward_auth, Traefik ForwardAuth
	pathAuthRequest = "/api/authz/auth-request" // nginx auth_request
)

// The headers a proxy passes on to the app when a request is allowed.
const (
	headerRemoteUser   = "Remote-User"
	headerRemoteEmail  = "Remote-Email"
	headerRemoteName   = "Remote-Name"
	headerRemoteGroups = "Remote-Groups"
)

// Texts of the 403 answer, shown by Caddy and Traefik as they are.
const (
	msgForwardForbidden = "You are signed in, but this account may not open this page."
	msgForwardTwoFactor = "This page needs a sign-in with a second factor. Set one up at %s/account/security, sign out and sign in again with it."
)

// original is the request a proxy asks about.
type original struct {
	method string
	url    *url.URL // scheme, host and path with query; nil when unknown
}

// forwardAuth answers Caddy's forward_auth and Traefik's ForwardAuth: the
// original request is in X-Forwarded-*. A signed-out browser asking for a
// page is sent to sign in (302); anything else signed out gets 401.
func (a *App) forwardAuth(c *gin.Context) {
	h := c.Request.Header
	o := original{method: h.Get("X-Forwarded-Method")}
	proto := strings.ToLower(h.Get("X-Forwarded-Proto"))
	if proto != "http" && proto != "https" {
		proto = a.cfg.BaseURL.Scheme
	}
	if host := h.Get("X-Forwarded-Host"); host != "" {
		uri := h.Get("X-Forwarded-Uri")
		if uri == "" {
			uri = "/"
		}
		o.url = parseOriginal(proto + "://" + host + uri)
	}
	switch a.authorize(c, o) {
	case access.SignIn:
		if (o.method == http.MethodGet || o.method == http.MethodHead || o.method == "") && acceptsHTML(c.Request) {
			c.Header("Location", a.signinURL(o))
			c.Status(http.StatusFound)
			return
		}
		c.Status(http.StatusUnauthorized)
	}
}

// nginxAuthRequest answers nginx's auth_request: the original request is in
// X-Original-Method and X-Original-URL. nginx takes only 2xx, 401 and
// 403 from here, so a signed-out visitor gets 401 with the sign-in URL in
// Location, which the nginx snippet turns into the redirect.
func (a *App) nginxAuthRequest(c *gin.Context) {
	h := c.Request.Header
	o := original{method: h.Get("X-Original-Method"), url: parseOriginal(h.Get("X-Original-URL"))}
	if a.authorize(c, o) == access.SignIn {
		c.Header("Location", a.signinURL(o))
		c.Status(http.StatusUnauthorized)
	}
}

// authorize decides the original request for the current session under
// the access rules, answers 200 (with the Remote-* headers for a signed-in
// account) or 403 itself, and returns the outcome; the caller answers
// access.SignIn as its proxy wants it.
func (a *App) authorize(c *gin.Context, o original) access.Outcome {
	// What the proxy may pass on is about this visitor: never cached.
	c.Writer.Header()["Cache-Control"] = headerNoStoreOnly
	user, sess := currentUser(c), currentSession(c)
	who := access.Subject{}
	if user != nil {
		who = access.Subject{
			SignedIn:     true,
			Disabled:     user.Disabled(),
			SecondFactor: sess.SecondFactor,
			Groups:       user.Groups,
		}
	}
	req := access.Request{Method: o.method}
	if o.url != nil {
		req.Host, req.Path = o.url.Host, o.url.RequestURI()
	}
	rules := a.accessRules() // one set for the whole answer, even during a reload
	outcome := rules.Decide(req, who)
	switch outcome {
	case access.Allow:
		if who.SignedIn && !who.Disabled {
			h := c.Writer.Header()
			h.Set(headerRemoteUser, user.Username)
			h.Set(headerRemoteEmail, user.Email)
			h.Set(headerRemoteName, user.Username)
			h.Set(headerRemoteGroups, strings.Join(who.Groups, ","))
		}
		c.Status(http.StatusOK)
	case access.Forbid:
		msg := msgForwardForbidden
		// Say so when a second factor is all that is missing.
		if who.SignedIn && !who.SecondFactor && rules.Decide(req, access.Subject{
			SignedIn: true, SecondFactor: true, Groups: who.Groups, Disabled: who.Disabled,
		}) == access.Allow {
			msg = fmt.Sprintf(msgForwardTwoFactor, strings.TrimSuffix(a.cfg.BaseURL.String(), "/"))
		}
		c.String(http.StatusForbidden, msg)
	}
	return outcome
}

// parseOriginal parses the original request's URL as a proxy gives it;
// nil unless it is an absolute http(s) URL with a host.
func parseOriginal(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	return u
}

// signinURL is BASE/signin with the original URL as rd (product.md §11):
// /signin sends the browser back there after sign-in if rd is one of
// ours (safeRd), and to the dashboard otherwise.
func (a *App) signinURL(o original) string {
	target := strings.TrimSuffix(a.cfg.BaseURL.String(), "/") + "/signin"
	if o.url == nil {
		return target
	}
	return target + "?rd=" + url.QueryEscape(o.url.String())
}

// acceptsHTML reports whether the original request was a browser asking
// for a page (its Accept includes text/html).
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// accessRules are the rules in force (SetAccessRules replaces them).
func (a *App) accessRules() *access.Rules { return a.rules.Load() }

// SetAccessRules puts new access rules in force, for the requests that
// start from now on (a reload on SIGHUP).
func (a *App) SetAccessRules(r *access.Rules) {
	if r == nil {
		r = access.Default()
	}
	a.rules.Store(r)
}
