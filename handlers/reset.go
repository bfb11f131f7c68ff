package handlers

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/rules"
	"gatehouse/views"
)

// forgotForm asks for a reset link.
type forgotForm struct {
	Email string `form:"email"`
}

// resetForm sets a new password with a reset link's token.
type resetForm struct {
	Token              string `form:"token"`
	NewPassword        string `form:"new_password"`
	NewPasswordConfirm string `form:"new_password_confirm"`
}

const noticePasswordReset = "Your password was reset. Sign in with your new password."

// forgotPage works signed in too: someone signed in on one device may
// have forgotten the password another device asks for.
func (a *App) forgotPage(c *gin.Context) {
	a.renderForm(c, http.StatusOK, views.PageForgot, "forgot-form", a.data(c, "Forgot your password?"))
}

// forgotSubmit answers every well-formed address with the same page, in
// the same time: the lookup, the token and the mail all happen in the
// background, and past three requests an hour for one address (or ten
// from one client address) nothing is sent but the page is the same (a
// 429 would tell that the account exists). Only a malformed address gets
// an error (422): no account can have it, so saying so tells nothing.
func (a *App) forgotSubmit(c *gin.Context) {
	var f forgotForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	email := rules.NormalizeEmail(f.Email)
	var v validator
	v.add("email", rules.EmailError(email))
	if !v.valid() {
		d := a.data(c, "Forgot your password?")
		d.Form = v.form(map[string]string{"email": f.Email}, "")
		a.renderForm(c, http.StatusUnprocessableEntity, views.PageForgot, "forgot-form", d)
		return
	}
	if a.accounts.TakeResetMail(c.Request.Context(), email, c.ClientIP()) {
		a.sendReset(email, a.requestEvent(c, account.EventResetRequested))
	}
	d := a.data(c, "Forgot your password?")
	d.Link.Sent = true
	a.renderForm(c, http.StatusOK, views.PageForgot, "forgot-form", d)
}

// resetPage shows the new-password form of a live reset link. Opening the
// page does not use the link; setting the password does.
func (a *App) resetPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	token := c.Query("token")
	if len(token) != tokenLength {
		a.badLink(c, views.MailReset, db.ErrNotFound)
		return
	}
	if _, err := a.store.PeekLinkToken(c.Request.Context(), token, a.accounts.Now(), db.TokenReset); err != nil {
		if isLinkError(err) {
			a.badLink(c, views.MailReset, err)
			return
		}
		a.serverError(c, err)
		return
	}
	d := a.data(c, "Choose a new password")
	d.Link.Token = token
	a.renderForm(c, http.StatusOK, views.PageReset, "reset-form", d)
}

// resetSubmit sets the new password, uses the link, and ends every session
// of the account, all in one transaction; then the user signs in afresh.
func (a *App) resetSubmit(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	var f resetForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	if len(f.Token) != tokenLength {
		a.resetLinkFailed(c, f.Token, db.ErrNotFound)
		return
	}
	userID, err := a.accounts.ResetPassword(c.Request.Context(), f.Token, f.NewPassword, f.NewPasswordConfirm)
	switch {
	case isLinkError(err):
		a.resetLinkFailed(c, f.Token, err)
		return
	case err != nil:
		// Invalid or busy: the link is not used yet, so the same link
		// works when tried again.
		if status, msg, answered := a.failure(c, err); !answered {
			a.resetAgain(c, status, f.Token, problemsOf(err), msg)
		}
		return
	}
	a.record(c, userID, account.EventPasswordReset, "")
	if cur := currentUser(c); cur != nil && cur.ID == userID {
		// This browser's session was among those ended: drop it here too,
		// so the notice below travels under a fresh token.
		if err := a.sessions.Destroy(c.Request.Context()); err != nil {
			a.log.Error("destroy session", "err", err)
		}
	}
	a.setNotice(c, noticePasswordReset)
	a.redirect(c, "/signin")
}

// resetAgain shows the new-password form again, for the same link, with
// its errors and a message for the whole form.
func (a *App) resetAgain(c *gin.Context, status int, token string, v *validator, message string) {
	d := a.data(c, "Choose a new password")
	d.Form = v.form(nil, message)
	d.Link.Token = token
	a.renderForm(c, status, views.PageReset, "reset-form", d)
}

// resetLinkFailed answers a reset submit whose link cannot be used. htmx
// would not show a 400 or 410 page in place of the form, so it is sent to
// the link's page, which explains.
func (a *App) resetLinkFailed(c *gin.Context, token string, err error) {
	if !isLinkError(err) {
		a.serverError(c, err)
		return
	}
	if isHTMX(c) {
		a.redirect(c, "/reset?"+url.Values{"token": {token}}.Encode())
		return
	}
	a.badLink(c, views.MailReset, err)
}
