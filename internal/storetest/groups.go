package storetest

import (
	"errors"
	"slices"
	"testing"

	"gatehouse/db"
)

// testSetGroups: groups are stored sorted without repeats, seen by every
// look-up including the per-request SessionUser (whose cache must not
// keep the old ones: forward-auth answers from it), and an empty list
// clears them. A missing account is db.ErrNotFound.
func testSetGroups(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	bob := newUser(t, s, "bob", "hash")
	sid := startSession(t, s, u, "token-alice", now, "192.0.2.1")
	// Look the session up once, so a cache holds it.
	if got, _, err := s.SessionUser(ctx, sid, "token-alice"); err != nil || got.Groups != nil {
		t.Fatalf("SessionUser before = %+v, %v", got, err)
	}
	if err := s.SetGroups(ctx, u.ID, []string{"family", "admins", "family"}); err != nil {
		t.Fatalf("SetGroups: %v", err)
	}
	want := []string{"admins", "family"}
	if got, _, err := s.SessionUser(ctx, sid, "token-alice"); err != nil || !slices.Equal(got.Groups, want) {
		t.Fatalf("SessionUser after SetGroups = %+v, %v; want groups %v", got, err, want)
	}
	for name, find := range map[string]func() (*db.User, error){
		"UserByID":       func() (*db.User, error) { return s.UserByID(ctx, u.ID) },
		"UserByLogin":    func() (*db.User, error) { return s.UserByLogin(ctx, "alice@example.com") },
		"UserByUsername": func() (*db.User, error) { return s.UserByUsername(ctx, "alice") },
	} {
		if got, err := find(); err != nil || !slices.Equal(got.Groups, want) {
			t.Errorf("%s = %+v, %v; want groups %v", name, got, err, want)
		}
	}
	if got, err := s.UserByID(ctx, bob.ID); err != nil || got.Groups != nil {
		t.Errorf("another account's groups = %+v, %v", got, err)
	}
	if err := s.SetGroups(ctx, u.ID, nil); err != nil {
		t.Fatalf("SetGroups(none): %v", err)
	}
	if got, _, err := s.SessionUser(ctx, sid, "token-alice"); err != nil || got.Groups != nil {
		t.Fatalf("SessionUser after clearing = %+v, %v", got, err)
	}
	if err := s.SetGroups(ctx, u.ID+1000, []string{"x"}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("SetGroups(missing account) = %v, want db.ErrNotFound", err)
	}
}
