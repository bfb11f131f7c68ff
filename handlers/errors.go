package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/views"
)

// defaultHashWait bounds the wait for a hashing slot: two thirds of the
// server's 90 s write timeout, so a request that cannot be hashed in time
// still gets an answer instead of a dropped connection, while a burst of
// 500 sign-ups (product.md §9) still fits on a small, busy machine.
const defaultHashWait = 60 * time.Second

// busyRetry is the Retry-After of a request turned away because every
// hashing slot stayed taken: a queue that long drains within seconds.
const busyRetry = 5 * time.Second

const msgBusy = "Gatehouse is busy. Try again in a few seconds."

// statusClientGone is the status recorded (request log, metrics) for a
// request whose client closed the connection before the answer: nginx's
// 499 "client closed request". Nobody reads it; it keeps a visitor who
// closed the tab while a sign-in queued for a hashing slot from showing
// up as a server error (a 500 and an error line) on the operator's
// dashboards.
const statusClientGone = 499

// statusOf is the one table from an error of the account rules or of
// storage to an HTTP status, for HTML pages and JSON answers alike.
func statusOf(err error) int {
	var problems *account.Problems
	var throttled *account.ThrottledError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &problems):
		return http.StatusUnprocessableEntity
	case errors.Is(err, account.ErrWrongPassword), errors.Is(err, db.ErrAccountChanged):
		// A password changed (or an account deleted) while the sign-in was
		// being checked: the password checked is no longer the account's.
		return http.StatusUnauthorized
	case errors.As(err, &throttled):
		return http.StatusTooManyRequests
	case errors.Is(err, account.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, account.ErrDisabled):
		return http.StatusForbidden
	case errors.Is(err, db.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, db.ErrTokenUsed), errors.Is(err, db.ErrTokenExpired):
		return http.StatusGone
	case errors.Is(err, context.Canceled):
		// Only the request's own context is cancelled: the client went
		// away. serverError checks that before it believes it.
		return statusClientGone
	default:
		return http.StatusInternalServerError
	}
}

// outcome names how a sign-in or sign-up ended, for the metrics: one of
// a few fixed values, never anything the visitor typed.
func outcome(err error) string {
	switch statusOf(err) {
	case http.StatusOK:
		return "success"
	case http.StatusUnauthorized:
		return "wrong_credentials"
	case http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable:
		return "busy"
	case http.StatusForbidden:
		return "refused"
	case statusClientGone:
		return "abandoned"
	}
	return "error"
}

// countSignIn and countSignUp count an attempt by its outcome (err nil:
// success) when metrics are on.
func (a *App) countSignIn(err error) {
	if a.metrics != nil {
		a.metrics.SignIn(outcome(err))
	}
}

func (a *App) countSignUp(err error) {
	if a.metrics != nil {
		a.metrics.SignUp(outcome(err))
	}
}

// errInvalidForm stands for a form refused before the account rules saw
// it (a field left empty), in the metrics' outcomes.
var errInvalidForm = &account.Problems{}

// failure answers the parts of a failed form submission that do not
// depend on the form: the status (statusOf), Retry-After where due, a log
// line, and the message for the whole form. A server error is answered
// here (answered is true): the caller stops. Otherwise the caller shows
// its form again with the status and message.
func (a *App) failure(c *gin.Context, err error) (status int, message string, answered bool) {
	status = statusOf(err)
	switch status {
	case http.StatusUnauthorized:
		return status, msgWrongCredentials, false
	case http.StatusTooManyRequests:
		var t *account.ThrottledError
		errors.As(err, &t)
		a.log.Warn("request throttled", "limit", t.Rule.Name, "path", c.Request.URL.Path, "ip", c.ClientIP(),
			"retry_after", t.Wait.Round(time.Second))
		setRetryAfter(c, t.Wait)
		return status, throttledMessage(t), false
	case http.StatusServiceUnavailable:
		a.log.Warn("hashing queue full: request turned away", "path", c.Request.URL.Path, "ip", c.ClientIP(), "waited", a.cfg.HashWait)
		setRetryAfter(c, busyRetry)
		return status, msgBusy, false
	case http.StatusUnprocessableEntity:
		return status, "", false
	case http.StatusForbidden:
		return status, msgDisabled, false
	}
	a.serverError(c, err)
	return status, "", true
}

// throttledMessage says what was refused and when to try again, rounded
// up so that trying at the time it names works.
func throttledMessage(t *account.ThrottledError) string {
	wait := waitText(t.Wait)
	switch t.Rule.Name {
	case account.SignInFailures.Name:
		return "Too many failed sign-ins. Try again in " + wait + "."
	case account.CurrentPasswordFailures.Name:
		return "Too many wrong passwords. Try again in " + wait + "."
	case account.TakenAnswers.Name:
		return "Too many checks of names from your network. Try again in " + wait + "."
	case account.PasskeyChallenges.Name:
		return "Too many passkey sign-ins from your network. Try again in " + wait + "."
	case account.EmailChangeMails.Name:
		return "We have sent three confirmation links this hour. Try again in " + wait + "."
	}
	return "Too many requests. Try again in " + wait + "."
}

// setRetryAfter sets Retry-After in whole seconds, rounded up, at least 1.
func setRetryAfter(c *gin.Context, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

// waitText says a wait as "42 seconds" or "3 minutes", rounded up so that
// trying again at the time it names works.
func waitText(wait time.Duration) string {
	n, unit := int64((wait+time.Minute-1)/time.Minute), "minute"
	if wait < time.Minute {
		n, unit = max(int64((wait+time.Second-1)/time.Second), 1), "second"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// errorMessages are the headings and texts of the error page.
var errorMessages = map[int][2]string{
	http.StatusUnauthorized:          {"Sign in first", "This page needs you to be signed in."},
	http.StatusNotFound:              {"Page not found", "There is nothing at this address. Check the link, or start again from the home page."},
	http.StatusMethodNotAllowed:      {"Not allowed", "This address does not accept that kind of request."},
	http.StatusForbidden:             {"Request refused", "This request came from another site, so it was refused. Go back to Gatehouse and try again from there."},
	http.StatusRequestEntityTooLarge: {"Too much data", "The form sent more data than Gatehouse accepts. Shorten what you typed and try again."},
	http.StatusBadRequest:            {"Bad request", "Gatehouse could not understand that request."},
	http.StatusUnsupportedMediaType:  {"Not a form", "Gatehouse expected a form submission. Go back to the page and send the form again."},
	http.StatusInternalServerError:   {"Something went wrong", "Gatehouse could not finish that request. It has been logged; please try again in a moment."},
}

// jsonErrors are the API's error codes: {"error": CODE}.
var jsonErrors = map[int]string{
	http.StatusUnauthorized:          "unauthorized",
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
func (a *App) errorPage(c *gin.Context, status int) {
	a.writeError(c.Writer, c.Request, status, viewAccount(currentUser(c)))
}

// plainError is errorPage for the layers outside Gin (cross-origin, body
// limit), where there is no session or user yet.
func (a *App) plainError(w http.ResponseWriter, r *http.Request, status int) {
	a.writeError(w, r, status, nil)
}

// writeError writes the error answer of status: {"error": CODE} for API
// callers, else the error page. It never calls serverError: an error page
// that fails to render falls back to plain text instead of trying again.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, status int, acct *views.Account) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"` + jsonErrors[status] + `"}`))
		return
	}
	b, err := a.views.HTML(views.PageError, "base", errorData(status, acct))
	if err != nil {
		a.log.Error("render error page", "err", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", htmlType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serverError logs err and answers 500, unless the client went away
// (clientGone).
func (a *App) serverError(c *gin.Context, err error) {
	if a.clientGone(c.Writer, c.Request, err) {
		return
	}
	a.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	a.errorPage(c, http.StatusInternalServerError)
}

// clientGone reports whether err is only the request's context ending
// because its client closed the connection; if so it records
// statusClientGone, with one line at info level, and writes nothing more.
// A cancellation the client did not cause stays a server error.
func (a *App) clientGone(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(err, context.Canceled) || !errors.Is(r.Context().Err(), context.Canceled) {
		return false
	}
	a.log.Info("client went away", "method", r.Method, "path", r.URL.Path)
	w.WriteHeader(statusClientGone)
	return true
}

func (a *App) notFound(c *gin.Context) { a.errorPage(c, http.StatusNotFound) }

func (a *App) methodNotAllowed(c *gin.Context) { a.errorPage(c, http.StatusMethodNotAllowed) }
