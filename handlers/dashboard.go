package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/views"
)

func (a *App) dashboard(c *gin.Context) {
	d := a.data(c, "Dashboard")
	d.Session = views.SessionInfo{ExpiresAt: a.sessionExpiry(c), Idle: a.cfg.SessionIdle}
	a.render(c, http.StatusOK, views.PageDashboard, d)
}
