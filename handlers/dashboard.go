package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/views"
)

// timeNow is the clock handlers use for stored times.
var timeNow = func() time.Time { return time.Now().UTC() }

func (a *App) dashboard(c *gin.Context) {
	d := a.data(c, "Dashboard")
	d.Session = views.SessionInfo{ExpiresAt: a.sessionExpiry(c), Idle: a.cfg.SessionIdle}
	a.render(c, http.StatusOK, views.PageDashboard, d)
}
