package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/oidcop"
	"gatehouse/views"
)

// Gatehouse as an OpenID Connect provider (product.md §12). The protocol
// is github.com/zitadel/oidc's (package oidcop holds its storage); this
// file is where it meets the Gatehouse session: the consent page, which
// the authorization endpoint sends the browser to, signs the visitor in
// through the usual funnel, asks for consent, and sends the browser back
// to the app with a code.

// newProvider builds the provider over the backend's store and the
// server's secret key.
func (a *App) newProvider() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := oidcop.New(ctx, oidcop.Config{
		Issuer:     a.cfg.BaseURL,
		Store:      a.store,
		Key:        a.cfg.SecretKey,
		Logger:     a.log,
		Now:        a.cfg.Now,
		EndSession: a.endSessionOf,
		Usable:     account.Usable,
	})
	if err != nil {
		return err
	}
	a.oidc = p
	return nil
}

// oidcRoutes adds the provider's endpoints and Gatehouse's own pages.
func (a *App) oidcRoutes(r *gin.Engine, private *gin.RouterGroup) {
	op := gin.WrapH(a.oidc.Handler())
	r.GET("/.well-known/openid-configuration", gin.WrapF(a.oidc.Discovery))
	r.GET(oidcop.PathAuthorize, a.oidcAuthorize)
	r.POST(oidcop.PathAuthorize, a.oidcAuthorize)
	r.POST(oidcop.PathToken, a.oidcToken)
	r.GET(oidcop.PathUserinfo, noStore, op)
	r.POST(oidcop.PathUserinfo, noStore, op)
	r.POST(oidcop.PathRevoke, op)
	r.GET(oidcop.PathKeys, op)
	r.GET(oidcop.PathEndSession, a.oidcEndSession)
	r.POST(oidcop.PathEndSession, a.oidcEndSession)
	// CORS preflights of browser apps (op answers them).
	for _, p := range []string{oidcop.PathToken, oidcop.PathUserinfo, oidcop.PathRevoke, oidcop.PathKeys} {
		r.OPTIONS(p, op)
	}
	r.GET(oidcop.PathConsent, a.consentPage)
	r.POST(oidcop.PathConsent, a.consentSubmit)
	private.GET("/account/apps", a.appsPage)
	private.POST("/account/apps/revoke", a.appsRevoke)
}

// oidcCrossOriginBypass are the endpoints apps call from elsewhere: the
// token, userinfo and revocation endpoints are server-to-server (or a
// browser app's fetch), and an app may post its authorization or sign-out
// request from its own page. None of them acts on the Gatehouse session
// by the POST alone: the authorization still needs the consent page, and
// sign-out needs a valid id_token_hint.
var oidcCrossOriginBypass = []string{
	"POST " + oidcop.PathAuthorize,
	"POST " + oidcop.PathToken,
	"POST " + oidcop.PathUserinfo,
	"POST " + oidcop.PathRevoke,
	"POST " + oidcop.PathEndSession,
}

// noStore keeps answers that carry tokens or account data out of caches.
func noStore(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = headerNoStoreOnly
	c.Next()
}

// oidcAuthorize checks the client and the redirect URI before op sees the
// request: an unknown client or an unregistered redirect URI gets an
// error page here and never a redirect (product.md §12); the rest of the
// checks (scopes, response type, PKCE, prompt) the provider makes and
// answers with a redirect to the app. A HEAD is answered 200 once the
// client and the redirect URI check out, and stores no request (product.md
// §6), like the consent page's HEAD.
func (a *App) oidcAuthorize(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		a.bindError(c, err)
		return
	}
	client, err := a.store.Client(c.Request.Context(), c.Request.Form.Get("client_id"))
	if errors.Is(err, db.ErrNotFound) {
		a.oidcErrorPage(c, http.StatusBadRequest, "Unknown app", "The app that sent you here is not registered with Gatehouse. Tell the app's administrator.")
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	if !slices.Contains(client.RedirectURIs, c.Request.Form.Get("redirect_uri")) {
		a.oidcErrorPage(c, http.StatusBadRequest, "Wrong return address",
			"The app asked Gatehouse to send you back to an address it has not registered, so Gatehouse will not. Tell the app's administrator.")
		return
	}
	c.Writer.Header()["Cache-Control"] = headerNoStoreOnly
	if isHead(c.Request) {
		c.Status(http.StatusOK)
		return
	}
	a.oidc.Authorize(c.Writer, c.Request)
}

// oidcEndSession answers the end-session endpoint (RP-initiated
// sign-out). A HEAD, a link checker's, ends no session (product.md §6):
// it is answered 200 without op seeing it. op calls endSessionOf with the
// request's context only, so the signed_out event, with this request's
// address and browser, goes along in it. A query or form that does not
// parse is a 400 (op would answer it with a 500).
func (a *App) oidcEndSession(c *gin.Context) {
	if isHead(c.Request) {
		c.Status(http.StatusOK)
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		a.bindError(c, err)
		return
	}
	ev := a.requestEvent(c, account.EventSignedOut)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), signOutEventKey{}, ev))
	a.oidc.Handler().ServeHTTP(c.Writer, c.Request)
}

type signOutEventKey struct{}

// oidcToken answers the token endpoint for the two grants Gatehouse
// offers; op would also try the JWT profile grant.
func (a *App) oidcToken(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = headerNoStoreOnly
	grant := c.Request.PostFormValue("grant_type")
	if grant != string(oidc.GrantTypeCode) && grant != string(oidc.GrantTypeRefreshToken) {
		c.JSON(http.StatusBadRequest, gin.H{"error": "unsupported_grant_type"})
		return
	}
	a.oidc.Handler().ServeHTTP(c.Writer, c.Request)
}

// oidcErrorPage is the error page with its own heading and text.
func (a *App) oidcErrorPage(c *gin.Context, status int, heading, message string) {
	d := a.data(c, heading)
	d.Error = views.ErrorInfo{Status: status, Heading: heading, Message: message}
	a.render(c, status, views.PageError, d)
}

const (
	msgRequestGone          = "This sign-in request has expired or was already used. Go back to the app and sign in again."
	noticeSignInAgainForApp = "Sign in again to continue to %s."
)

// authRequest loads the request named by id with its client, or answers
// the error page.
func (a *App) authRequest(c *gin.Context, id string) (*oidcop.AuthRequest, *db.OIDCClient, bool) {
	ctx := c.Request.Context()
	req, err := a.oidc.Request(ctx, id)
	if errors.Is(err, oidcop.ErrUnknownRequest) {
		a.oidcErrorPage(c, http.StatusBadRequest, "Sign-in request not valid", msgRequestGone)
		return nil, nil, false
	}
	if err != nil {
		a.serverError(c, err)
		return nil, nil, false
	}
	client, err := a.store.Client(ctx, req.ClientID)
	if errors.Is(err, db.ErrNotFound) {
		// Deleted meanwhile (its requests go with it, so rarely seen).
		a.oidcErrorPage(c, http.StatusBadRequest, "Sign-in request not valid", msgRequestGone)
		return nil, nil, false
	}
	if err != nil {
		a.serverError(c, err)
		return nil, nil, false
	}
	return req, client, true
}

// consentPage is where the authorization endpoint sends the browser. In
// order: a signed-out visitor signs in and comes back (prompt=none: the
// app is told login_required); a disabled account is refused; a sign-in
// older than prompt=login or max_age allows is asked again; consent is
// asked unless given (prompt=none: consent_required); then the browser
// goes back to the app with a code.
func (a *App) consentPage(c *gin.Context) {
	req, client, ok := a.authRequest(c, c.Query("id"))
	if !ok {
		return
	}
	if isHead(c.Request) {
		// A HEAD changes nothing (product.md §6): no code is made for a
		// link checker.
		c.Status(http.StatusOK)
		return
	}
	ctx := c.Request.Context()
	user, sess := currentUser(c), currentSession(c)
	if !req.Seen {
		// The session the browser came with: prompt=login and max_age
		// count a sign-in as fresh when it is another session than this.
		req.Seen, req.SessionID = true, sess.ID
		if err := a.oidc.SaveRequest(ctx, req); err != nil {
			a.serverError(c, err)
			return
		}
	}
	here := oidcop.PathConsent + "?id=" + url.QueryEscape(req.ID)
	if user == nil {
		if req.HasPrompt(oidc.PromptNone) {
			a.refuse(c, req, oidc.ErrLoginRequired())
			return
		}
		// Sign-in (and its second step) keeps next and comes back here.
		a.redirect(c, "/signin?next="+url.QueryEscape(here))
		return
	}
	if err := account.Usable(user); err != nil {
		a.refuseAccount(c, err)
		return
	}
	if !freshEnough(req, sess, a.cfg.Now()) {
		if req.HasPrompt(oidc.PromptNone) {
			a.refuse(c, req, oidc.ErrLoginRequired())
			return
		}
		d := a.data(c, "Sign in")
		d.Next = here
		d.Notice = fmtNotice(noticeSignInAgainForApp, client.Name)
		a.renderForm(c, http.StatusOK, views.PageSignin, "signin-form", d)
		return
	}
	consent, err := a.store.Consent(ctx, user.ID, client.ID)
	if errors.Is(err, db.ErrNotFound) {
		consent, err = nil, nil
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	if oidcop.NeedsConsent(client, consent, req) {
		if req.HasPrompt(oidc.PromptNone) {
			a.refuse(c, req, errConsentRequired())
			return
		}
		a.renderConsent(c, req, client)
		return
	}
	a.approve(c, req, client, user, sess, consent)
}

// freshEnough reports whether the session's sign-in satisfies the
// request's prompt=login (max_age 0) or max_age: a sign-in made after the
// request arrived (another session than the one it came with) always
// does; otherwise the session must be younger than max_age.
//
// "Another session" is another id, or the same id started after the
// request. Since migration 0012 no session id is given twice; before it,
// SQLite gave a new session the row id of the one just ended (the
// password step before /signin/2fa ends it first), and the start time
// still tells such a sign-in apart. Both times are whole seconds; a
// session started in the request's own second counts as the old one,
// which at worst asks once more, never lets an old sign-in through.
func freshEnough(req *oidcop.AuthRequest, sess db.Session, now time.Time) bool {
	if req.MaxAge == nil || sess.ID != req.SessionID || sess.CreatedAt.After(req.Created) {
		return true
	}
	if *req.MaxAge == 0 {
		return false
	}
	return now.Sub(sess.CreatedAt) <= time.Duration(*req.MaxAge)*time.Second
}

// renderConsent shows the consent page. Its policy lets the form's answer
// redirect to the app: browsers apply form-action to the redirect after a
// form is sent, too.
func (a *App) renderConsent(c *gin.Context, req *oidcop.AuthRequest, client *db.OIDCClient) {
	d := a.data(c, "Sign in to "+client.Name)
	d.App = views.AppInfo{Name: client.Name, RequestID: req.ID, Sees: seesOf(req.Scopes), Host: hostOf(req.RedirectURI)}
	allowFormTo(c, req.RedirectURI)
	a.render(c, http.StatusOK, views.PageConsent, d)
}

// consentSubmit takes the answer of the consent page: Allow sends the
// browser back with a code, Deny with access_denied.
func (a *App) consentSubmit(c *gin.Context) {
	var f struct {
		ID       string `form:"id"`
		Decision string `form:"decision"`
	}
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	req, client, ok := a.authRequest(c, f.ID)
	if !ok {
		return
	}
	user, sess := currentUser(c), currentSession(c)
	if user == nil {
		// The session ended while the page was open.
		a.redirect(c, "/signin?next="+url.QueryEscape(oidcop.PathConsent+"?id="+url.QueryEscape(req.ID)))
		return
	}
	if err := account.Usable(user); err != nil {
		a.refuseAccount(c, err)
		return
	}
	switch f.Decision {
	case "allow":
		a.approve(c, req, client, user, sess, nil)
	case "deny":
		a.log.Info("oidc consent denied", "user_id", user.ID, "client_id", client.ID)
		a.refuse(c, req, oidc.ErrAccessDenied().WithDescription("the user denied the request"))
	default:
		a.errorPage(c, http.StatusBadRequest)
	}
}

// approve records the consent (a trusted app's too, so /account/apps lists
// it) and sends the browser back to the app with a code. consent is what
// was allowed before (nil when nothing or when the page was just
// answered).
func (a *App) approve(c *gin.Context, req *oidcop.AuthRequest, client *db.OIDCClient, user *db.User, sess db.Session, consent *db.OIDCConsent) {
	ctx := c.Request.Context()
	if consent == nil || !covers(consent.Scopes, req.Scopes) {
		scopes := req.Scopes
		if consent != nil {
			scopes = union(consent.Scopes, req.Scopes)
		}
		err := a.store.PutConsent(ctx, db.OIDCConsent{UserID: user.ID, ClientID: client.ID, Scopes: scopes, CreatedAt: a.cfg.Now()})
		if err != nil {
			a.serverError(c, err)
			return
		}
		a.recordApp(c, user.ID, true, client)
	}
	target, err := a.oidc.Approve(ctx, req, user.ID, sess.CreatedAt, sessionAMR(sess))
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.log.Info("oidc authorized", "user_id", user.ID, "client_id", client.ID)
	a.backToApp(c, client, target)
}

// refuse ends the request and sends the browser back to the app with the
// OAuth error.
func (a *App) refuse(c *gin.Context, req *oidcop.AuthRequest, e *oidc.Error) {
	target, err := a.oidc.Refuse(c.Request.Context(), req, e)
	if err != nil {
		a.serverError(c, err)
		return
	}
	client, err := a.store.Client(c.Request.Context(), req.ClientID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.backToApp(c, client, target)
}

// refuseAccount answers an account that may not use apps (disabled) with
// the error page the sign-in would show.
func (a *App) refuseAccount(c *gin.Context, err error) {
	status, msg, answered := a.failure(c, err)
	if answered {
		return
	}
	a.oidcErrorPage(c, status, "Access refused", msg)
}

// backToApp sends the browser to the app. After a form (the consent page,
// or the sign-in that led here) browsers check the redirect against the
// form page's form-action: the consent page allows the app's origin, and
// a navigation that comes from one of our own pages (Sec-Fetch-Site:
// same-origin: the sign-in's redirect) ends on a page that goes on by
// itself (meta refresh) instead, so no form's policy is in the way.
func (a *App) backToApp(c *gin.Context, client *db.OIDCClient, target string) {
	c.Writer.Header().Add("Vary", "HX-Request")
	switch {
	case c.Request.Method == http.MethodPost:
		c.Redirect(http.StatusSeeOther, target)
	case c.GetHeader("Sec-Fetch-Site") == "same-origin":
		d := a.data(c, "Signing in to "+client.Name)
		d.App = views.AppInfo{Name: client.Name, Host: hostOf(target), ReturnURL: target}
		a.render(c, http.StatusOK, views.PageContinue, d)
	default:
		c.Redirect(http.StatusFound, target)
	}
}

// allowFormTo widens this page's form-action to the origin of target.
func allowFormTo(c *gin.Context, target string) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return
	}
	origin := u.Scheme + "://" + u.Host
	c.Writer.Header()["Content-Security-Policy"] = []string{
		replaceOnce(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+origin)}
}

// endSessionOf ends the browser's Gatehouse session if it is userID's: an
// app's RP-initiated sign-out (its id_token_hint names the account). It
// is recorded as POST /signout's is: signed_out in the account's activity.
func (a *App) endSessionOf(ctx context.Context, userID int64) error {
	sid := a.sessions.GetInt64(ctx, sessionIDKey)
	if sid == 0 {
		return nil
	}
	err := a.accounts.EndSession(ctx, userID, sid)
	if errors.Is(err, db.ErrNotFound) {
		// Another account's session: not the app's to end.
		return nil
	}
	if err != nil {
		return err
	}
	ev, _ := ctx.Value(signOutEventKey{}).(db.Event)
	ev.UserID, ev.Kind = userID, account.EventSignedOut
	a.accounts.Record(ctx, ev)
	a.log.Info("signed out by an app", "user_id", userID)
	return a.sessions.Destroy(ctx)
}

// appsPage lists the apps the account has allowed.
func (a *App) appsPage(c *gin.Context) {
	u := currentUser(c)
	consents, err := a.store.UserConsents(c.Request.Context(), u.ID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d := a.data(c, "Apps")
	for _, k := range consents {
		d.Apps = append(d.Apps, views.AppRow{ClientID: k.ClientID, Name: k.ClientName, Since: k.CreatedAt, Sees: seesOf(k.Scopes)})
	}
	a.render(c, http.StatusOK, views.PageApps, d)
}

// appsRevoke removes an app's access: its tokens stop working at once and
// it must ask again.
func (a *App) appsRevoke(c *gin.Context) {
	var f struct {
		ClientID string `form:"client_id"`
	}
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	u := currentUser(c)
	ctx := c.Request.Context()
	client, err := a.store.Client(ctx, f.ClientID)
	if errors.Is(err, db.ErrNotFound) {
		a.setNotice(c, "That app was already removed.")
		a.redirect(c, "/account/apps")
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	_, err = a.store.Consent(ctx, u.ID, client.ID)
	allowed := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		a.serverError(c, err)
		return
	}
	if err := a.store.RevokeUserClient(ctx, u.ID, client.ID); err != nil {
		a.serverError(c, err)
		return
	}
	if allowed {
		a.recordApp(c, u.ID, false, client)
	}
	a.setNotice(c, fmtNotice("%s can no longer sign you in.", client.Name))
	a.redirect(c, "/account/apps")
}

// seesOf says in words what scopes let an app see.
func seesOf(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		out = append(out, oidcop.ScopeText(s))
	}
	return out
}

// hostOf is the host of a URL, for "you go back to …".
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

func covers(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// sessionAMR is the "amr" of the session's sign-in method.
func sessionAMR(s db.Session) []string { return oidcop.AMR(s.Method) }

// recordApp records an app allowed or removed in the account's activity.
func (a *App) recordApp(c *gin.Context, userID int64, allowed bool, client *db.OIDCClient) {
	kind := account.EventAppRemoved
	if allowed {
		kind = account.EventAppAllowed
	}
	a.record(c, userID, kind, client.Name)
}

func fmtNotice(format, name string) string { return fmt.Sprintf(format, name) }

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

// errConsentRequired is OpenID Connect's consent_required (Core §3.1.2.6),
// which op has no constructor for.
func errConsentRequired() *oidc.Error { return &oidc.Error{ErrorType: "consent_required"} }
