package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/db"
)

// Second factors (product.md §10): the authenticator app (TOTP, RFC 6238),
// recovery codes and passkeys. The WebAuthn ceremonies themselves live in
// the web layer (they are HTTP and JSON through and through); the rules of
// what a change does to an account live here.

// Sealer seals the authenticator secrets at rest: AES-256-GCM under the
// server's secret key (*secretkey.Key).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// OneTime holds short-lived values that every instance must see at once:
// the authenticator's replay guard and WebAuthn challenges. The SQL stores
// implement it, and Redis when there is one (product.md §14).
type OneTime interface {
	// ClaimOnce records key until expires and reports whether it was new.
	ClaimOnce(ctx context.Context, key string, now, expires time.Time) (bool, error)
	// PutOneTime keeps value under key until expires.
	PutOneTime(ctx context.Context, key string, value []byte, expires time.Time) error
	// TakeOneTime returns and removes the value under key; db.ErrNotFound
	// when there is none or it has expired.
	TakeOneTime(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// SecondFactorStore is what the second-factor rules need from storage
// (both SQL backends implement it).
type SecondFactorStore interface {
	TOTP(ctx context.Context, userID int64) (db.TOTP, error)
	SetPendingTOTP(ctx context.Context, userID int64, sealed []byte) error
	EnableTOTP(ctx context.Context, userID int64, sealed []byte, codeHashes []string, now time.Time) error
	DisableTOTP(ctx context.Context, userID int64) error
	ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string) error
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	UseRecoveryCode(ctx context.Context, userID int64, codeHash string) error
	HasSecondFactor(ctx context.Context, userID int64) (bool, error)
	ResetSecondFactors(ctx context.Context, userID int64) error
	AddPasskey(ctx context.Context, p db.Passkey, codeHashes []string) (int64, error)
	Passkeys(ctx context.Context, userID int64) ([]db.Passkey, error)
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (db.Passkey, error)
	PasskeyUsed(ctx context.Context, id int64, credential []byte, now time.Time) error
	DeletePasskey(ctx context.Context, userID, id int64) error
}

// Errors of the second factor.
var (
	// ErrWrongCode: the code is no current authenticator code and no
	// unused recovery code of the account (or was used already).
	ErrWrongCode = errors.New("account: incorrect code")
	// ErrNoSetup: enabling the authenticator with no setup waiting.
	ErrNoSetup = errors.New("account: no authenticator setup is waiting")
	// ErrNoSecretKey: second factors need the server's secret key.
	ErrNoSecretKey = errors.New("account: second factors need the server's secret key")
)

// The authenticator's parameters (product.md §10): SHA-1, 6 digits, 30 s,
// 160-bit secrets, the previous, current and next step accepted.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20
	// RecoveryCodeCount codes are made at a time.
	RecoveryCodeCount = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPSetup is a new authenticator secret as the setup page shows it.
type TOTPSetup struct {
	Secret string // base32, as typed into an app by hand
	URI    string // otpauth://totp/…, what the QR code holds
}

// totpAAD binds a sealed secret to its account: a sealed secret copied to
// another account's row does not open.
func totpAAD(userID int64) []byte { return []byte("totp:" + strconv.FormatInt(userID, 10)) }

// requireKey fails without the server's secret key.
func (s *Service) requireKey() error {
	if s.sealer == nil || len(s.codeKey) == 0 {
		return ErrNoSecretKey
	}
	return nil
}

// SetupTOTP makes a new authenticator secret for user and keeps it, sealed,
// until EnableTOTP confirms a code from it; nothing is active yet. A later
// setup replaces it.
func (s *Service) SetupTOTP(ctx context.Context, user *db.User) (*TOTPSetup, error) {
	if err := s.requireKey(); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer, AccountName: user.Username, Period: totpPeriod,
		SecretSize: totpSecretSize, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("account: new authenticator secret: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), totpAAD(user.ID))
	if err != nil {
		return nil, err
	}
	if err := s.store.SetPendingTOTP(ctx, user.ID, sealed); err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: key.Secret(), URI: key.URL()}, nil
}

// PendingTOTP returns the setup waiting to be enabled (shown again after a
// wrong code), or ErrNoSetup.
func (s *Service) PendingTOTP(ctx context.Context, user *db.User) (*TOTPSetup, error) {
	_, secret, err := s.pendingSecret(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	return s.setupOf(user, secret), nil
}

// pendingSecret reads the secret waiting to be enabled: as stored (sealed)
// and opened. ErrNoSetup when there is none.
func (s *Service) pendingSecret(ctx context.Context, userID int64) (sealed []byte, secret string, err error) {
	if err := s.requireKey(); err != nil {
		return nil, "", err
	}
	t, err := s.store.TOTP(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	if len(t.Pending) == 0 {
		return nil, "", ErrNoSetup
	}
	plain, err := s.sealer.Open(t.Pending, totpAAD(userID))
	if err != nil {
		return nil, "", fmt.Errorf("account: open pending authenticator secret: %w", err)
	}
	return t.Pending, string(plain), nil
}

// setupOf builds the otpauth URI of a secret, as totp.Generate does.
func (s *Service) setupOf(user *db.User, secret string) *TOTPSetup {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", s.issuer)
	v.Set("period", strconv.Itoa(totpPeriod))
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + s.issuer + ":" + user.Username, RawQuery: v.Encode()}
	return &TOTPSetup{Secret: secret, URI: u.String()}
}

// EnableTOTP turns the authenticator on once code matches the pending
// secret, ends the user's other sessions (keepSessionID stays) and returns
// ten new recovery codes (older ones stop working). A wrong or replayed
// code is ErrWrongCode; with no setup waiting, ErrNoSetup.
func (s *Service) EnableTOTP(ctx context.Context, user *db.User, keepSessionID int64, code string) ([]string, error) {
	pending, secret, err := s.pendingSecret(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	// Typed as the app shows it ("123 456"), as at the second step.
	digits, ok := totpCode(code)
	if !ok {
		return nil, ErrWrongCode
	}
	ok, err = s.checkTOTP(ctx, user.ID, secret, digits)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrWrongCode
	}
	codes, hashes, err := s.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	if err := s.store.EnableTOTP(ctx, user.ID, pending, hashes, s.Now()); err != nil {
		return nil, err
	}
	n, err := s.SignOutEverywhere(ctx, user.ID, keepSessionID)
	s.log.Info("authenticator turned on", "user_id", user.ID, "other_sessions_ended", n)
	return codes, err
}

// DisableTOTP turns the authenticator off after a current code or an
// unused recovery code (ErrWrongCode otherwise) and ends the user's other
// sessions. The recovery codes end with it unless a passkey remains. It
// returns which kind of code was given (MethodCode or MethodRecoveryCode).
func (s *Service) DisableTOTP(ctx context.Context, user *db.User, keepSessionID int64, code string) (Method, error) {
	method, err := s.checkCode(ctx, user, code)
	if err != nil {
		return "", err
	}
	if err := s.store.DisableTOTP(ctx, user.ID); err != nil {
		return "", err
	}
	n, err := s.SignOutEverywhere(ctx, user.ID, keepSessionID)
	s.log.Info("authenticator turned off", "user_id", user.ID, "other_sessions_ended", n)
	return method, err
}

// RenewRecoveryCodes replaces the account's recovery codes with ten new
// ones and ends the user's other sessions.
func (s *Service) RenewRecoveryCodes(ctx context.Context, user *db.User, keepSessionID int64) ([]string, error) {
	if err := s.requireKey(); err != nil {
		return nil, err
	}
	codes, hashes, err := s.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, user.ID, hashes); err != nil {
		return nil, err
	}
	n, err := s.SignOutEverywhere(ctx, user.ID, keepSessionID)
	s.log.Info("recovery codes renewed", "user_id", user.ID, "other_sessions_ended", n)
	return codes, err
}

// SecondFactors is what the security page shows of an account.
type SecondFactors struct {
	TOTPOn        bool
	RecoveryCodes int // unused codes left
	Passkeys      []db.Passkey
}

// Any reports whether the account has a second factor.
func (f SecondFactors) Any() bool { return f.TOTPOn || len(f.Passkeys) > 0 }

// SecondFactorsOf reads the account's second factors.
func (s *Service) SecondFactorsOf(ctx context.Context, userID int64) (SecondFactors, error) {
	var f SecondFactors
	t, err := s.store.TOTP(ctx, userID)
	if err != nil {
		return f, err
	}
	f.TOTPOn = t.On()
	if f.RecoveryCodes, err = s.store.RecoveryCodesLeft(ctx, userID); err != nil {
		return f, err
	}
	f.Passkeys, err = s.store.Passkeys(ctx, userID)
	return f, err
}

// SecondStep is the second step of a sign-in (product.md §10): the account
// whose password was right gives a current authenticator code or an unused
// recovery code. Wrong codes count against the account's sign-in limit and
// the client address's (product.md §6): past it, a *ThrottledError before
// any check. An account deleted in between is db.ErrAccountChanged.
//
// As with a password (checkPassword), the code is checked while holding
// a hashing slot, the counts read again once it is held, and a failure
// recorded before it is given back: parallel guesses pass the limit by at
// most the number of slots, not by however many arrive at once.
func (s *Service) SecondStep(ctx context.Context, userID int64, code, clientIP string) (*Proof, error) {
	tctx := context.WithoutCancel(ctx)
	keys := []string{UserKey(userID), AddressKey(clientIP)}
	slot, err := s.limitedSlot(ctx, SignInFailures, keys)
	if err != nil {
		return nil, err
	}
	defer slot.Release()
	user, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, db.ErrAccountChanged
	}
	if err != nil {
		return nil, err
	}
	method, err := s.checkCode(ctx, user, code)
	if errors.Is(err, ErrWrongCode) {
		s.log.Warn("second step failed", "user_id", userID, "ip", clientIP)
		if aerr := s.limits.Add(tctx, SignInFailures, keys...); aerr != nil {
			s.log.Error("throttle", "err", aerr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return &Proof{User: user, Method: method}, nil
}

// checkCode accepts a current authenticator code (when the authenticator
// is on) or uses up an unused recovery code, and says which it was.
func (s *Service) checkCode(ctx context.Context, user *db.User, code string) (Method, error) {
	if err := s.requireKey(); err != nil {
		return "", err
	}
	if digits, ok := totpCode(code); ok {
		t, err := s.store.TOTP(ctx, user.ID)
		if err != nil {
			return "", err
		}
		if !t.On() {
			return "", ErrWrongCode
		}
		secret, err := s.sealer.Open(t.Secret, totpAAD(user.ID))
		if err != nil {
			return "", fmt.Errorf("account: open authenticator secret: %w", err)
		}
		ok, err := s.checkTOTP(ctx, user.ID, string(secret), digits)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", ErrWrongCode
		}
		return MethodCode, nil
	}
	rc, ok := NormalizeRecoveryCode(code)
	if !ok {
		return "", ErrWrongCode
	}
	err := s.store.UseRecoveryCode(ctx, user.ID, s.recoveryHash(user.ID, rc))
	if errors.Is(err, db.ErrNotFound) {
		return "", ErrWrongCode
	}
	if err != nil {
		return "", err
	}
	s.log.Info("recovery code used", "user_id", user.ID)
	return MethodRecoveryCode, nil
}

// totpCode reads a typed authenticator code: six digits, spaces ignored.
func totpCode(code string) (string, bool) {
	c := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(c) != 6 {
		return "", false
	}
	for _, r := range c {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return c, true
}

// checkTOTP accepts code when it is the code of the previous, current or
// next 30-second step of secret, and that step's code has not been
// accepted for this account before, on any instance (the claim in OneTime
// outlives the steps that accept it).
func (s *Service) checkTOTP(ctx context.Context, userID int64, secret, code string) (bool, error) {
	now := s.Now()
	step := now.Unix() / totpPeriod
	for _, off := range []int64{-1, 0, 1} {
		at := time.Unix((step+off)*totpPeriod, 0)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			return false, fmt.Errorf("account: authenticator code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		key := "totp-used:" + strconv.FormatInt(userID, 10) + ":" + strconv.FormatInt(step+off, 10)
		fresh, err := s.oneTime.ClaimOnce(ctx, key, now, now.Add(3*totpPeriod*time.Second))
		if err != nil {
			return false, err
		}
		return fresh, nil
	}
	return false, nil
}

// recoveryAlphabet is what recovery codes are made of (product.md §10).
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newRecoveryCodes makes RecoveryCodeCount codes, as shown (xxxxx-xxxxx),
// and their hashes as stored.
func (s *Service) newRecoveryCodes(userID int64) (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		var b [10]byte
		for i := 0; i < len(b); {
			var r [1]byte
			if _, err := rand.Read(r[:]); err != nil {
				return nil, nil, err
			}
			// 252 is the largest multiple of 36 below 256: no bias.
			if r[0] < 252 {
				b[i] = recoveryAlphabet[int(r[0])%len(recoveryAlphabet)]
				i++
			}
		}
		c := string(b[:])
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, s.recoveryHash(userID, c))
	}
	return codes, hashes, nil
}

// NormalizeRecoveryCode reads a typed recovery code: dashes, spaces and
// case are ignored (product.md §10). ok is false when what is left is not
// ten characters of a–z0–9.
func NormalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != 10 {
		return "", false
	}
	return b.String(), true
}

// recoveryHash is how a recovery code is stored: HMAC-SHA256 under a key
// derived from the server's secret key, bound to the account. Codes carry
// about 52 bits, too few for a plain hash to survive a stolen database;
// without the key file the hashes cannot be tried offline.
func (s *Service) recoveryHash(userID int64, code string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(strconv.FormatInt(userID, 10) + ":" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// ResetSecondFactors turns off every second factor of the account and
// ends all its sessions (gatehouse user reset-2fa, the admin page). It
// returns how many sessions ended.
func (s *Service) ResetSecondFactors(ctx context.Context, userID int64) (int, error) {
	if err := s.store.ResetSecondFactors(ctx, userID); err != nil {
		return 0, err
	}
	n, err := s.SignOutEverywhere(ctx, userID, 0)
	s.log.Info("second factors reset", "user_id", userID, "sessions_ended", n)
	return n, err
}

// AddPasskey stores a passkey the user just registered and ends the user's
// other sessions. When it is the account's first second factor it returns
// ten recovery codes to show once (product.md §10); otherwise none.
func (s *Service) AddPasskey(ctx context.Context, user *db.User, keepSessionID int64, p db.Passkey) ([]string, error) {
	if err := s.requireKey(); err != nil {
		return nil, err
	}
	had, err := s.store.HasSecondFactor(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	var codes, hashes []string
	if !had {
		if codes, hashes, err = s.newRecoveryCodes(user.ID); err != nil {
			return nil, err
		}
	}
	p.UserID = user.ID
	p.CreatedAt = s.Now()
	if _, err := s.store.AddPasskey(ctx, p, hashes); err != nil {
		return nil, err
	}
	n, err := s.SignOutEverywhere(ctx, user.ID, keepSessionID)
	s.log.Info("passkey added", "user_id", user.ID, "other_sessions_ended", n)
	return codes, err
}

// DeletePasskey removes one of the user's passkeys (db.ErrNotFound when
// it is not theirs) and ends the user's other sessions.
func (s *Service) DeletePasskey(ctx context.Context, user *db.User, keepSessionID, id int64) error {
	if err := s.store.DeletePasskey(ctx, user.ID, id); err != nil {
		return err
	}
	n, err := s.SignOutEverywhere(ctx, user.ID, keepSessionID)
	s.log.Info("passkey removed", "user_id", user.ID, "other_sessions_ended", n)
	return err
}

// RefusePasskey refuses a passkey sign-in from a client address past its
// limit of failures (product.md §6, §8): a *ThrottledError, or nil.
func (s *Service) RefusePasskey(ctx context.Context, clientIP string) error {
	return s.refuse(context.WithoutCancel(ctx), SignInFailures, AddressKey(clientIP))
}

// TakePasskeyChallenge counts a passkey sign-in challenge for the client
// address, or refuses it (ThrottledError) when the address has had
// PasskeyChallenges' worth. A refused call stores nothing.
func (s *Service) TakePasskeyChallenge(ctx context.Context, clientIP string) error {
	wait, err := s.limits.Take(context.WithoutCancel(ctx), PasskeyChallenges, AddressKey(clientIP))
	return s.throttled(PasskeyChallenges, wait, err)
}

// PasskeyFailed counts a failed passkey sign-in against the client
// address, and against the account when the step was for one (userID not
// 0).
func (s *Service) PasskeyFailed(ctx context.Context, userID int64, clientIP string) {
	keys := []string{AddressKey(clientIP)}
	if userID != 0 {
		keys = append(keys, UserKey(userID))
	}
	s.log.Warn("passkey sign-in failed", "user_id", userID, "ip", clientIP)
	if err := s.limits.Add(context.WithoutCancel(ctx), SignInFailures, keys...); err != nil {
		s.log.Error("throttle", "err", err)
	}
}
