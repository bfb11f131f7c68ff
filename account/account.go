// Package account holds the account rules that every way in and every
// tool shares: creating an account, checking a password (the proof of the
// sign-in funnel), changing or resetting it, changing the email address,
// ending sessions, deleting, verifying. The web handlers and the admin
// commands both call it, so a rule is written once; it knows nothing of
// HTTP.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gatehouse/db"
	"gatehouse/password"
	"gatehouse/throttle"
)

// Store is what the account rules need from storage. *db.Store (SQLite)
// implements it; a second backend implements the same methods.
type Store interface {
	UsernameTaken(ctx context.Context, username string) (bool, error)
	EmailTaken(ctx context.Context, email string) (bool, error)
	CreateUser(ctx context.Context, username, email, passwordHash string, now time.Time) (*db.User, error)
	UserByID(ctx context.Context, id int64) (*db.User, error)
	UserByLogin(ctx context.Context, login string) (*db.User, error)
	UpgradePasswordHash(ctx context.Context, userID int64, old, hash string) error
	ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) ([]string, error)
	PeekLinkToken(ctx context.Context, token string, now time.Time, kinds ...db.TokenKind) (*db.LinkToken, error)
	ResetPassword(ctx context.Context, token, passwordHash string, now time.Time) (*db.LinkToken, []string, error)
	DeleteUser(ctx context.Context, userID int64) ([]string, error)
	DeleteUserSession(ctx context.Context, userID, sessionID int64) (string, error)
	DeleteUserSessions(ctx context.Context, userID, keepID int64) ([]string, error)
	MarkEmailVerified(ctx context.Context, userID int64, now time.Time) error
	SetGroups(ctx context.Context, userID int64, groups []string) error
	SecondFactorStore
	AddEvent(ctx context.Context, e db.Event) error
	SetAdmin(ctx context.Context, userID int64, admin bool) error
	SetDisabled(ctx context.Context, userID int64, at time.Time) ([]string, error)
	// RevokeUserGrants ends every app's access to the account (OpenID
	// Connect tokens, pending requests, consents): disabling and "This
	// wasn't me" call it.
	RevokeUserGrants(ctx context.Context, userID int64) error
	SignedInWith(ctx context.Context, userID int64, kind, userAgent string, since time.Time) (bool, error)
	SignInUserAgents(ctx context.Context, userID int64, kind string, since time.Time) ([]string, error)
	DeleteSecurityEventsBefore(ctx context.Context, before time.Time) (int64, error)
}

// SessionData is where the data of sessions lives (the scs store), keyed
// by token hash. Ending a session removes its data explicitly, so
// revocation never rests on a database trigger alone.
type SessionData interface {
	DeleteHashed(ctx context.Context, tokenHashes []string) error
}

// Errors of the account rules. Handlers map them to answers in one place.
var (
	// ErrWrongPassword: the name or the password did not match (one error
	// for both, so nothing tells whether an account exists).
	ErrWrongPassword = errors.New("account: incorrect username or password")
	// ErrBusy: no hashing slot came free within the wait allowed.
	ErrBusy = errors.New("account: no hashing slot free in time")
	// ErrDisabled: an admin disabled the account (product.md §13).
	ErrDisabled = errors.New("account: this account is disabled")
)

// ThrottledError says that a limit of Limits is used up, and for how long.
type ThrottledError struct {
	Rule throttle.Rule
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("account: %s limit reached; retry in %s", e.Rule.Name, e.Wait.Round(time.Second))
}

// Metrics hears how long requests wait for a hashing slot (product.md
// §15; package metrics). Nil measures nothing and reads no clock.
type Metrics interface {
	HashWait(time.Duration)
}

// Service applies the account rules.
type Service struct {
	store    Store
	sessions SessionData
	hasher   *password.Hasher
	limits   *throttle.Limiter
	log      *slog.Logger
	hashWait time.Duration
	now      func() time.Time
	metrics  Metrics
	sealer   Sealer
	codeKey  []byte
	oneTime  OneTime
	issuer   string
}

// Config wires a Service.
type Config struct {
	Store    Store
	Sessions SessionData
	Hasher   *password.Hasher
	Limits   *throttle.Limiter
	Logger   *slog.Logger // nil: discard
	// HashWait bounds the wait for a hashing slot of a request (ErrBusy
	// after it); zero waits as long as the context allows (the admin
	// commands).
	HashWait time.Duration
	Metrics  Metrics // nil: none
	// Sealer seals authenticator secrets and CodeKey keys the hashes of
	// recovery codes, both from the server's secret key; without them
	// second factors cannot be set up or checked (ErrNoSecretKey).
	Sealer  Sealer
	CodeKey []byte
	// OneTime keeps the authenticator's replay guard (the SQL store, or
	// Redis); nil: Store, when it implements OneTime.
	OneTime OneTime
	// Issuer names Gatehouse in authenticator apps ("Gatehouse" when
	// empty).
	Issuer string
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OneTime == nil {
		cfg.OneTime, _ = cfg.Store.(OneTime)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Gatehouse"
	}
	return &Service{
		sealer:   cfg.Sealer,
		codeKey:  cfg.CodeKey,
		oneTime:  cfg.OneTime,
		issuer:   cfg.Issuer,
		store:    cfg.Store,
		sessions: cfg.Sessions,
		hasher:   cfg.Hasher,
		limits:   cfg.Limits,
		log:      cfg.Logger,
		hashWait: cfg.HashWait,
		now:      cfg.Limits.Now,
		metrics:  cfg.Metrics,
	}
}

// Now is the service's clock, in UTC.
func (s *Service) Now() time.Time { return s.now().UTC() }

// slot waits for a hashing slot, at most s.hashWait. The end of that wait
// is ErrBusy only while the caller is still there: a client that hung up
// is no overload.
func (s *Service) slot(ctx context.Context) (*password.Slot, error) {
	wctx := ctx
	if s.hashWait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, s.hashWait)
		defer cancel()
	}
	var start time.Time
	if s.metrics != nil {
		start = time.Now()
	}
	slot, err := s.hasher.Acquire(wctx)
	if s.metrics != nil {
		s.metrics.HashWait(time.Since(start))
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, ErrBusy
	}
	return slot, err
}

// hash hashes a new password in a slot of its own.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	slot, err := s.slot(ctx)
	if err != nil {
		return "", err
	}
	defer slot.Release()
	return slot.Hash(pw)
}

// endSessions removes the data of sessions that storage has ended.
func (s *Service) endSessions(ctx context.Context, hashes []string) error {
	if len(hashes) == 0 {
		return nil
	}
	return s.sessions.DeleteHashed(ctx, hashes)
}
