package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/views"
)

// Notices after a link was opened.
const (
	noticeVerified     = "Your email address is verified."
	noticeEmailChanged = "Your email address was changed."
)

// tokenLength is the length of a link token: 32 bytes in unpadded base64url.
const tokenLength = 43

// verifyEmail opens a verification or email-change link: the address is
// marked verified (or the account moves to the new one), then the
// dashboard shows a notice. The link may be opened signed out, in another
// browser: the token alone names the account.
func (a *App) verifyEmail(c *gin.Context) {
	// The URL carries a token: keep the answer out of every cache.
	c.Header("Cache-Control", "no-store")
	token := c.Query("token")
	if len(token) != tokenLength {
		a.badLink(c, views.MailVerify, db.ErrNotFound)
		return
	}
	if isHead(c.Request) {
		// A link scanner's HEAD: say whether the link works, use nothing.
		_, err := a.store.PeekLinkToken(c.Request.Context(), token, a.accounts.Now(), db.TokenVerify, db.TokenEmailChange)
		if isLinkError(err) {
			a.badLink(c, views.MailVerify, err)
			return
		}
		if err != nil {
			a.serverError(c, err)
			return
		}
		c.Status(http.StatusOK)
		return
	}
	t, err := a.store.UseEmailToken(c.Request.Context(), token, a.accounts.Now())
	switch {
	case errors.Is(err, db.ErrDuplicateEmail):
		a.linkPage(c, http.StatusConflict, views.MailVerify, "That address is taken",
			"Another account started using that email address after you asked for the change, so your account keeps its current address.")
		return
	case isLinkError(err):
		a.badLink(c, views.MailVerify, err)
		return
	case err != nil:
		a.serverError(c, err)
		return
	}
	if t.Kind == db.TokenEmailChange {
		a.log.Info("email changed", "user_id", t.UserID)
		a.record(c, t.UserID, account.EventEmailChanged, "")
		a.setNotice(c, noticeEmailChanged)
	} else {
		a.log.Info("email verified", "user_id", t.UserID)
		a.setNotice(c, noticeVerified)
	}
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

// verifyResend mails a new verification link, at most once a minute and
// five times an hour per account.
func (a *App) verifyResend(c *gin.Context) {
	u := currentUser(c)
	if u == nil {
		// Back to the dashboard after sign-in: this URL answers POST only.
		a.redirect(c, "/signin?next=%2Fdashboard")
		return
	}
	if u.EmailVerified() {
		a.setNotice(c, "Your email address is already verified.")
		a.redirect(c, "/dashboard")
		return
	}
	if wait := a.accounts.TakeResend(c.Request.Context(), u.ID); wait > 0 {
		setRetryAfter(c, wait)
		d := a.data(c, "Dashboard")
		d.Session = views.SessionInfo{ExpiresAt: a.sessionExpiry(c), Idle: a.cfg.SessionIdle}
		d.Form.Message = "We sent you a link a moment ago. You can ask for another in " + waitText(wait) + "."
		a.renderForm(c, http.StatusTooManyRequests, views.PageDashboard, "verify-banner", d)
		return
	}
	a.sendVerification(u)
	a.log.Info("verification link resent", "user_id", u.ID)
	a.setNotice(c, "We sent a new link to "+u.Email+".")
	a.redirect(c, "/dashboard")
}

// isLinkError reports whether err says a link cannot be used (as opposed
// to the database failing).
func isLinkError(err error) bool {
	return errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrTokenUsed) || errors.Is(err, db.ErrTokenExpired)
}

// badLink explains why a link from a mail cannot be used: 400 for a link
// that is not (or no longer) valid at all, 410 Gone for one that was
// valid but has been used or has expired. kind ("verify" or "reset")
// decides which new link the page offers.
func (a *App) badLink(c *gin.Context, kind string, err error) {
	valid := "24 hours"
	if kind == views.MailReset {
		valid = "one hour"
	}
	switch {
	case errors.Is(err, db.ErrTokenUsed):
		a.linkPage(c, http.StatusGone, kind, "This link was already used",
			"Each link in our mails works only once, and this one has been opened before.")
	case errors.Is(err, db.ErrTokenExpired):
		a.linkPage(c, http.StatusGone, kind, "This link has expired",
			"Links like this one work for "+valid+". Ask for a new one below.")
	default:
		a.linkPage(c, http.StatusBadRequest, kind, "This link is not valid",
			"The link may be incomplete (copy the whole of it from the mail), or a newer link has replaced it. Ask for a new one below.")
	}
}

// linkPage renders the bad-link page.
func (a *App) linkPage(c *gin.Context, status int, kind, heading, message string) {
	d := a.data(c, heading)
	d.Error = views.ErrorInfo{Status: status, Heading: heading, Message: message}
	d.Link.Kind = kind
	a.render(c, status, views.PageLink, d)
}
