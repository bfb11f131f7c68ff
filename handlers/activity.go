package handlers

import (
	"github.com/gin-gonic/gin"

	"gatehouse/db"
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

// truncateUserAgent bounds what we keep of the User-Agent header.
func truncateUserAgent(ua string) string {
	if len(ua) > maxUserAgent {
		return ua[:maxUserAgent]
	}
	return ua
}
