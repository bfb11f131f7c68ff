package account

import (
	"context"
	"time"

	"gatehouse/throttle"
)

// The caps on mail a visitor can cause (product.md §7), next to the
// email-change cap in manage.go.

// TakeResetMail counts a reset mail for email asked from clientIP and
// reports whether it may be sent: at most 3 an hour per address and 10 an
// hour per client address. The page is the same either way (a refusal
// would tell that the account exists). A failing throttle store sends
// nothing: the user can ask again, and the cap is what keeps the form from
// being a way to flood a mailbox.
func (s *Service) TakeResetMail(ctx context.Context, email, clientIP string) bool {
	return s.takeMail(ctx, ResetMailsPerClient, AddressKey(clientIP)) &&
		s.takeMail(ctx, ResetMails, "email:"+email)
}

// TakeNewDeviceMail counts a new-device mail for the account and reports
// whether it may be sent: at most one an hour (product.md §13). A failing
// throttle store sends nothing: the sign-in is in the activity log anyway.
func (s *Service) TakeNewDeviceMail(ctx context.Context, userID int64) bool {
	return s.takeMail(ctx, NewDeviceMails, UserKey(userID))
}

func (s *Service) takeMail(ctx context.Context, rule throttle.Rule, key string) bool {
	wait, err := s.limits.Take(context.WithoutCancel(ctx), rule, key)
	if err != nil {
		s.log.Error("mail throttle", "err", err)
		return false
	}
	if wait > 0 {
		s.log.Warn("mail not sent: limit reached", "limit", rule.Name, "retry_after", wait.Round(time.Second))
		return false
	}
	return true
}

// TakeResend counts a verification resend for the account and returns how
// long to wait, when either window (once a minute, five an hour) is used
// up, until both allow one; zero means send. The minute's window is taken
// in one atomic step, so of parallel resends one gets through. A failing
// throttle store lets the resend through: the mail goes to the account's
// own address.
func (s *Service) TakeResend(ctx context.Context, userID int64) time.Duration {
	ctx = context.WithoutCancel(ctx)
	key := UserKey(userID)
	if wait, err := s.limits.Check(ctx, ResendPerHour, key); err != nil {
		s.log.Error("resend throttle", "err", err)
	} else if wait > 0 {
		// The answer says when a resend will work: the hour's window may
		// end before the minute's, so wait for the later of the two.
		if minute, err := s.limits.Check(ctx, ResendPerMinute, key); err == nil {
			wait = max(wait, minute)
		}
		return wait
	}
	if wait, err := s.limits.Take(ctx, ResendPerMinute, key); err != nil {
		s.log.Error("resend throttle", "err", err)
	} else if wait > 0 {
		return wait
	}
	if err := s.limits.Add(ctx, ResendPerHour, key); err != nil {
		s.log.Error("resend throttle", "err", err)
	}
	return 0
}
