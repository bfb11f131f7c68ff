package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/rules"
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
	// RD is the address a forward-auth sign-in returns to (product.md
	// §11); afterSignIn decides whether to honour it.
	RD string `form:"rd"`
}

func (a *App) home(c *gin.Context) {
	a.render(c, http.StatusOK, views.PageHome, a.data(c, "Welcome"))
}

func (a *App) signupPage(c *gin.Context) {
	d := a.data(c, "Create your account")
	a.renderForm(c, http.StatusOK, views.PageSignup, "signup-form", d)
}

// signupSubmit creates an account and signs it in. Every problem with
// the form is reported in the same answer (product.md §3).
func (a *App) signupSubmit(c *gin.Context) {
	var f signupForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user, err := a.accounts.Create(c.Request.Context(), account.NewAccount{
		Username: f.Username, Email: f.Email, Password: f.Password, PasswordConfirm: f.PasswordConfirm,
		ClientIP: c.ClientIP(),
	})
	if err != nil {
		a.countSignUp(err)
		status, msg, answered := a.failure(c, err)
		if !answered {
			a.signupAgain(c, status, f, problemsOf(err), msg)
		}
		return
	}
	a.sendVerification(user)
	// The password was just set: the new account is its own proof.
	err = a.signIn(c, &account.Proof{User: user, Method: account.MethodPassword, NewAccount: true}, false)
	a.countSignUp(err)
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.redirect(c, "/dashboard")
}

// signupAgain shows the sign-up form again with its errors and a message
// for the whole form: the values kept, never the passwords.
func (a *App) signupAgain(c *gin.Context, status int, f signupForm, v *validator, message string) {
	d := a.data(c, "Create your account")
	values := map[string]string{"username": rules.NormalizeUsername(f.Username), "email": rules.NormalizeEmail(f.Email)}
	d.Form = v.form(values, message)
	a.renderForm(c, status, views.PageSignup, "signup-form", d)
}

// signupValidate checks one sign-up field as the user types (htmx) and
// answers its error slot. Empty fields are not flagged here: nagging about
// a field the user has not reached yet helps nobody; the submit does that.
// Past the client address's limit of taken-answers it answers 429 with
// the message in the slot.
func (a *App) signupValidate(c *gin.Context) {
	var f signupForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	username, email := rules.NormalizeUsername(f.Username), rules.NormalizeEmail(f.Email)
	ctx := c.Request.Context()
	field := c.Param("field")
	var msg string
	var err error
	switch field {
	case "username":
		if username != "" {
			msg, err = a.accounts.UsernameProblem(ctx, username, c.ClientIP())
		}
	case "email":
		if email != "" {
			msg, err = a.accounts.EmailProblem(ctx, email, c.ClientIP())
		}
	case "password":
		if f.Password != "" {
			msg = rules.PasswordError(f.Password, username, email)
		}
	case "password_confirm":
		if f.PasswordConfirm != "" {
			msg = rules.ConfirmError(f.Password, f.PasswordConfirm)
		}
	default:
		a.notFound(c)
		return
	}
	status := http.StatusOK
	if err != nil {
		var answered bool
		if status, msg, answered = a.failure(c, err); answered {
			return
		}
	}
	d := views.Data{Field: views.Field{Name: field, Error: msg}}
	a.write(c, status, views.PageSignup, "inline-error", d)
}

// signinPage shows the sign-in form, keeping a safe next and rd. Signed
// in, it sends the visitor on at once: to rd (an app behind forward-auth
// that sent them here) or the dashboard.
func (a *App) signinPage(c *gin.Context) {
	if currentUser(c) != nil {
		a.redirect(c, a.destination("", c.Query("rd")))
		return
	}
	d := a.data(c, "Sign in")
	d.Next = safeNext(c.Query("next"))
	d.Rd = a.safeRd(c.Query("rd"))
	a.renderForm(c, http.StatusOK, views.PageSignin, "signin-form", d)
}

// signinSubmit signs a user in by username or email. Signed in already,
// it signs in again (perhaps as someone else) and honours next like a
// signed-out sign-in (product.md §2).
func (a *App) signinSubmit(c *gin.Context) {
	var f signinForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	var v validator
	v.check(strings.TrimSpace(f.Username) != "", "username", msgLoginRequired)
	v.check(f.Password != "", "password", msgLoginPassword)
	if !v.valid() {
		a.countSignIn(errInvalidForm)
		a.signinFailed(c, http.StatusUnprocessableEntity, f, &v, "")
		return
	}
	proof, err := a.accounts.SignInWithPassword(c.Request.Context(), f.Username, f.Password, c.ClientIP())
	if id := account.FailedUser(err); id != 0 {
		a.record(c, id, account.EventSignInFailed, "wrong_password")
	}
	if err == nil {
		err = a.signIn(c, proof, f.Remember == "on")
	}
	if errors.Is(err, errSecondStep) {
		if a.metrics != nil {
			a.metrics.SignIn("second_step")
		}
		a.beginSecondStep(c, proof, f.Remember == "on", safeNext(f.Next), f.RD)
		return
	}
	a.countSignIn(err)
	if err != nil {
		if status, msg, answered := a.failure(c, err); !answered {
			a.signinFailed(c, status, f, &v, msg)
		}
		return
	}
	a.afterSignIn(c, f.Next, f.RD)
}

// signinFailed shows the sign-in form again: 422 for missing input, 401 for
// wrong credentials, 429 when throttled, 503 when no hashing slot came
// free; the password is never echoed.
func (a *App) signinFailed(c *gin.Context, status int, f signinForm, v *validator, message string) {
	d := a.data(c, "Sign in")
	d.Next = safeNext(f.Next)
	d.Rd = a.safeRd(f.RD)
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
