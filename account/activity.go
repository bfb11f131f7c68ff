package account

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gatehouse/useragent"
)

// EventRetention is how long security events are kept and shown
// (product.md §13); the cleanup removes older ones. It is also how long a
// browser stays known for the new-device mail.
const EventRetention = 90 * 24 * time.Hour

// FailedSignIn is the ErrWrongPassword of a sign-in whose name matched an
// account: the web layer records the failure in that account's activity
// (with the browser and address, which the account rules do not see).
type FailedSignIn struct {
	UserID int64
}

func (e *FailedSignIn) Error() string { return ErrWrongPassword.Error() }
func (e *FailedSignIn) Unwrap() error { return ErrWrongPassword }

// FailedUser returns the account of a failed sign-in, or 0 when the name
// matched none (or err is another error).
func FailedUser(err error) int64 {
	var f *FailedSignIn
	if errors.As(err, &f) {
		return f.UserID
	}
	return 0
}

// eventWords say each kind of event as the activity page lists it.
var eventWords = map[string]string{
	EventSignedOut:            "Signed out",
	EventPasswordChanged:      "Password changed",
	EventResetRequested:       "Password reset link requested",
	EventPasswordReset:        "Password reset with a link",
	EventEmailChangeRequested: "Email change requested",
	EventEmailChanged:         "Email address changed",
	EventTOTPEnabled:          "Authenticator app turned on",
	EventTOTPDisabled:         "Authenticator app turned off",
	EventRecoveryCodesRenewed: "Recovery codes renewed",
	EventRecoveryCodeUsed:     "Recovery code used",
	EventPasskeyAdded:         "Passkey added",
	EventPasskeyRemoved:       "Passkey removed",
	EventAppAllowed:           "App allowed",
	EventAppRemoved:           "App removed",
	EventNotMe:                "This wasn't me: every other session and app signed out",
}

// methodWords say how a session was signed in.
var methodWords = map[string]string{
	string(MethodPassword):     "Signed in with password",
	string(MethodCode):         "Signed in with password and code",
	string(MethodRecoveryCode): "Signed in with a recovery code",
	string(MethodPasskey):      "Signed in with a passkey",
}

// DescribeEvent says an event in words: "Signed in with password and
// code", "Sign-in failed: wrong password", "Passkey added: laptop".
func DescribeEvent(kind, detail string) string {
	switch kind {
	case EventSignedIn:
		if w, ok := methodWords[detail]; ok {
			return w
		}
		return "Signed in"
	case EventSignInFailed:
		return "Sign-in failed: " + strings.ReplaceAll(detail, "_", " ")
	case EventSessionEnded:
		if detail == SessionsOthers {
			return "Signed out everywhere else"
		}
		return "A session was signed out from another one"
	case EventAdminAction:
		return upperFirst(detail)
	}
	w, ok := eventWords[kind]
	if !ok {
		w = upperFirst(strings.ReplaceAll(kind, "_", " "))
	}
	if detail != "" && (kind == EventPasskeyAdded || kind == EventPasskeyRemoved || kind == EventAppAllowed || kind == EventAppRemoved) {
		w += ": " + detail
	}
	return w
}

// SessionsOthers is the detail of EventSessionEnded when every other
// session ended at once.
const SessionsOthers = "others"

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// NewBrowser reports whether the account has not signed in from this
// browser (its name and system, as useragent.Describe says them) within
// the retention; call it before the sign-in is recorded.
func (s *Service) NewBrowser(ctx context.Context, userID int64, userAgent string) (bool, error) {
	since := s.Now().Add(-EventRetention)
	// Most sign-ins come from a browser that sent this very header before:
	// one index look-up. Only a header not seen (a browser updated, or a
	// new one) reads the account's list of browsers.
	same, err := s.store.SignedInWith(ctx, userID, EventSignedIn, userAgent, since)
	if err != nil || same {
		return false, err
	}
	seen, err := s.store.SignInUserAgents(ctx, userID, EventSignedIn, since)
	if err != nil {
		return false, err
	}
	this := useragent.Describe(userAgent)
	for _, ua := range seen {
		if useragent.Describe(ua) == this {
			return false, nil
		}
	}
	return true, nil
}

// DeleteOldEvents removes security events past the retention.
func (s *Service) DeleteOldEvents(ctx context.Context) (int64, error) {
	return s.store.DeleteSecurityEventsBefore(ctx, s.Now().Add(-EventRetention))
}
