package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// busyRetry is the Retry-After of a request turned away because every
// hashing slot stayed taken past the hasher's maximum wait
// (password.ErrBusy): a queue that long drains within seconds.
const busyRetry = 5 * time.Second

const msgBusy = "Gatehouse is busy. Try again in a few seconds."

// busy starts the answer to a request turned away by password.ErrBusy: it
// logs it and sets Retry-After; the caller renders its form again with
// msgBusy and status 503.
func (a *App) busy(c *gin.Context) int {
	a.log.Warn("hashing queue full: request turned away", "path", c.Request.URL.Path, "ip", c.ClientIP(), "waited", a.hasher.MaxWait())
	setRetryAfter(c, busyRetry)
	return http.StatusServiceUnavailable
}
