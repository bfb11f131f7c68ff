package handlers

import (
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/oidcop"
)

// product.md §12: prompt=login (max_age 0) and max_age ask for the
// password again unless the sign-in is newer than the request (another
// session than the one it came with) or young enough.
func TestFreshEnough(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	age := func(s uint) *uint { return &s }
	old := db.Session{ID: 7, CreatedAt: now.Add(-time.Hour)}
	for _, tc := range []struct {
		name   string
		maxAge *uint
		seenAs int64 // the session the request arrived with
		sess   db.Session
		want   bool
	}{
		{"no max_age", nil, 7, old, true},
		{"prompt=login, same session", age(0), 7, old, false},
		{"prompt=login, signed in since", age(0), 7, db.Session{ID: 8, CreatedAt: now}, true},
		{"prompt=login, arrived signed out", age(0), 0, db.Session{ID: 8, CreatedAt: now}, true},
		{"max_age shorter than the session", age(600), 7, old, false},
		{"max_age longer than the session", age(7200), 7, old, true},
		{"max_age exactly the session's age", age(3600), 7, old, true},
		{"max_age, signed in since", age(1), 7, db.Session{ID: 9, CreatedAt: now.Add(-time.Minute)}, true},
		// SQLite reuses the row id of a session just ended.
		{"prompt=login, signed in since under the same id", age(0), 7, db.Session{ID: 7, CreatedAt: now}, true},
		{"max_age, signed in since under the same id", age(1), 7, db.Session{ID: 7, CreatedAt: now.Add(-time.Minute)}, true},
		{"prompt=login, same id started in the request's second", age(0), 7, db.Session{ID: 7, CreatedAt: now.Add(-2 * time.Minute)}, false},
	} {
		req := &oidcop.AuthRequest{MaxAge: tc.maxAge, Seen: true, SessionID: tc.seenAs, Created: now.Add(-2 * time.Minute)}
		if got := freshEnough(req, tc.sess, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
