package handlers

import (
	"errors"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/account"
	"gatehouse/db"
)

// Keys of the values Gatehouse keeps in a session.
const (
	sessionIDKey = "sid"    // id of the user_sessions row; absent when signed out
	noticeKey    = "notice" // a one-time notice for the next page
)

// endSession signs out: the session's rows are deleted (so replaying the
// cookie gets the signed-out answer) and the cookie is cleared.
func (a *App) endSession(c *gin.Context, userID int64) {
	ctx := c.Request.Context()
	if sid := a.sessions.GetInt64(ctx, sessionIDKey); sid != 0 {
		if err := a.accounts.EndSession(ctx, userID, sid); err != nil && !errors.Is(err, db.ErrNotFound) {
			a.log.Error("end session", "err", err)
		}
	}
	if err := a.sessions.Destroy(ctx); err != nil {
		a.log.Error("destroy session", "err", err)
	}
}

const noticeSignedOut = "You have signed out."

// signOut ends user's current session and leaves the sign-out notice,
// which a fresh visitor session carries under a new token.
func (a *App) signOut(c *gin.Context, user *db.User) {
	a.record(c, user.ID, account.EventSignedOut, "")
	a.endSession(c, user.ID)
	a.log.Info("signed out", "user_id", user.ID)
	a.setNotice(c, noticeSignedOut)
}

// setNotice leaves a message for the next page the visitor sees.
func (a *App) setNotice(c *gin.Context, msg string) {
	a.sessions.Put(c.Request.Context(), noticeKey, msg)
}

// popNotice takes the pending notice, so it shows once. A visitor's
// session that held nothing but the notice is removed with it.
func (a *App) popNotice(c *gin.Context) string {
	ctx := c.Request.Context()
	// A HEAD changes nothing, not even which notices were shown.
	if isHead(c.Request) || !a.sessions.Exists(ctx, noticeKey) {
		return ""
	}
	msg := a.sessions.PopString(ctx, noticeKey)
	if len(a.sessions.Keys(ctx)) == 0 {
		_ = a.sessions.Destroy(ctx)
	}
	return msg
}

// sessionExpiry is when the current session ends if nothing else happens:
// its absolute deadline, or sooner when it sits idle.
func (a *App) sessionExpiry(c *gin.Context) time.Time {
	deadline := a.sessions.Deadline(c.Request.Context())
	idle := currentSession(c).LastSeenAt.Add(a.cfg.SessionIdle)
	if idle.Before(deadline) {
		deadline = idle
	}
	return deadline.UTC().Truncate(time.Second)
}
