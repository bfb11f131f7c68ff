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

// Disable disables the account: it can no longer sign in (Usable), every
// session of it ends at once, on every instance (the session data goes
// from Redis too), and so does every app's access (product.md §13: its
// refresh and access tokens stop working). It returns how many sessions
// ended.
func (s *Service) Disable(ctx context.Context, userID int64) (int, error) {
	ended, err := s.store.SetDisabled(ctx, userID, s.Now())
	if err != nil {
		return 0, err
	}
	s.log.Info("account disabled", "user_id", userID, "sessions_ended", len(ended))
	// Both run even if one fails: each ends a way in.
	return len(ended), errors.Join(s.endSessions(ctx, ended), s.store.RevokeUserGrants(ctx, userID))
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
// account ends (keepSessionID stays), and every app's access with them,
// since whoever signed in may have allowed an app too. It returns how many
// sessions ended.
func (s *Service) NotMe(ctx context.Context, userID, keepSessionID int64) (int, error) {
	if err := s.store.RevokeUserGrants(ctx, userID); err != nil {
		return 0, err
	}
	return s.SignOutEverywhere(ctx, userID, keepSessionID)
}
