// Package storetest holds the behaviour tests that every storage backend
// passes: the same table of tests runs against SQLite (package db) and
// PostgreSQL (package postgres), each on a real database, so that the web
// layer, the account rules, the throttle and the admin commands get the
// same answers whichever backend they run on (style.md: "the same
// behaviour tests run against each implementation").
//
// A backend's test calls Run with a function that opens a fresh, empty
// store. What is particular to one backend (its migrations, refusing a
// database from a newer version, its connection handling) is tested in
// that backend's package.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/secretkey"
	"gatehouse/throttle"
)

// Store is a backend under test: every storage method that the web layer
// (handlers.Store), the account rules (account.Store), the throttle
// (throttle.Store) and the admin commands use, and two hooks that only a
// test needs.
type Store interface {
	account.Store
	throttle.Store
	secretkey.Settings

	Ping(ctx context.Context) error
	CreateSession(ctx context.Context, n db.NewSession) (int64, error)
	SessionUser(ctx context.Context, sessionID int64, token string) (*db.User, db.Session, error)
	TouchSession(ctx context.Context, sessionID int64, now time.Time) error
	RekeySession(ctx context.Context, sessionID int64, token string) error
	UserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]db.Session, error)
	UserByEmail(ctx context.Context, email string) (*db.User, error)
	CreateLinkToken(ctx context.Context, userID int64, kind db.TokenKind, newEmail string, now, expires time.Time) (string, error)
	UseEmailToken(ctx context.Context, token string, now time.Time) (*db.LinkToken, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)
	CountActiveSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error)
	DeleteEventsBefore(ctx context.Context, before int64) (int64, error)
	// Second factors (product.md §10).
	account.OneTime
	MarkSecondFactor(ctx context.Context, sessionID int64) error
	DeleteExpiredOneTime(ctx context.Context, now time.Time) (int64, error)

	// The admin pages (product.md §13).
	AddAdminLog(ctx context.Context, e db.AdminLogEntry) error
	AdminLog(ctx context.Context, limit, offset int) ([]db.AdminLogEntry, error)
	UserEvents(ctx context.Context, userID int64, since time.Time, limit, offset int) ([]db.Event, error)
	SearchUsers(ctx context.Context, q, signedInKind string, limit, offset int) ([]db.UserListing, error)

	// The admin commands' look-ups (user.go).
	ListUsers(ctx context.Context) ([]*db.User, error)
	UserByUsername(ctx context.Context, username string) (*db.User, error)
	CountUsers(ctx context.Context) (int, error)

	// Sessions is the backend's scs store, behind its token-hashing
	// wrapper. (The backends' own SessionStore methods return concrete
	// types, so a test adapter provides this one.)
	Sessions() SessionStore
	// Dump returns what a copy of the stored data would give away: the
	// database file's bytes, a pg_dump.
	Dump(ctx context.Context) ([]byte, error)
	// SessionDataRows counts the scs rows stored, expired or not (Find
	// cannot tell an expired row from a removed one).
	SessionDataRows(ctx context.Context) (int, error)
}

// SessionStore is where scs keeps session data, keyed by token hash
// (handlers.SessionStore).
type SessionStore interface {
	scs.Store
	account.SessionData
}

// test is one behaviour, run on a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s Store)
}

// tests is the table Run runs.
var tests = []test{
	// Accounts (accounts.go).
	{"CreateAndFindUser", testCreateAndFindUser},
	{"DuplicateUsernameAndEmail", testDuplicateUsernameAndEmail},
	{"ConcurrentSignups", testConcurrentSignups},
	{"UpgradeHashAndVerify", testUpgradeHashAndVerify},
	{"ChangePassword", testChangePassword},
	{"DeleteUser", testDeleteUser},
	{"UserIDsNeverGivenTwice", testUserIDsNeverGivenTwice},
	{"SessionIDsNeverGivenTwice", testSessionIDsNeverGivenTwice},
	// Sessions (sessions.go).
	{"SessionLifecycle", testSessionLifecycle},
	{"SessionStartsOnlyWithTheCheckedPassword", testSessionStartsOnlyWithTheCheckedPassword},
	{"PasswordChangeRacesSignIn", testPasswordChangeRacesSignIn},
	{"SessionStartsWithItsEvent", testSessionStartsWithItsEvent},
	{"ReplacedTokenStaysDead", testReplacedTokenStaysDead},
	{"SessionData", testSessionData},
	{"EndedSessionsLoseTheirData", testEndedSessionsLoseTheirData},
	{"DeleteExpiredSessions", testDeleteExpiredSessions},
	{"CountActiveSessions", testCountActiveSessions},
	{"IdleNeverEndsEarly", testIdleNeverEndsEarly},
	{"NoRawTokenStored", testNoRawTokenStored},
	// Link tokens (tokens.go).
	{"LinkTokenLifecycle", testLinkTokenLifecycle},
	{"ResetPassword", testResetPassword},
	{"ChangeEmailToken", testChangeEmailToken},
	{"ConcurrentLinkUse", testConcurrentLinkUse},
	{"DeleteExpiredTokens", testDeleteExpiredTokens},
	// Second factors (secondfactor.go).
	{"SecondFactors", testSecondFactors},
	{"MarkSecondFactor", testMarkSecondFactor},
	{"SecondFactorEndsWithTheLastFactor", testSecondFactorEndsWithTheLastFactor},
	{"OneTime", testOneTimeSQL},
	// Throttle events (throttle.go).
	{"ThrottleEvents", testThrottleEvents},
	{"TakeEvent", testTakeEvent},
	{"TakeEventConcurrent", testTakeEventConcurrent},
	// Settings, sign-in methods, security events (foundation.go).
	{"Settings", testSettings},
	{"SessionMethod", testSessionMethod},
	{"Events", testEvents},
	// OpenID Connect (oidc.go).
	{"OIDCClients", testOIDCClients},
	{"OIDCCodeExchange", testOIDCCodeExchange},
	{"OIDCRefreshRotation", testOIDCRefreshRotation},
	{"OIDCGrants", testOIDCGrants},
	// Groups (groups.go).
	{"SetGroups", testSetGroups},
	// The admin role, disabled accounts and the admin log (admin.go).
	{"AdminRole", testAdminRole},
	{"SetDisabled", testSetDisabled},
	{"AdminLog", testAdminLog},
	{"UserEvents", testUserEvents},
	{"SearchUsers", testSearchUsers},
}

// Run runs every behaviour test as a parallel subtest of t, each on a
// store of its own from open.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// now is the tests' clock: a fixed second, so stored times (Unix seconds)
// compare exactly. Tests that meet the database's own clock (scs data
// expiry) use time.Now instead.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newUser(t *testing.T, s Store, name, hash string) *db.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), name, name+"@example.com", hash, now)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// startSession records a signed-in session of u under token, lasting an
// hour from at.
func startSession(t *testing.T, s Store, u *db.User, token string, at time.Time, ip string) int64 {
	t.Helper()
	id, err := s.CreateSession(t.Context(), db.NewSession{
		UserID: u.ID, PasswordHash: u.PasswordHash, Token: token,
		Now: at, Expires: at.Add(time.Hour), IP: ip, UserAgent: "ua",
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return id
}
