package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
)

// emailChangeForm is the change-email form of the account page.
type emailChangeForm struct {
	Email           string `form:"email"`
	CurrentPassword string `form:"current_password"`
}

const (
	msgEmailChangeSame  = "That is already your email address."
	msgEmailChangeTaken = "Another account already uses that email address."
)

// emailSubmit starts an email change: a confirmation link goes to the new
// address and a notice to the old one; the account keeps its address
// until the link is opened (GET /verify). The new address is checked for
// use now and again when the link is opened.
func (a *App) emailSubmit(c *gin.Context) {
	var f emailChangeForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	email := normalizeEmail(f.Email)
	var v validator
	v.add("email", emailError(email))
	v.check(email != user.Email, "email", msgEmailChangeSame)
	if v.valid() {
		taken, err := a.store.EmailTaken(c.Request.Context(), email)
		if err != nil {
			a.serverError(c, err)
			return
		}
		v.check(!taken, "email", msgEmailChangeTaken)
	}
	if a.checkCurrentPassword(c, &v, formEmail, f.CurrentPassword, map[string]string{"email": f.Email}) {
		return
	}
	if !v.valid() {
		a.accountInvalid(c, http.StatusUnprocessableEntity, formEmail, &v, map[string]string{"email": f.Email}, "")
		return
	}
	a.sendEmailChange(user, email)
	a.log.Info("email change requested", "user_id", user.ID)
	a.setNotice(c, "We sent a confirmation link to "+email+".")
	a.redirect(c, "/account")
}
