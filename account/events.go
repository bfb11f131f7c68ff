package account

import (
	"context"
	"errors"

	"gatehouse/db"
)

// The kinds of security event (product.md §13), as stored in
// security_events.kind. Detail, where given, is one of the fixed words
// noted beside each kind; an event never holds a password, a token or a
// code.
const (
	EventSignedIn             = "signed_in"              // detail: the Method
	EventSignInFailed         = "sign_in_failed"         // detail: "wrong_password" | "wrong_code"
	EventSignedOut            = "signed_out"             //
	EventSessionEnded         = "session_ended"          // a session ended from elsewhere (revoked, sign out everywhere)
	EventPasswordChanged      = "password_changed"       //
	EventResetRequested       = "reset_requested"        //
	EventPasswordReset        = "password_reset"         //
	EventEmailChangeRequested = "email_change_requested" //
	EventEmailChanged         = "email_changed"          //
	EventTOTPEnabled          = "totp_enabled"           //
	EventTOTPDisabled         = "totp_disabled"          //
	EventRecoveryCodesRenewed = "recovery_codes_renewed" //
	EventRecoveryCodeUsed     = "recovery_code_used"     //
	EventPasskeyAdded         = "passkey_added"          // detail: the passkey's name
	EventPasskeyRemoved       = "passkey_removed"        // detail: the passkey's name
	EventAppAllowed           = "app_allowed"            // detail: the client's name
	EventAppRemoved           = "app_removed"            // detail: the client's name
	EventNotMe                = "not_me"                 // "This wasn't me": every other session and app ended
	EventAdminAction          = "admin_action"           // detail: what the admin did; ActorID: who
)

// Record adds a security event to an account's activity. A failure to
// record is logged, not returned: the operation it records has happened.
// An account deleted meanwhile has no activity left to add to.
func (s *Service) Record(ctx context.Context, e db.Event) {
	if e.At.IsZero() {
		e.At = s.Now()
	}
	if err := s.store.AddEvent(ctx, e); err != nil && !errors.Is(err, db.ErrNotFound) {
		s.log.Error("record security event", "kind", e.Kind, "user_id", e.UserID, "err", err)
	}
}
