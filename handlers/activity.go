package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/useragent"
	"gatehouse/views"
)

// record adds a security event (product.md §13) for userID, with the
// request's address and browser. kind is one of account.Event*; detail a
// fixed word, never anything the user typed as a secret.
func (a *App) record(c *gin.Context, userID int64, kind, detail string) {
	a.accounts.Record(c.Request.Context(), db.Event{
		UserID:    userID,
		Kind:      kind,
		Detail:    detail,
		IP:        c.ClientIP(),
		UserAgent: truncateUserAgent(c.Request.UserAgent()),
	})
}

// requestEvent is an event of kind with the request's address and
// browser, for an account not known yet (recorded later, in the
// background).
func (a *App) requestEvent(c *gin.Context, kind string) db.Event {
	return db.Event{Kind: kind, IP: c.ClientIP(), UserAgent: truncateUserAgent(c.Request.UserAgent())}
}

// truncateUserAgent bounds what we keep of the User-Agent header.
func truncateUserAgent(ua string) string {
	if len(ua) > maxUserAgent {
		return ua[:maxUserAgent]
	}
	return ua
}

// The account's security activity and "This wasn't me" (product.md §13).

const (
	activityTitle = "Security activity"
	formNotMe     = "not-me"
	noticeNotMe   = "Every other session and every app's access to your account has ended. Now choose a new password below: whoever did this may know the current one."
)

// activityPage is GET /account/activity: the account's security events of
// the last 90 days, newest first, 50 a page.
func (a *App) activityPage(c *gin.Context) {
	a.showActivity(c, http.StatusOK, a.data(c, activityTitle))
}

// showActivity renders the activity page (d may carry the not-me form's
// errors).
func (a *App) showActivity(c *gin.Context, status int, d views.Data) {
	ctx := c.Request.Context()
	page := pageParam(c)
	limit, offset := pageRows(page)
	events, err := a.store.UserEvents(ctx, currentUser(c).ID, a.cfg.Now().Add(-account.EventRetention), limit, offset)
	if err != nil {
		a.serverError(c, err)
		return
	}
	events, more := trimPage(events)
	d.Wide = true
	d.Activity.Pager = pager(c, page, more)
	if d.Activity.Events, err = a.eventRows(ctx, events); err != nil {
		a.serverError(c, err)
		return
	}
	a.renderForm(c, status, views.PageActivity, formNotMe+"-form", d)
}

// eventRows turns stored events into rows: what happened in words, the
// browser's name, and for an admin's action the admin's name.
func (a *App) eventRows(ctx context.Context, events []db.Event) ([]views.EventRow, error) {
	admins := map[int64]*db.User{} // nil: no such account now
	rows := make([]views.EventRow, 0, len(events))
	for _, e := range events {
		row := views.EventRow{At: e.At, What: account.DescribeEvent(e.Kind, e.Detail), IP: e.IP, Browser: useragent.Describe(e.UserAgent)}
		if e.ActorID != 0 && e.ActorID != e.UserID {
			u, ok := admins[e.ActorID]
			if !ok {
				var err error
				u, err = a.store.UserByID(ctx, e.ActorID)
				if errors.Is(err, db.ErrNotFound) {
					u = nil
				} else if err != nil {
					return nil, err
				}
				admins[e.ActorID] = u
			}
			// The admin's account may be gone, and its id given to an
			// account made since (an id deleted before migration 0011,
			// which the floor does not know): that one did not act.
			row.Admin = "an admin"
			if u != nil && !u.CreatedAt.After(e.At) {
				row.Admin = u.Username
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// notMeForm is the "This wasn't me" form as posted.
type notMeForm struct {
	CurrentPassword string `form:"current_password"`
}

// notMeSubmit is POST /account/not-me: after the current password, every
// other session of the account ends, and every app's access, then the
// account page asks for a new password.
func (a *App) notMeSubmit(c *gin.Context) {
	var f notMeForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	user := currentUser(c)
	var v validator
	status, message := http.StatusUnprocessableEntity, ""
	if f.CurrentPassword == "" {
		v.check(false, "current_password", msgCurrentPasswordRequired)
	} else {
		err := a.accounts.CheckCurrentPassword(c.Request.Context(), user, currentSession(c).ID, f.CurrentPassword)
		if errors.Is(err, account.ErrWrongPassword) {
			v.check(false, "current_password", msgCurrentPasswordWrong)
		} else if err != nil {
			var answered bool
			if status, message, answered = a.failure(c, err); answered {
				return
			}
		}
	}
	if !v.valid() || message != "" {
		d := a.data(c, activityTitle)
		d.Form = v.form(nil, message)
		d.Form.ID = formNotMe
		a.showActivity(c, status, d)
		return
	}
	a.notePassword(c)
	n, err := a.accounts.NotMe(c.Request.Context(), user.ID, currentSession(c).ID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.log.Info("this wasn't me: signed out everywhere else", "user_id", user.ID, "sessions_ended", n)
	a.record(c, user.ID, account.EventNotMe, "")
	a.setNotice(c, noticeNotMe)
	a.redirect(c, "/account")
}
