package account

import (
	"context"
	"errors"
	"strings"
	"time"

	"gatehouse/db"
	"gatehouse/password"
	"gatehouse/rules"
	"gatehouse/throttle"
)

// Method says how a sign-in proved who it is; the session remembers it
// (product.md §8). Second factors and passkeys add their own.
type Method string

// The ways a session can be signed in. Every method but the first passed
// a second factor (product.md §11's two-factor rule reads that).
const (
	MethodPassword     Method = "password"      // the password alone
	MethodCode         Method = "password+code" // password, then an authenticator code
	MethodRecoveryCode Method = "recovery-code" // password, then a recovery code
	MethodPasskey      Method = "passkey"       // a passkey with user verification
)

// SecondFactor reports whether a sign-in by this method passed a second
// factor.
func (m Method) SecondFactor() bool { return m != MethodPassword && m != "" }

// Proof is what a way in established: the account, as read when it was
// proven (the session starts only while its password hash is still the
// same), and how.
type Proof struct {
	User   *db.User
	Method Method
	// NewAccount marks the sign-in that comes with sign-up: it sends no
	// new-device mail, and its browser counts as known (product.md §13).
	NewAccount bool
}

// NormalizeLogin is how a sign-in name is compared: an email address (it
// has an @, which no username can) as it is stored, its domain in
// punycode (so idn@exämple.com finds idn@xn--exmple-cua.com); a username
// trimmed and lowercased.
func NormalizeLogin(s string) string {
	if strings.Contains(s, "@") {
		return rules.NormalizeEmail(s)
	}
	return rules.NormalizeUsername(s)
}

// Usable says why an account may not be signed in to, or nil. Every way
// in asks it after the proof, so a disabled account (product.md §13)
// learns it is disabled only from the right password.
func Usable(u *db.User) error {
	if u.Disabled() {
		return ErrDisabled
	}
	return nil
}

// SignInWithPassword is the password way in: it checks the name and the
// password under the sign-in throttle (failures per account and per
// client address, product.md §6) and returns the proof, or
// ErrWrongPassword, a *ThrottledError or ErrBusy. Only failures count: a
// right password leaves no trace, so many people signing in at once from
// one address are never refused.
func (s *Service) SignInWithPassword(ctx context.Context, login, pw, clientIP string) (*Proof, error) {
	login = NormalizeLogin(login)
	user, err := s.store.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	// Counted by the name typed, not by the account: a count shared by an
	// account's username and address would let whoever throttles one of
	// them learn which address belongs to which username (the other would
	// be refused at once). Unknown names are counted exactly alike.
	ok, err := s.checkPassword(ctx, user, pw, SignInFailures, loginKey(login), AddressKey(clientIP))
	if err != nil {
		return nil, err
	}
	if !ok {
		if user == nil {
			// The name typed is not logged: it may be a password typed
			// into the wrong field (product.md §6).
			s.log.Warn("sign-in failed", "known_user", false, "ip", clientIP)
			return nil, ErrWrongPassword
		}
		s.log.Warn("sign-in failed", "user_id", user.ID, "ip", clientIP)
		// The account's activity records it (FailedSignIn), without a
		// word of what was typed.
		return nil, &FailedSignIn{UserID: user.ID}
	}
	return &Proof{User: user, Method: MethodPassword}, nil
}

// CheckCurrentPassword checks the password that an account form asks for
// before a sensitive change. Wrong guesses count against the session
// (product.md §6), not against the sign-in counters. It returns nil,
// ErrWrongPassword, a *ThrottledError or ErrBusy.
func (s *Service) CheckCurrentPassword(ctx context.Context, user *db.User, sessionID int64, pw string) error {
	ok, err := s.checkPassword(ctx, user, pw, CurrentPasswordFailures, SessionKey(sessionID))
	if err != nil {
		return err
	}
	if !ok {
		s.log.Warn("current password wrong", "user_id", user.ID, "session_id", sessionID)
		return ErrWrongPassword
	}
	return nil
}

// checkPassword is the one password check of every way in; a failure
// counts against every key.
//
// The order bounds guessing: keys already at their limit are refused
// before any hashing; then, holding a hashing slot, the counts are read
// again, and a failure is recorded before the slot is given back. So
// parallel guesses pass a limit by at most the number of hashing slots
// (product.md §6). An unknown user costs a dummy hash, so
// the time of the answer does not tell whether the account exists.
//
// A password hashed with older parameters is rehashed while the slot is
// held, and stored only if the account still has the old hash. The
// counts outlive a client that hangs up, hence WithoutCancel.
func (s *Service) checkPassword(ctx context.Context, user *db.User, pw string, rule throttle.Rule, keys ...string) (bool, error) {
	tctx := context.WithoutCancel(ctx)
	slot, err := s.limitedSlot(ctx, rule, keys)
	if err != nil {
		return false, err
	}
	defer slot.Release()
	if user == nil {
		slot.VerifyDummy(pw)
		return false, s.limits.Add(tctx, rule, keys...)
	}
	ok, rehash, err := slot.Verify(pw, user.PasswordHash)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, s.limits.Add(tctx, rule, keys...)
	}
	if rehash {
		s.upgradeHash(tctx, slot.Hash, user, pw)
	}
	return true, nil
}

// limitedSlot is how a guess (a password, a code) gets checked: keys
// already at rule's limit are refused before any work; then a hashing
// slot is taken and the counts read again while it is held. The caller
// records a failure before it releases the slot, so parallel guesses pass
// a limit by at most the number of slots (product.md §6).
func (s *Service) limitedSlot(ctx context.Context, rule throttle.Rule, keys []string) (*password.Slot, error) {
	tctx := context.WithoutCancel(ctx)
	if err := s.refuse(tctx, rule, keys...); err != nil {
		return nil, err
	}
	slot, err := s.slot(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.refuse(tctx, rule, keys...); err != nil {
		slot.Release()
		return nil, err
	}
	return slot, nil
}

// refuse returns a *ThrottledError when any of keys is at its limit under
// rule. Its wait is the longest of theirs: the attempt goes through only
// once every key is under its limit, so that is when to try again.
func (s *Service) refuse(ctx context.Context, rule throttle.Rule, keys ...string) error {
	var longest time.Duration
	for _, k := range keys {
		wait, err := s.limits.Check(ctx, rule, k)
		if s.throttled(rule, wait, err) != nil {
			longest = max(longest, wait)
		}
	}
	return s.throttled(rule, longest, nil)
}

// throttled turns a throttle store's answer under rule into a refusal: a
// *ThrottledError while wait is positive. A store that failed is logged
// and lets the attempt through: the hash (or the feature's own cost)
// still bounds the rate, and signing in keeps working.
func (s *Service) throttled(rule throttle.Rule, wait time.Duration, err error) error {
	if err != nil {
		s.log.Error("throttle", "err", err)
		return nil
	}
	if wait > 0 {
		return &ThrottledError{Rule: rule, Wait: wait}
	}
	return nil
}

// upgradeHash re-hashes a password made with older parameters. A failure
// only costs the upgrade; the sign-in goes on.
func (s *Service) upgradeHash(ctx context.Context, hash func(string) (string, error), user *db.User, pw string) {
	h, err := hash(pw)
	if err == nil {
		err = s.store.UpgradePasswordHash(ctx, user.ID, user.PasswordHash, h)
	}
	if err != nil {
		s.log.Error("upgrade password hash", "user_id", user.ID, "err", err)
		return
	}
	user.PasswordHash = h
	s.log.Info("password hash upgraded", "user_id", user.ID)
}
