package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// meResponse is GET /api/me. Times are RFC 3339 in UTC.
type meResponse struct {
	ID               int64    `json:"id"`
	Username         string   `json:"username"`
	Email            string   `json:"email"`
	CreatedAt        string   `json:"created_at"`
	SessionExpiresAt string   `json:"session_expires_at"`
	Groups           []string `json:"groups"` // never null: [] for none (product.md §11)
	Admin            bool     `json:"admin"`
}

func (a *App) apiMe(c *gin.Context) {
	u := currentUser(c)
	c.JSON(http.StatusOK, meResponse{
		ID:               u.ID,
		Username:         u.Username,
		Email:            u.Email,
		CreatedAt:        u.CreatedAt.UTC().Format(time.RFC3339),
		SessionExpiresAt: a.sessionExpiry(c).Format(time.RFC3339),
		Groups:           append([]string{}, u.Groups...),
		Admin:            u.Admin,
	})
}

// healthz answers 200 "ok" while the database (and Redis, when there is
// one) answers, else 503. A check waits at most healthTimeout, so a
// monitor gets its answer even from a server whose database hangs.
func (a *App) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), healthTimeout)
	defer cancel()
	err := a.store.Ping(ctx)
	if err == nil && a.backend.Ping != nil {
		err = a.backend.Ping(ctx)
	}
	if err != nil {
		a.log.Error("health check", "err", err)
		c.String(http.StatusServiceUnavailable, "unavailable")
		return
	}
	c.String(http.StatusOK, "ok")
}

// healthTimeout bounds one health check.
const healthTimeout = 3 * time.Second
