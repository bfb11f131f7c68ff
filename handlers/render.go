package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/views"
)

// isHTMX reports whether htmx sent the request (it wants a fragment).
func isHTMX(c *gin.Context) bool { return c.GetHeader("HX-Request") == "true" }

// wantsJSON reports whether the caller is an API client.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json") &&
		!strings.Contains(r.Header.Get("Accept"), "text/html")
}

// data starts the template data of a full page: the signed-in user and a
// notice left by the previous request.
func (a *App) data(c *gin.Context, title string) views.Data {
	u := currentUser(c)
	return views.Data{
		Title:   title,
		Account: viewAccount(u),
		Private: u != nil,
		Notice:  a.popNotice(c),
		// Passkeys need a domain name as the base URL's host.
		Passkeys: a.webauthn != nil,
	}
}

// render writes a full page.
func (a *App) render(c *gin.Context, status int, page string, d views.Data) {
	a.write(c, status, page, "base", d)
}

// renderForm writes a form page: the whole page for a plain request, only
// the form fragment for htmx. Both come from the same template definition.
func (a *App) renderForm(c *gin.Context, status int, page, fragment string, d views.Data) {
	c.Writer.Header().Add("Vary", "HX-Request")
	block := "base"
	if isHTMX(c) {
		block = fragment
	}
	a.write(c, status, page, block, d)
}

func (a *App) write(c *gin.Context, status int, page, block string, d views.Data) {
	b, err := a.views.HTML(page, block, d)
	if err != nil {
		a.serverError(c, err)
		return
	}
	c.Data(status, htmlType, b)
}

const htmlType = "text/html; charset=utf-8"

// redirect ends a successful form submission: 303 for a plain request, or
// HX-Redirect for htmx so the browser loads the target page itself.
func (a *App) redirect(c *gin.Context, target string) {
	c.Writer.Header().Add("Vary", "HX-Request")
	if isHTMX(c) {
		c.Header("HX-Redirect", target)
		c.Status(http.StatusOK)
		return
	}
	c.Redirect(http.StatusSeeOther, target)
}

// bindError answers a form that could not be read: 413 when it was too
// large, 415 when it was no form, 400 otherwise (also for a field sent
// twice; see formShapeError). It reports whether it answered.
func (a *App) bindError(c *gin.Context, err error) bool {
	if err == nil {
		if status := formShapeError(c.Request); status != 0 {
			a.errorPage(c, status)
			return true
		}
		return false
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		a.errorPage(c, http.StatusRequestEntityTooLarge)
		return true
	}
	a.errorPage(c, http.StatusBadRequest)
	return true
}
