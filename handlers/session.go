package handlers

import (
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/db"
)

// Keys of the values Gatehouse keeps in a session.
const (
	sessionIDKey = "sid"    // id of the user_sessions row; absent when signed out
	noticeKey    = "notice" // a one-time notice for the next page
)

// maxUserAgent bounds what we keep of the User-Agent header.
const maxUserAgent = 512

// startSession signs user in: a new token (no fixation: the old one is
// deleted), a user_sessions row, and remember-me deciding whether the
// cookie outlives the browser.
func (a *App) startSession(c *gin.Context, user *db.User, remember bool) error {
	ctx := c.Request.Context()
	if err := a.sessions.RenewToken(ctx); err != nil {
		return err
	}
	a.sessions.RememberMe(ctx, remember)
	ua := c.Request.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	sid, err := a.store.CreateSession(ctx, user.ID, a.sessions.Token(ctx), time.Now(),
		a.sessions.Deadline(ctx), c.ClientIP(), ua)
	if err != nil {
		return err
	}
	a.sessions.Put(ctx, sessionIDKey, sid)
	return nil
}

// endSession signs out: the session's rows are deleted (so replaying the
// cookie gets the signed-out answer) and the cookie is cleared.
func (a *App) endSession(c *gin.Context) {
	ctx := c.Request.Context()
	if sid := a.sessions.GetInt64(ctx, sessionIDKey); sid != 0 {
		if err := a.store.DeleteSession(ctx, sid); err != nil {
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
	a.endSession(c)
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
	if !a.sessions.Exists(ctx, noticeKey) {
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
