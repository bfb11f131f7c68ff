package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
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

// reserveSignin counts this attempt as a failure on every key before the
// password is checked, so a burst of parallel guesses cannot pass the limit
// while the first ones are being hashed. It returns how long to wait when
// a key is used up (nothing stays reserved then). A limiter that fails
// (a shared store that is down) is logged and let through: the password
// hash still bounds the rate, and sign-in keeps working.
func (a *App) reserveSignin(ctx context.Context, keys []string) time.Duration {
	for i, k := range keys {
		wait, err := a.cfg.Throttle.Reserve(ctx, k)
		if err != nil {
			a.log.Error("sign-in throttle", "err", err)
			continue
		}
		if wait > 0 {
			a.cancelSignin(ctx, keys[:i])
			return wait
		}
	}
	return 0
}

// cancelSignin takes back the reserved attempt: it was no failure.
func (a *App) cancelSignin(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := a.cfg.Throttle.Cancel(ctx, k); err != nil {
			a.log.Error("sign-in throttle", "err", err)
		}
	}
}

// signinThrottled answers 429 with Retry-After and the sign-in form again,
// saying when to try again.
func (a *App) signinThrottled(c *gin.Context, f signinForm, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	var v validator
	a.signinFailed(c, http.StatusTooManyRequests, f, &v, throttledMessage(wait))
}

// throttledMessage says when the next sign-in may be tried, rounded up so
// that trying at the time it names works.
func throttledMessage(wait time.Duration) string {
	if wait <= 0 {
		wait = time.Second
	}
	n, unit := int64((wait+time.Minute-1)/time.Minute), "minute"
	if wait < time.Minute {
		n, unit = int64((wait+time.Second-1)/time.Second), "second"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("Too many failed sign-ins. Try again in %d %s.", n, unit)
}
