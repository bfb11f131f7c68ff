package account

import (
	"context"
	"errors"

	"gatehouse/db"
	"gatehouse/rules"
)

// ChangePassword sets a new password for user after the account form
// checked the current one: every other session of the user ends
// (keepSessionID stays; 0 keeps none) and every pending link dies with
// the old password (product.md §5, §7). It returns the number of sessions
// ended, or *Problems (field names new_password, new_password_confirm) or
// ErrBusy.
func (s *Service) ChangePassword(ctx context.Context, user *db.User, keepSessionID int64, pw, confirm string) (int, error) {
	hash, err := s.newPasswordHash(ctx, user, pw, confirm)
	if err != nil {
		return 0, err
	}
	ended, err := s.store.ChangePassword(ctx, user.ID, hash, keepSessionID)
	if err != nil {
		return 0, err
	}
	s.log.Info("password changed", "user_id", user.ID, "other_sessions_ended", len(ended))
	return len(ended), s.endSessions(ctx, ended)
}

// SetPassword is an administrator's password change (gatehouse user
// set-password): the rules of a new password, and every session ends, as
// with a reset link. Problems use the field name "password".
func (s *Service) SetPassword(ctx context.Context, user *db.User, pw string) (int, error) {
	var p Problems
	p.Add("password", rules.PasswordError(pw, user.Username, user.Email))
	if err := p.Err(); err != nil {
		return 0, err
	}
	return s.ChangePassword(ctx, user, 0, pw, pw)
}

// ResetPassword sets a new password with a reset link's token: the link
// is used, every session of the account ends and every other pending link
// dies, in one transaction (product.md §7). It returns the account's id,
// or a link error (db.ErrNotFound, db.ErrTokenUsed, db.ErrTokenExpired),
// *Problems (new_password, new_password_confirm) or ErrBusy; on *Problems
// and ErrBusy the link is not used yet.
func (s *Service) ResetPassword(ctx context.Context, token, pw, confirm string) (int64, error) {
	t, err := s.store.PeekLinkToken(ctx, token, s.Now(), db.TokenReset)
	if err != nil {
		return 0, err
	}
	user, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return 0, err
	}
	hash, err := s.newPasswordHash(ctx, user, pw, confirm)
	if err != nil {
		return 0, err
	}
	// The link is used here, not above: of two submits, one wins.
	_, ended, err := s.store.ResetPassword(ctx, token, hash, s.Now())
	if err != nil {
		return 0, err
	}
	s.log.Info("password reset", "user_id", user.ID, "sessions_ended", len(ended))
	return user.ID, s.endSessions(ctx, ended)
}

// newPasswordHash checks a new password for user (the fields of the
// change and reset forms: new_password, new_password_confirm) and hashes
// it.
func (s *Service) newPasswordHash(ctx context.Context, user *db.User, pw, confirm string) (string, error) {
	var p Problems
	p.Add("new_password", rules.PasswordError(pw, user.Username, user.Email))
	p.Add("new_password_confirm", rules.ConfirmError(pw, confirm))
	if err := p.Err(); err != nil {
		return "", err
	}
	return s.hash(ctx, pw)
}

// Email-change messages.
const (
	MsgEmailChangeSame  = "That is already your email address."
	MsgEmailChangeTaken = "Another account already uses that email address."
)

// EmailChangeProblem checks a new address for user: its rule, that it is
// new, and that no account uses it (checked again when the link is
// opened). It returns the normalised address and the message ("" when
// fine). The form answers before the current password is checked, so
// whether an address is taken counts against clientIP's limit of taken
// answers like sign-up's (product.md §6): past it, *ThrottledError.
func (s *Service) EmailChangeProblem(ctx context.Context, user *db.User, raw, clientIP string) (string, string, error) {
	email := rules.NormalizeEmail(raw)
	if msg := rules.EmailError(email); msg != "" {
		return email, msg, nil
	}
	if email == user.Email {
		return email, MsgEmailChangeSame, nil
	}
	var p Problems
	p.Add("username", "-") // not asked
	if err := s.lookUpTaken(ctx, &p, "", email, clientIP); err != nil {
		return email, "", err
	}
	if p.Has("email") {
		return email, MsgEmailChangeTaken, nil
	}
	return email, "", nil
}

// TakeEmailChangeMail counts one email-change confirmation mail for the
// account, or refuses it (*ThrottledError) past 3 an hour (product.md §7),
// so the form cannot be used to mail-bomb an address.
func (s *Service) TakeEmailChangeMail(ctx context.Context, user *db.User) error {
	wait, err := s.limits.Take(context.WithoutCancel(ctx), EmailChangeMails, UserKey(user.ID))
	if err != nil {
		return err
	}
	if wait > 0 {
		s.log.Warn("email change mail refused: limit reached", "user_id", user.ID)
		return &ThrottledError{Rule: EmailChangeMails, Wait: wait}
	}
	return nil
}

// SignOutEverywhere ends every session of the account but keepSessionID
// (0 keeps none) and returns how many ended.
func (s *Service) SignOutEverywhere(ctx context.Context, userID, keepSessionID int64) (int, error) {
	ended, err := s.store.DeleteUserSessions(ctx, userID, keepSessionID)
	if err != nil {
		return 0, err
	}
	return len(ended), s.endSessions(ctx, ended)
}

// EndSession ends one session of the account; db.ErrNotFound when it is
// not one of its sessions.
func (s *Service) EndSession(ctx context.Context, userID, sessionID int64) error {
	hash, err := s.store.DeleteUserSession(ctx, userID, sessionID)
	if err != nil {
		return err
	}
	return s.endSessions(ctx, []string{hash})
}

// Delete deletes the account with its sessions and links. Deleting an
// account that is already gone is no error: the outcome is the same.
func (s *Service) Delete(ctx context.Context, user *db.User) error {
	ended, err := s.store.DeleteUser(ctx, user.ID)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("account deleted", "user_id", user.ID, "username", user.Username)
	return s.endSessions(ctx, ended)
}

// Verify marks the account's address verified (gatehouse user verify).
func (s *Service) Verify(ctx context.Context, userID int64) error {
	return s.store.MarkEmailVerified(ctx, userID, s.Now())
}

// Find looks an account up by username or email address, as sign-in does.
func (s *Service) Find(ctx context.Context, login string) (*db.User, error) {
	return s.store.UserByLogin(ctx, NormalizeLogin(login))
}
