package account

import (
	"context"
	"errors"
	"time"
)

// The admin role and disabled accounts (product.md §13), for the admin
// page and the admin commands alike.

// ErrSelf refuses an admin's action on their own account that would lock
// them out: disabling, demoting or deleting themselves.
var ErrSelf = errors.New("account: an admin cannot disable, demote or delete their own account")

// SetAdmin grants (admin true) or takes away the admin role.
func (s *Service) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	if err := s.store.SetAdmin(ctx, userID, admin); err != nil {
		return err
	}
	s.log.Info("admin role changed", "user_id", userID, "admin", admin)
	return nil
}

// Disable disables the account: it can no longer sign in (Usable), and
// every session of it ends at once, on every instance (the session data
// goes from Redis too). It returns how many sessions ended.
func (s *Service) Disable(ctx context.Context, userID int64) (int, error) {
	ended, err := s.store.SetDisabled(ctx, userID, s.Now())
	if err != nil {
		return 0, err
	}
	s.log.Info("account disabled", "user_id", userID, "sessions_ended", len(ended))
	return len(ended), s.endSessions(ctx, ended)
}

// Enable lets a disabled account sign in again.
func (s *Service) Enable(ctx context.Context, userID int64) error {
	if _, err := s.store.SetDisabled(ctx, userID, time.Time{}); err != nil {
		return err
	}
	s.log.Info("account enabled", "user_id", userID)
	return nil
}

// NotMe is "This wasn't me" (product.md §13): every other session of the
// account ends (keepSessionID stays). It returns how many ended.
func (s *Service) NotMe(ctx context.Context, userID, keepSessionID int64) (int, error) {
	return s.SignOutEverywhere(ctx, userID, keepSessionID)
}
