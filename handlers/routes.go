package handlers

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/static"
)

// routes is the whole route table.
func (a *App) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	// With no trusted proxies the client address is the connection's.
	if err := r.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if a.metrics != nil {
		// First, so the route is noted even when a later layer aborts.
		r.Use(a.noteRoute)
	}
	r.Use(a.recovery, a.loadUser)
	r.NoRoute(a.notFound)
	r.NoMethod(a.methodNotAllowed)

	// Public: the same for everyone.
	r.GET("/healthz", a.healthz)
	r.GET("/static/*file", a.staticFiles())

	// Guest-only: a signed-in visitor is sent to the dashboard.
	guest := r.Group("/", a.guestOnly)
	guest.GET("/", a.home)
	guest.GET("/signup", a.signupPage)
	guest.POST("/signup", a.signupSubmit)

	// The sign-in form; signed in, it sends the visitor on to rd (an app
	// behind forward-auth) or the dashboard.
	r.GET("/signin", a.signinPage)

	// Sign-in answers signed in or out alike (product.md §2): a signed-in
	// visitor who signs in again goes to next like anyone else.
	r.POST("/signin", a.signinSubmit)

	// The second step of a sign-in, and passkey sign-in (product.md §10):
	// signed out (a pending step lives in the visitor's session), or
	// signed in and signing in again, like POST /signin.
	r.GET("/signin/2fa", a.twoStepPage)
	r.POST("/signin/2fa", a.twoStepSubmit)
	r.POST("/signin/passkey/begin", a.passkeysOn, a.passkeySigninBegin)
	r.POST("/signin/passkey/finish", a.passkeysOn, a.passkeySigninFinish)

	// Inline validation of the sign-up form (htmx), field by field.
	r.POST("/signup/validate/:field", a.signupValidate)

	// Sign-out works signed in or out (signed out it just redirects).
	r.POST("/signout", a.signout)

	// Links from mail, and the password reset that sends one: signed in or
	// out alike, since a link may be opened in another browser. Resending
	// a verification link needs the signed-in account (it says so itself).
	r.GET("/verify", a.verifyEmail)
	r.POST("/verify/resend", a.verifyResend)
	r.GET("/forgot", a.forgotPage)
	r.POST("/forgot", a.forgotSubmit)
	r.GET("/reset", a.resetPage)
	r.POST("/reset", a.resetSubmit)

	// Signed-in pages: signed-out visitors go to sign-in with ?next=.
	private := r.Group("/", a.requireUser)
	private.GET("/dashboard", a.dashboard)
	private.GET("/account", a.accountPage)
	private.POST("/account/password", a.passwordSubmit)
	private.POST("/account/email", a.emailSubmit)
	private.POST("/account/delete", a.deleteSubmit)
	private.GET("/account/sessions", a.sessionsPage)
	private.POST("/account/sessions/revoke", a.revokeSubmit)
	private.GET("/account/activity", a.activityPage)
	private.POST("/account/not-me", a.notMeSubmit)

	// Admin pages (product.md §13): signed-out visitors go to sign-in,
	// signed-in non-admins get 404. Every action is a POST form.
	admin := r.Group("/admin", a.requireUser, a.requireAdmin)
	admin.GET("", a.adminList)
	admin.GET("/users/:id", a.adminUserPage)
	admin.POST("/users/:id/:action", a.adminAction)
	admin.GET("/log", a.adminLogPage)
	admin.GET("/clients", a.adminClientsPage)
	admin.POST("/clients", a.adminAddClient)
	admin.POST("/clients/:client_id/delete", a.adminDeleteClient)
	private.GET("/account/security", a.securityPage)
	private.POST("/account/totp/setup", a.totpSetup)
	private.POST("/account/totp/enable", a.totpEnable)
	private.POST("/account/totp/disable", a.totpDisable)
	private.POST("/account/recovery-codes", a.recoveryCodesSubmit)
	private.POST("/account/recovery-codes/download", a.recoveryDownload)
	private.POST("/account/passkeys/register/begin", a.passkeysOn, a.passkeyRegisterBegin)
	private.POST("/account/passkeys/register/finish", a.passkeysOn, a.passkeyRegisterFinish)
	private.POST("/account/passkeys/delete", a.passkeyDelete)

	// OpenID Connect (product.md §12): the provider's endpoints where
	// discovery says, the consent page, and /account/apps.
	a.oidcRoutes(r, private)

	// JSON API: signed-out callers get 401 JSON.
	api := r.Group("/api", a.requireUserJSON)
	api.GET("/me", a.apiMe)

	// Forward-auth for reverse proxies (product.md §11): any method, as
	// proxies differ; they change nothing and are outside the
	// cross-origin check (crossOrigin). Every method reaches these as a
	// GET (asGet): Gin's Any knows nine methods, and
	// nginx's subrequest keeps WebDAV's PROPFIND or MKCOL.
	r.GET(pathForwardAuth, a.forwardAuth)
	r.GET(pathAuthRequest, a.nginxAuthRequest)

	return r, nil
}

// staticFiles serves the embedded assets. URLs carry a content hash, so
// they may be cached for a year.
func (a *App) staticFiles() gin.HandlerFunc {
	files := http.StripPrefix("/static/", http.FileServerFS(static.Files))
	return func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if info, err := fs.Stat(static.Files, name); err != nil || info.IsDir() {
			a.notFound(c)
			return
		}
		if c.Query("v") != "" {
			c.Header("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Header("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(c.Writer, c.Request)
	}
}
