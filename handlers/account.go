package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/useragent"
	"gatehouse/views"
)

// Account settings (product.md §7): the settings page, changing the
// password, deleting the account, and the list of signed-in sessions. The
// email change (POST /account/email) renders its errors with accountInvalid
// and checks the password with checkCurrentPassword, both below.

// passwordChangeForm is the change-password form as posted.
type passwordChangeForm struct {
	CurrentPassword    string `form:"current_password"`
	NewPassword        string `form:"new_password"`
	NewPasswordConfirm string `form:"new_password_confirm"`
}

// deleteAccountForm is the delete-account form as posted.
type deleteAccountForm struct {
	CurrentPassword string `form:"current_password"`
}

// revokeForm names the session to end: its id, or "others".
type revokeForm struct {
	ID string `form:"id"`
}

// Form ids of the account page. Each names a form, prefixes its field ids
// and names its fragment ("password-form").
const (
	formPassword = "password"
	formEmail    = "email"
	formDelete   = "delete"
)

const (
	msgCurrentPasswordRequired = "Enter your current password."
	msgCurrentPasswordWrong    = "Your current password is not correct."

	noticePasswordChanged = "Your password was changed."
	noticeAccountDeleted  = "Your account was deleted."
	noticeSessionEnded    = "That session was signed out."
	noticeOthersEnded     = "You were signed out everywhere else."
)

const accountTitle = "Account settings"

func (a *App) accountPage(c *gin.Context) {
	a.render(c, http.StatusOK, views.PageAccount, a.data(c, accountTitle))
}

// accountInvalid shows the account page again with the errors of one of
// its forms (formID says which): v's field errors, the form's values
// (never passwords) and a message for the whole form; the whole page for a
// plain request, only that form's fragment for htmx.
func (a *App) accountInvalid(c *gin.Context, status int, formID string, v *validator, values map[string]string, message string) {
	d := a.data(c, accountTitle)
	d.Form = v.form(values, message)
	d.Form.ID = formID
	a.renderForm(c, status, views.PageAccount, formID+"-form", d)
}

// checkCurrentPassword checks the password a signed-in form asks for
// before a sensitive change, and records what is wrong with it on the
// field current_password of v.
//
// A wrong current password is a 422 with that field error, not the 401 of
// product.md §3: the visitor is signed in (401 would say they are not, to
// people and to scripts alike), and the mistake is in one field of a form
// with other fields, so it belongs next to that field like any invalid
// input. Wrong guesses count against this session (product.md §6), so a
// stolen session is no way to guess the password and nobody else's failed
// sign-ins lock the user out of their settings; past the limit the form
// answers 429, and 503 when no hashing slot comes free (nothing counts).
// It reports whether it has answered the request; the caller then stops.
// values are the form's other fields, shown again then.
func (a *App) checkCurrentPassword(c *gin.Context, v *validator, formID, pw string, values map[string]string) (answered bool) {
	return a.checkPasswordFor(c, v, pw, func(status int, msg string) {
		a.accountInvalid(c, status, formID, &validator{}, values, msg)
	})
}

// checkPasswordFor is checkCurrentPassword for any page: again shows the
// page's form with a status and a message for the whole form (throttled,
// busy).
func (a *App) checkPasswordFor(c *gin.Context, v *validator, pw string, again func(status int, msg string)) (answered bool) {
	if pw == "" {
		v.check(false, "current_password", msgCurrentPasswordRequired)
		return false
	}
	err := a.accounts.CheckCurrentPassword(c.Request.Context(), currentUser(c), currentSession(c).ID, pw)
	if errors.Is(err, account.ErrWrongPassword) {
		v.check(false, "current_password", msgCurrentPasswordWrong)
		return false
	}
	if err != nil {
		if status, msg, answered := a.failure(c, err); !answered {
			again(status, msg)
		}
		return true
	}
	// A password entered now counts for the admin actions' 15 minutes.
	a.notePassword(c)
	return false
}

// passwordSubmit changes the password. Every other session of the user
// ends, and this one gets a new token: whoever had the old password, or a
// copy of a cookie, is out.
func (a *App) passwordSubmit(c *gin.Context) {
	var f passwordChangeForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	var v validator
	if a.checkCurrentPassword(c, &v, formPassword, f.CurrentPassword, nil) {
		return
	}
	if !v.valid() {
		a.accountInvalid(c, http.StatusUnprocessableEntity, formPassword, &v, nil, "")
		return
	}
	ctx := c.Request.Context()
	sess := currentSession(c)
	if _, err := a.accounts.ChangePassword(ctx, user, sess.ID, f.NewPassword, f.NewPasswordConfirm); err != nil {
		if status, msg, answered := a.failure(c, err); !answered {
			a.accountInvalid(c, status, formPassword, problemsOf(err), nil, msg)
		}
		return
	}
	// A privilege change: a new token for this session (RenewToken deletes
	// the old one), and the user_sessions row follows it so revoking it
	// later still ends it. The absolute deadline stays (product.md §5):
	// scs would restart it.
	deadline := a.sessions.Deadline(ctx)
	if err := a.sessions.RenewToken(ctx); err != nil {
		a.serverError(c, err)
		return
	}
	a.sessions.SetDeadline(ctx, deadline)
	if err := a.store.RekeySession(ctx, sess.ID, a.sessions.Token(ctx)); err != nil {
		a.serverError(c, err)
		return
	}
	a.record(c, user.ID, account.EventPasswordChanged, "")
	a.setNotice(c, noticePasswordChanged)
	a.redirect(c, "/account")
}

// deleteSubmit deletes the account with everything that belongs to it,
// after the password confirms it is the owner.
func (a *App) deleteSubmit(c *gin.Context) {
	var f deleteAccountForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	var v validator
	if a.checkCurrentPassword(c, &v, formDelete, f.CurrentPassword, nil) {
		return
	}
	if !v.valid() {
		a.accountInvalid(c, http.StatusUnprocessableEntity, formDelete, &v, nil, "")
		return
	}
	ctx := c.Request.Context()
	if err := a.accounts.Delete(ctx, user); err != nil {
		a.serverError(c, err)
		return
	}
	if err := a.sessions.Destroy(ctx); err != nil {
		a.log.Error("destroy session", "err", err)
	}
	// A fresh visitor session carries the notice, under a new token.
	a.setNotice(c, noticeAccountDeleted)
	a.redirect(c, "/")
}

// sessionsPage lists the user's live sessions, this one first.
func (a *App) sessionsPage(c *gin.Context) {
	user := currentUser(c)
	cur := currentSession(c)
	list, err := a.store.UserSessions(c.Request.Context(), user.ID, time.Now(), a.cfg.SessionIdle)
	if err != nil {
		a.serverError(c, err)
		return
	}
	rows := make([]views.SessionRow, 0, len(list))
	for _, s := range list {
		row := views.SessionRow{
			ID:        s.ID,
			StartedAt: s.CreatedAt,
			LastSeen:  s.LastSeenAt,
			IP:        s.IP,
			Browser:   useragent.Describe(s.UserAgent),
			Current:   s.ID == cur.ID,
		}
		if row.Current {
			rows = append([]views.SessionRow{row}, rows...)
		} else {
			rows = append(rows, row)
		}
	}
	d := a.data(c, "Signed-in sessions")
	d.Sessions = rows
	a.render(c, http.StatusOK, views.PageSessions, d)
}

// revokeSubmit ends one of the user's sessions, or with id=others all but
// this one. Ending this one is signing out. An id that is not one of the
// user's live sessions gets 404, whether it belongs to someone else or to
// nobody, and nothing is touched.
func (a *App) revokeSubmit(c *gin.Context) {
	var f revokeForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	cur := currentSession(c)
	ctx := c.Request.Context()
	f.ID = strings.TrimSpace(f.ID)
	if f.ID == "others" {
		n, err := a.accounts.SignOutEverywhere(ctx, user.ID, cur.ID)
		if err != nil {
			a.serverError(c, err)
			return
		}
		a.log.Info("signed out everywhere else", "user_id", user.ID, "sessions_ended", n)
		a.record(c, user.ID, account.EventSessionEnded, account.SessionsOthers)
		a.setNotice(c, noticeOthersEnded)
		a.redirect(c, "/account/sessions")
		return
	}
	id, err := strconv.ParseInt(f.ID, 10, 64)
	if err != nil || id <= 0 {
		a.notFound(c)
		return
	}
	if id == cur.ID {
		a.signOut(c, user)
		a.redirect(c, "/signin")
		return
	}
	err = a.accounts.EndSession(ctx, user.ID, id)
	if errors.Is(err, db.ErrNotFound) {
		a.notFound(c)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.log.Info("session revoked", "user_id", user.ID, "session_id", id)
	a.record(c, user.ID, account.EventSessionEnded, "")
	a.setNotice(c, noticeSessionEnded)
	a.redirect(c, "/account/sessions")
}
