package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/db"
	"gatehouse/views"
)

// signupForm is the sign-up form as posted.
type signupForm struct {
	Username        string `form:"username"`
	Email           string `form:"email"`
	Password        string `form:"password"`
	PasswordConfirm string `form:"password_confirm"`
}

// signinForm is the sign-in form as posted.
type signinForm struct {
	Username string `form:"username"`
	Password string `form:"password"`
	Remember string `form:"remember"`
	Next     string `form:"next"`
}

func (a *App) home(c *gin.Context) {
	a.render(c, http.StatusOK, views.PageHome, a.data(c, "Welcome"))
}

func (a *App) signupPage(c *gin.Context) {
	d := a.data(c, "Create your account")
	a.renderForm(c, http.StatusOK, views.PageSignup, "signup-form", d)
}

// signupSubmit creates an account and signs it in.
func (a *App) signupSubmit(c *gin.Context) {
	var f signupForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	f.Username = normalizeUsername(f.Username)
	f.Email = normalizeEmail(f.Email)

	var v validator
	v.add("username", usernameError(f.Username))
	v.add("email", emailError(f.Email))
	v.add("password", passwordError(f.Password, f.Username, f.Email))
	v.add("password_confirm", confirmError(f.Password, f.PasswordConfirm))
	ctx := c.Request.Context()
	// Cheap uniqueness checks before the expensive hash; CreateUser checks
	// again under the write lock.
	if v.valid() {
		if err := a.checkTaken(ctx, &v, f.Username, f.Email); err != nil {
			a.serverError(c, err)
			return
		}
	}
	if !v.valid() {
		a.signupAgain(c, http.StatusUnprocessableEntity, f, &v, "")
		return
	}

	hash, err := a.hash(ctx, f.Password)
	if errors.Is(err, errBusy) {
		a.signupAgain(c, a.busy(c), f, &v, msgBusy)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	user, err := a.store.CreateUser(ctx, f.Username, f.Email, hash, timeNow())
	switch {
	case errors.Is(err, db.ErrDuplicateUsername):
		v.check(false, "username", msgUsernameTaken)
	case errors.Is(err, db.ErrDuplicateEmail):
		v.check(false, "email", msgEmailTaken)
	case err != nil:
		a.serverError(c, err)
		return
	}
	if !v.valid() {
		a.signupAgain(c, http.StatusUnprocessableEntity, f, &v, "")
		return
	}
	a.log.Info("account created", "user_id", user.ID, "username", user.Username)
	a.sendVerification(user)
	if err := a.startSession(c, user, false); err != nil {
		a.serverError(c, err)
		return
	}
	a.redirect(c, "/dashboard")
}

// checkTaken records an error for a username or email already in use.
func (a *App) checkTaken(ctx context.Context, v *validator, username, email string) error {
	msg, err := a.usernameProblem(ctx, username)
	if err != nil {
		return err
	}
	v.add("username", msg)
	msg, err = a.emailProblem(ctx, email)
	if err != nil {
		return err
	}
	v.add("email", msg)
	return nil
}

// usernameProblem is what is wrong with a normalised username: its rule,
// then whether an account has it; "" when nothing is.
func (a *App) usernameProblem(ctx context.Context, username string) (string, error) {
	if msg := usernameError(username); msg != "" {
		return msg, nil
	}
	taken, err := a.store.UsernameTaken(ctx, username)
	if err != nil || !taken {
		return "", err
	}
	return msgUsernameTaken, nil
}

// emailProblem is usernameProblem for an email address.
func (a *App) emailProblem(ctx context.Context, email string) (string, error) {
	if msg := emailError(email); msg != "" {
		return msg, nil
	}
	taken, err := a.store.EmailTaken(ctx, email)
	if err != nil || !taken {
		return "", err
	}
	return msgEmailTaken, nil
}

// signupAgain shows the sign-up form again with its errors and a message
// for the whole form: the values kept, never the passwords.
func (a *App) signupAgain(c *gin.Context, status int, f signupForm, v *validator, message string) {
	d := a.data(c, "Create your account")
	d.Form = v.form(map[string]string{"username": f.Username, "email": f.Email}, message)
	a.renderForm(c, status, views.PageSignup, "signup-form", d)
}

// signupValidate checks one sign-up field as the user types (htmx) and
// answers its error slot. Empty fields are not flagged here: nagging about
// a field the user has not reached yet helps nobody; the submit does that.
func (a *App) signupValidate(c *gin.Context) {
	var f signupForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	username, email := normalizeUsername(f.Username), normalizeEmail(f.Email)
	ctx := c.Request.Context()
	field := c.Param("field")
	var msg string
	var err error
	switch field {
	case "username":
		if username != "" {
			msg, err = a.usernameProblem(ctx, username)
		}
	case "email":
		if email != "" {
			msg, err = a.emailProblem(ctx, email)
		}
	case "password":
		if f.Password != "" {
			msg = passwordError(f.Password, username, email)
		}
	case "password_confirm":
		if f.PasswordConfirm != "" {
			msg = confirmError(f.Password, f.PasswordConfirm)
		}
	default:
		a.notFound(c)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	d := views.Data{Field: views.Field{Name: field, Error: msg}}
	a.write(c, http.StatusOK, views.PageSignup, "inline-error", d)
}

func (a *App) signinPage(c *gin.Context) {
	d := a.data(c, "Sign in")
	d.Next = safeNext(c.Query("next"))
	a.renderForm(c, http.StatusOK, views.PageSignin, "signin-form", d)
}

// signinSubmit signs a user in by username or email.
func (a *App) signinSubmit(c *gin.Context) {
	var f signinForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	login := strings.ToLower(strings.TrimSpace(f.Username))
	next := safeNext(f.Next)
	remember := f.Remember == "on"

	var v validator
	v.check(login != "", "username", msgLoginRequired)
	v.check(f.Password != "", "password", msgLoginPassword)
	if !v.valid() {
		a.signinFailed(c, http.StatusUnprocessableEntity, f, &v, "")
		return
	}

	ctx := c.Request.Context()
	// Throttled before any work, so a flood of guesses costs nothing. The
	// counts outlive a client that hangs up, hence WithoutCancel.
	tctx := context.WithoutCancel(ctx)
	held, refused := a.reserveSignin(tctx, signinKeys(login, c.ClientIP()))
	if refused != nil {
		a.log.Warn("sign-in throttled", "login", login, "ip", c.ClientIP(),
			"retry_after", throttleWait(refused).Round(time.Second), "in_flight", refused.InFlight)
		a.signinThrottled(c, f, refused)
		return
	}
	user, err := a.store.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		a.cancelSignin(tctx, held)
		a.serverError(c, err)
		return
	}
	ok, rehash := false, false
	if user == nil {
		// Same work as a wrong password, so the answer's timing does not
		// tell whether the account exists.
		err = a.verifyDummy(ctx, f.Password)
	} else {
		ok, rehash, err = a.verify(ctx, f.Password, user.PasswordHash)
	}
	if err != nil {
		// Never checked, so no failure: a sign-in turned away for want
		// of a hashing slot does not count against the user.
		a.cancelSignin(tctx, held)
		if errors.Is(err, errBusy) {
			a.signinFailed(c, a.busy(c), f, &v, msgBusy)
			return
		}
		a.serverError(c, err)
		return
	}
	if !ok {
		a.settleSignin(tctx, held)
		a.log.Warn("sign-in failed", "login", login, "ip", c.ClientIP(), "known_user", user != nil)
		a.signinFailed(c, http.StatusUnauthorized, f, &v, msgWrongCredentials)
		return
	}
	// Only failures count; earlier failures on these keys stay counted.
	a.cancelSignin(tctx, held)
	if rehash {
		a.upgradeHash(c, user, f.Password)
	}
	if err := a.startSession(c, user, remember); err != nil {
		a.serverError(c, err)
		return
	}
	a.log.Info("signed in", "user_id", user.ID, "ip", c.ClientIP())
	if next == "" {
		next = "/dashboard"
	}
	a.redirect(c, next)
}

// upgradeHash re-hashes a password made with older parameters. A failure
// only costs the upgrade; the sign-in goes on.
func (a *App) upgradeHash(c *gin.Context, user *db.User, pw string) {
	hash, err := a.hash(c.Request.Context(), pw)
	if err == nil {
		err = a.store.SetPasswordHash(c.Request.Context(), user.ID, hash)
	}
	if err != nil {
		a.log.Error("upgrade password hash", "user_id", user.ID, "err", err)
		return
	}
	a.log.Info("password hash upgraded", "user_id", user.ID)
}

// signinFailed shows the sign-in form again: 422 for missing input, 401 for
// wrong credentials, 429 when throttled, 503 when no hashing slot came
// free; the password is never echoed.
func (a *App) signinFailed(c *gin.Context, status int, f signinForm, v *validator, message string) {
	d := a.data(c, "Sign in")
	d.Next = safeNext(f.Next)
	remember := ""
	if f.Remember == "on" {
		remember = "on"
	}
	// Echo what was typed, but never bytes that are not UTF-8.
	login := strings.ToValidUTF8(strings.TrimSpace(f.Username), "\uFFFD")
	d.Form = v.form(map[string]string{"username": login, "remember": remember}, message)
	a.renderForm(c, status, views.PageSignin, "signin-form", d)
}

// signout ends the session server-side and clears the cookie.
func (a *App) signout(c *gin.Context) {
	if u := currentUser(c); u != nil {
		a.signOut(c, u)
	}
	c.Redirect(http.StatusSeeOther, "/signin")
}
