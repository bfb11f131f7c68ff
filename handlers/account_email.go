package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
)

// emailChangeForm is the change-email form of the account page.
type emailChangeForm struct {
	Email           string `form:"email"`
	CurrentPassword string `form:"current_password"`
}

// emailSubmit starts an email change: a confirmation link goes to the new
// address and a notice to the old one; the account keeps its address
// until the link is opened (GET /verify). The new address is checked for
// use now and again when the link is opened. At most three confirmation
// mails go out an hour per account (429 past that, product.md §7).
func (a *App) emailSubmit(c *gin.Context) {
	var f emailChangeForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	ctx := c.Request.Context()
	values := map[string]string{"email": f.Email}
	email, msg, err := a.accounts.EmailChangeProblem(ctx, user, f.Email, c.ClientIP())
	if err != nil {
		if status, msg, answered := a.failure(c, err); !answered {
			a.accountInvalid(c, status, formEmail, &validator{}, values, msg)
		}
		return
	}
	var v validator
	v.add("email", msg)
	if a.checkCurrentPassword(c, &v, formEmail, f.CurrentPassword, values) {
		return
	}
	if !v.valid() {
		a.accountInvalid(c, http.StatusUnprocessableEntity, formEmail, &v, values, "")
		return
	}
	if err := a.accounts.TakeEmailChangeMail(ctx, user); err != nil {
		if status, msg, answered := a.failure(c, err); !answered {
			a.accountInvalid(c, status, formEmail, &validator{}, values, msg)
		}
		return
	}
	a.sendEmailChange(user, email)
	a.record(c, user.ID, account.EventEmailChangeRequested, "")
	a.log.Info("email change requested", "user_id", user.ID)
	a.setNotice(c, "We sent a confirmation link to "+email+".")
	a.redirect(c, "/account")
}
