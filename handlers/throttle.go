package handlers

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/throttle"
)

// Failed sign-ins allowed per account and per client address (product.md §6).
const (
	signinLimit  = 10
	signinWindow = 10 * time.Minute
)

// signinKeys are the throttle keys of a sign-in attempt: the login as
// typed (normalised), so unknown accounts are throttled exactly like real
// ones and a 429 tells nothing; and the client address.
func signinKeys(login, clientIP string) []string {
	return []string{"login:" + login, "ip:" + addressKey(clientIP)}
}

// addressKey is the unit of an address that one client controls: the
// address itself for IPv4, its /64 for IPv6, since one home or server
// usually gets a whole /64 to pick addresses from.
func addressKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil {
		return ip
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// inFlightRetry is the Retry-After of a sign-in refused (even partly)
// because other attempts on the same key are still being checked: their
// places free up, or become failures, within the time of a hash.
const inFlightRetry = time.Second

// reserveSignin holds a place for this attempt on every key before the
// password is checked, counted as a failure until the attempt ends, so a
// burst of parallel guesses cannot pass the limit while the first ones are
// being hashed. It returns the places held, or, when a key is used up, the
// refusal (nothing stays held then). The caller ends the held places with
// settleSignin (a failure) or cancelSignin (no failure).
//
// A limiter that fails (a shared store that is down) is logged and let
// through: the password hash still bounds the rate, and sign-in keeps
// working.
func (a *App) reserveSignin(ctx context.Context, keys []string) (held []throttle.Reservation, refused *throttle.Reservation) {
	for _, k := range keys {
		r, err := a.cfg.Throttle.Reserve(ctx, k)
		if err != nil {
			a.log.Error("sign-in throttle", "err", err)
			continue
		}
		if r.Refused() {
			a.cancelSignin(ctx, held)
			return nil, &r
		}
		held = append(held, r)
	}
	return held, nil
}

// settleSignin counts the attempt as a failure on every key.
func (a *App) settleSignin(ctx context.Context, held []throttle.Reservation) {
	for _, r := range held {
		if err := a.cfg.Throttle.Settle(ctx, r); err != nil {
			a.log.Error("sign-in throttle", "err", err)
		}
	}
}

// cancelSignin takes back the attempt: it was no failure (a success, or
// it was never checked).
func (a *App) cancelSignin(ctx context.Context, held []throttle.Reservation) {
	for _, r := range held {
		if err := a.cfg.Throttle.Cancel(ctx, r); err != nil {
			a.log.Error("sign-in throttle", "err", err)
		}
	}
}

// throttleWait is how long a refused attempt is told to wait: a moment
// when attempts in flight took the places, else until the oldest failure
// leaves the window.
func throttleWait(r *throttle.Reservation) time.Duration {
	if r.InFlight {
		return min(r.RetryAfter, inFlightRetry)
	}
	return r.RetryAfter
}

// throttled sets Retry-After for a refused attempt and returns the message
// that says when to try again.
func throttled(c *gin.Context, r *throttle.Reservation) string {
	wait := throttleWait(r)
	setRetryAfter(c, wait)
	if r.InFlight {
		return inFlightMessage(wait)
	}
	return throttledMessage(wait)
}

// setRetryAfter sets Retry-After in whole seconds, rounded up, at least 1.
func setRetryAfter(c *gin.Context, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

// signinThrottled answers 429 with Retry-After and the sign-in form again,
// saying when to try again.
func (a *App) signinThrottled(c *gin.Context, f signinForm, r *throttle.Reservation) {
	msg := throttled(c, r)
	var v validator
	a.signinFailed(c, http.StatusTooManyRequests, f, &v, msg)
}

// throttledMessage says when the next sign-in may be tried, rounded up so
// that trying at the time it names works.
func throttledMessage(wait time.Duration) string {
	return "Too many failed sign-ins. Try again in " + waitText(wait) + "."
}

// inFlightMessage is the refusal of an attempt that found the places taken
// by others still being checked (a burst from one network, say).
func inFlightMessage(wait time.Duration) string {
	return "Too many sign-ins at the same time. Try again in " + waitText(wait) + "."
}
