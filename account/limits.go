package account

import (
	"net"
	"strconv"
	"time"

	"gatehouse/throttle"
)

// The limits of product.md §6 and §7, as data. Every count lives in the
// throttle's store (the database), so none is reset by a restart or pushed
// out by a flood of other keys.
var (
	// Failed sign-ins per name typed (username or address, known or not)
	// and per client address.
	SignInFailures = throttle.Rule{Name: "signin", Limit: 10, Window: 10 * time.Minute}
	// Wrong current passwords per session in the account forms: someone
	// else's failed sign-ins never lock a signed-in user out of their own
	// settings, and a stolen session is no way to guess the password.
	CurrentPasswordFailures = throttle.Rule{Name: "current-password", Limit: 10, Window: 10 * time.Minute}
	// Answers that tell whether a username or address is taken (the inline
	// checks and sign-up), per client address.
	TakenAnswers = throttle.Rule{Name: "taken", Limit: 100, Window: 10 * time.Minute}
	// Email-change confirmation mails per account.
	EmailChangeMails = throttle.Rule{Name: "email-change-mail", Limit: 3, Window: time.Hour}
	// Reset mails per address, and per client address asking.
	ResetMails          = throttle.Rule{Name: "reset-mail", Limit: 3, Window: time.Hour}
	ResetMailsPerClient = throttle.Rule{Name: "reset-mail-client", Limit: 10, Window: time.Hour}
	// Verification resends per account: once a minute, five an hour.
	ResendPerMinute = throttle.Rule{Name: "resend-minute", Limit: 1, Window: time.Minute}
	ResendPerHour   = throttle.Rule{Name: "resend-hour", Limit: 5, Window: time.Hour}
	// New-device mails per account (product.md §13): one an hour, however
	// many new browsers sign in, on however many instances.
	NewDeviceMails = throttle.Rule{Name: "new-device-mail", Limit: 1, Window: time.Hour}
	// Passkey sign-in challenges per client address. POST
	// /signin/passkey/begin is open to anyone (the sign-in page's autofill
	// asks for one on every load) and stores each challenge for 5
	// minutes: this bounds what one address can make the server store.
	// 300 in 10 minutes is a page load every 2 seconds, far above what a
	// household or an office behind one address does.
	PasskeyChallenges = throttle.Rule{Name: "passkey-challenge", Limit: 300, Window: 10 * time.Minute}
)

// LongestWindow is the longest window of the rules above: events older
// than that count for nothing and may be deleted.
const LongestWindow = time.Hour

// AddressKey is the throttle key of a client address: the address itself
// for IPv4, its /64 for IPv6, since one home or server usually gets a
// whole /64 to pick addresses from.
func AddressKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil {
		return "ip:" + ip
	}
	return "ip:" + p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// UserKey is the throttle key of an account.
func UserKey(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// loginKey is the throttle key of a sign-in name as typed (normalised),
// whether an account has it or not, so unknown names are throttled exactly
// like real ones and a 429 tells nothing.
func loginKey(login string) string { return "login:" + login }

// SessionKey is the throttle key of a signed-in session. A session's id
// is never given to another session (migration 0012; gatehouse copy
// carries the floor to PostgreSQL), so a count never passes to the next
// sign-in.
func SessionKey(id int64) string { return "session:" + strconv.FormatInt(id, 10) }
