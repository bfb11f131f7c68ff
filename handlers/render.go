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
		Account: account(u),
		Private: u != nil,
		Notice:  a.popNotice(c),
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

// errorMessages are the headings and texts of the error page.
var errorMessages = map[int][2]string{
	http.StatusNotFound:              {"Page not found", "There is nothing at this address. Check the link, or start again from the home page."},
	http.StatusMethodNotAllowed:      {"Not allowed", "This address does not accept that kind of request."},
	http.StatusForbidden:             {"Request refused", "This request came from another site, so it was refused. Go back to Gatehouse and try again from there."},
	http.StatusRequestEntityTooLarge: {"Too much data", "The form sent more data than Gatehouse accepts. Shorten what you typed and try again."},
	http.StatusBadRequest:            {"Bad request", "Gatehouse could not understand that request."},
	http.StatusUnsupportedMediaType:  {"Not a form", "Gatehouse expected a form submission. Go back to the page and send the form again."},
	http.StatusInternalServerError:   {"Something went wrong", "Gatehouse could not finish that request. It has been logged; please try again in a moment."},
}

// jsonErrors are the API's error codes.
var jsonErrors = map[int]string{
	http.StatusNotFound:              "not found",
	http.StatusMethodNotAllowed:      "method not allowed",
	http.StatusForbidden:             "forbidden",
	http.StatusRequestEntityTooLarge: "request too large",
	http.StatusBadRequest:            "bad request",
	http.StatusUnsupportedMediaType:  "unsupported media type",
	http.StatusInternalServerError:   "internal error",
}

// errorData fills the error page for status.
func errorData(status int, acct *views.Account) views.Data {
	msg := errorMessages[status]
	return views.Data{
		Title:   msg[0],
		Account: acct,
		Error:   views.ErrorInfo{Status: status, Heading: msg[0], Message: msg[1]},
	}
}

// errorPage answers with a styled error page, or JSON for API callers.
// It never calls serverError: an error page that fails to render falls
// back to plain text instead of trying again.
func (a *App) errorPage(c *gin.Context, status int) {
	if wantsJSON(c.Request) {
		c.JSON(status, gin.H{"error": jsonErrors[status]})
		return
	}
	b, err := a.views.HTML(views.PageError, "base", errorData(status, account(currentUser(c))))
	if err != nil {
		a.log.Error("render error page", "err", err)
		c.String(status, http.StatusText(status))
		return
	}
	c.Data(status, htmlType, b)
}

// plainError is errorPage for the layers outside Gin (cross-origin, body
// limit), where there is no session or user yet.
func (a *App) plainError(w http.ResponseWriter, r *http.Request, status int) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"` + jsonErrors[status] + `"}`))
		return
	}
	b, err := a.views.HTML(views.PageError, "base", errorData(status, nil))
	if err != nil {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", htmlType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serverError logs err and answers 500.
func (a *App) serverError(c *gin.Context, err error) {
	a.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	a.errorPage(c, http.StatusInternalServerError)
}

func (a *App) notFound(c *gin.Context) { a.errorPage(c, http.StatusNotFound) }

func (a *App) methodNotAllowed(c *gin.Context) { a.errorPage(c, http.StatusMethodNotAllowed) }

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
