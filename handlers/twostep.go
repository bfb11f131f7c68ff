package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/views"
)

// The second step of a sign-in (product.md §10): after the right password
// of an account with a second factor, the browser holds a pending step in
// its (signed-out) session for five minutes, and /signin/2fa asks for a
// code, a recovery code or a passkey. Until it passes nobody is signed in.

// errSecondStep is signIn's answer to a proof that still needs a second
// factor: the caller calls beginSecondStep.
var errSecondStep = errors.New("handlers: a second step remains")

// pendingTTL is how long a pending second step lasts.
const pendingTTL = 5 * time.Minute

// Keys of the pending step in the session data.
const (
	pendingUserKey     = "2fa.user"
	pendingPasswordKey = "2fa.pw" // SHA-256 of the password hash read by the password step
	pendingRememberKey = "2fa.remember"
	pendingNextKey     = "2fa.next"
	pendingRDKey       = "2fa.rd"
	pendingUntilKey    = "2fa.until"
)

const (
	msgCodeRequired   = "Enter the code from your authenticator app, or a recovery code."
	msgCodeWrong      = "Incorrect code."
	noticeSignInAgain = "That sign-in took too long. Sign in again."
)

// pending is a second step waiting in the session.
type pending struct {
	userID   int64
	pwHash   string
	remember bool
	next, rd string
}

// twoStepForm is the second-step form as posted.
type twoStepForm struct {
	Code string `form:"code"`
}

// passwordMark is what the pending step keeps of the password hash: enough
// to see that it changed, nothing to sign in with.
func passwordMark(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:])
}

// beginSecondStep remembers the pending step under a new token (the
// visitor's privilege changed) and sends the browser to /signin/2fa,
// keeping next and rd. A session this browser was signed in with before
// ends (endPrevious).
func (a *App) beginSecondStep(c *gin.Context, proof *account.Proof, remember bool, next, rd string) {
	ctx := c.Request.Context()
	if err := a.endPrevious(c); err != nil {
		a.serverError(c, err)
		return
	}
	a.sessions.Remove(ctx, sessionIDKey)
	if err := a.sessions.RenewToken(ctx); err != nil {
		a.serverError(c, err)
		return
	}
	a.sessions.Put(ctx, pendingUserKey, proof.User.ID)
	a.sessions.Put(ctx, pendingPasswordKey, passwordMark(proof.User.PasswordHash))
	a.sessions.Put(ctx, pendingRememberKey, remember)
	a.sessions.Put(ctx, pendingNextKey, next)
	a.sessions.Put(ctx, pendingRDKey, rd)
	a.sessions.Put(ctx, pendingUntilKey, a.cfg.Now().Add(pendingTTL).Unix())
	q := url.Values{}
	if next != "" {
		q.Set("next", next)
	}
	if rd != "" {
		q.Set("rd", rd)
	}
	target := "/signin/2fa"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	a.redirect(c, target)
}

// pendingStep returns the pending second step, or nil when there is none
// or it has expired (then it is dropped).
func (a *App) pendingStep(c *gin.Context) *pending {
	ctx := c.Request.Context()
	id := a.sessions.GetInt64(ctx, pendingUserKey)
	if id == 0 {
		return nil
	}
	if a.cfg.Now().Unix() >= a.sessions.GetInt64(ctx, pendingUntilKey) {
		a.clearPending(c)
		return nil
	}
	return &pending{
		userID:   id,
		pwHash:   a.sessions.GetString(ctx, pendingPasswordKey),
		remember: a.sessions.GetBool(ctx, pendingRememberKey),
		next:     a.sessions.GetString(ctx, pendingNextKey),
		rd:       a.sessions.GetString(ctx, pendingRDKey),
	}
}

// clearPending drops the pending step.
func (a *App) clearPending(c *gin.Context) {
	ctx := c.Request.Context()
	for _, k := range []string{pendingUserKey, pendingPasswordKey, pendingRememberKey, pendingNextKey, pendingRDKey, pendingUntilKey} {
		a.sessions.Remove(ctx, k)
	}
}

// afterSignIn sends a browser that has just signed in on: to rd when it
// is one of our apps (product.md §11), else to next when it is a local
// path, else the dashboard (App.destination, the one place every way in
// goes through).
func (a *App) afterSignIn(c *gin.Context, next, rd string) {
	a.redirect(c, a.destination(next, rd))
}

const twoStepTitle = "Two-step sign-in"

// twoStepPage asks for the second factor; with no pending step, 303
// /signin.
func (a *App) twoStepPage(c *gin.Context) {
	p := a.pendingStep(c)
	if p == nil {
		a.redirect(c, "/signin")
		return
	}
	d, err := a.twoStepData(c, p)
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.renderForm(c, http.StatusOK, views.PageTwoStep, "twostep-form", d)
}

// twoStepData fills the second-step page: whether to offer a passkey.
func (a *App) twoStepData(c *gin.Context, p *pending) (views.Data, error) {
	d := a.data(c, twoStepTitle)
	keys, err := a.store.Passkeys(c.Request.Context(), p.userID)
	d.TwoStep.Passkey = len(keys) > 0
	return d, err
}

// twoStepSubmit checks the code of the second step and, when it is right,
// signs in (a new token, the session marked as having passed a second
// factor) and goes on to rd, next or the dashboard.
func (a *App) twoStepSubmit(c *gin.Context) {
	var f twoStepForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	p := a.pendingStep(c)
	if p == nil {
		a.redirect(c, "/signin")
		return
	}
	var v validator
	if strings.TrimSpace(f.Code) == "" {
		v.check(false, "code", msgCodeRequired)
		a.twoStepAgain(c, http.StatusUnprocessableEntity, p, &v, "")
		return
	}
	proof, err := a.accounts.SecondStep(c.Request.Context(), p.userID, f.Code, c.ClientIP())
	if err == nil && passwordMark(proof.User.PasswordHash) != p.pwHash {
		// The password changed since the password step checked it.
		err = db.ErrAccountChanged
	}
	if err == nil {
		err = a.signIn(c, proof, p.remember)
	}
	switch {
	case err == nil:
		if proof.Method == account.MethodRecoveryCode {
			a.record(c, proof.User.ID, account.EventRecoveryCodeUsed, "")
		}
		a.clearPending(c)
		a.afterSignIn(c, p.next, p.rd)
	case errors.Is(err, db.ErrAccountChanged):
		// The password changed (or the account went) since the password
		// step: start again.
		a.clearPending(c)
		a.setNotice(c, noticeSignInAgain)
		a.redirect(c, "/signin")
	case errors.Is(err, account.ErrWrongCode):
		a.record(c, p.userID, account.EventSignInFailed, "wrong_code")
		a.twoStepAgain(c, http.StatusUnauthorized, p, &v, msgCodeWrong)
	default:
		if status, msg, answered := a.failure(c, err); !answered {
			a.twoStepAgain(c, status, p, &v, msg)
		}
	}
}

// twoStepAgain shows the second-step form again with its errors.
func (a *App) twoStepAgain(c *gin.Context, status int, p *pending, v *validator, message string) {
	d, err := a.twoStepData(c, p)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d.Form = v.form(nil, message)
	a.renderForm(c, status, views.PageTwoStep, "twostep-form", d)
}
