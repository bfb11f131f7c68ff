package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
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

// errBusy means no hashing slot came free within Config.HashWait.
var errBusy = errors.New("no hashing slot free in time")

// hash is hasher.Hash with the wait for a slot bounded (errBusy).
func (a *App) hash(ctx context.Context, pw string) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, a.cfg.HashWait)
	defer cancel()
	h, err := a.hasher.Hash(wctx, pw)
	return h, a.busyError(ctx, err)
}

// verify is hasher.Verify with the wait for a slot bounded (errBusy).
func (a *App) verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, a.cfg.HashWait)
	defer cancel()
	ok, rehash, err = a.hasher.Verify(wctx, pw, encoded)
	return ok, rehash, a.busyError(ctx, err)
}

// verifyDummy is hasher.VerifyDummy with the wait for a slot bounded
// (errBusy).
func (a *App) verifyDummy(ctx context.Context, pw string) error {
	wctx, cancel := context.WithTimeout(ctx, a.cfg.HashWait)
	defer cancel()
	return a.busyError(ctx, a.hasher.VerifyDummy(wctx, pw))
}

// busyError turns the end of the bounded wait into errBusy, but only when
// the request itself is still alive: a client that hung up is no overload.
func (a *App) busyError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return errBusy
	}
	return err
}

// busy starts the answer to a request turned away by errBusy: it logs it
// and sets Retry-After; the caller renders its form again with msgBusy and
// status 503.
func (a *App) busy(c *gin.Context) int {
	a.log.Warn("hashing queue full: request turned away", "path", c.Request.URL.Path, "ip", c.ClientIP(), "waited", a.cfg.HashWait)
	setRetryAfter(c, busyRetry)
	return http.StatusServiceUnavailable
}
