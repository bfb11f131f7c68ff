package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
)

// The admin role is granted and taken away, and every look-up, the
// per-request session look-up included, sees it at once.
func testAdminRole(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	sid := startSession(t, s, alice, "tok-a", now, "192.0.2.1")
	if u, _, err := s.SessionUser(ctx, sid, "tok-a"); err != nil || u.Admin {
		t.Fatalf("before: %+v, %v; want no admin", u, err)
	}
	if err := s.SetAdmin(ctx, alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if u, _, err := s.SessionUser(ctx, sid, "tok-a"); err != nil || !u.Admin {
		t.Errorf("session look-up after SetAdmin(true): %+v, %v", u, err)
	}
	if u, err := s.UserByID(ctx, alice.ID); err != nil || !u.Admin {
		t.Errorf("UserByID after SetAdmin(true): %+v, %v", u, err)
	}
	if err := s.SetAdmin(ctx, alice.ID, false); err != nil {
		t.Fatal(err)
	}
	if u, _, err := s.SessionUser(ctx, sid, "tok-a"); err != nil || u.Admin {
		t.Errorf("session look-up after SetAdmin(false): %+v, %v", u, err)
	}
	if err := s.SetAdmin(ctx, alice.ID+1000, true); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("SetAdmin of nobody: %v, want ErrNotFound", err)
	}
}

// Disabling an account ends every session of it (and only of it) in the
// same step and keeps the first time; enabling clears it.
func testSetDisabled(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	a1 := startSession(t, s, alice, "tok-a1", now, "192.0.2.1")
	a2 := startSession(t, s, alice, "tok-a2", now, "192.0.2.2")
	b1 := startSession(t, s, bob, "tok-b1", now, "192.0.2.3")
	if _, _, err := s.SessionUser(ctx, a1, "tok-a1"); err != nil { // cached now
		t.Fatal(err)
	}
	ended, err := s.SetDisabled(ctx, alice.ID, now.Add(time.Minute))
	if err != nil || len(ended) != 2 {
		t.Fatalf("SetDisabled = %v, %v; want two sessions ended", ended, err)
	}
	for _, h := range ended {
		if h != db.HashToken("tok-a1") && h != db.HashToken("tok-a2") {
			t.Errorf("ended %q, not one of alice's sessions", h)
		}
	}
	for id, tok := range map[int64]string{a1: "tok-a1", a2: "tok-a2"} {
		if _, _, err := s.SessionUser(ctx, id, tok); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("alice's session %d after disabling: %v, want ErrNotFound", id, err)
		}
	}
	if _, _, err := s.SessionUser(ctx, b1, "tok-b1"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
	u, err := s.UserByID(ctx, alice.ID)
	if err != nil || !u.Disabled() || !u.DisabledAt.Equal(now.Add(time.Minute)) {
		t.Errorf("after SetDisabled: %+v, %v", u, err)
	}
	if ended, err := s.SetDisabled(ctx, alice.ID, now.Add(time.Hour)); err != nil || len(ended) != 0 {
		t.Errorf("disabling again: %v, %v", ended, err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); !u.DisabledAt.Equal(now.Add(time.Minute)) {
		t.Errorf("disabling again moved the time to %v", u.DisabledAt)
	}
	if _, err := s.SetDisabled(ctx, alice.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.Disabled() {
		t.Errorf("enabled account: %+v", u)
	}
	if _, err := s.SetDisabled(ctx, alice.ID+1000, now); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("SetDisabled of nobody: %v, want ErrNotFound", err)
	}
	if _, err := s.SetDisabled(ctx, alice.ID+1000, time.Time{}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("enabling nobody: %v, want ErrNotFound", err)
	}
}

// The admin log lists newest first, page by page, and outlives both
// accounts: their names stay, their ids become 0.
func testAdminLog(t *testing.T, s Store) {
	ctx := t.Context()
	root := newUser(t, s, "root", "h")
	alice := newUser(t, s, "alice", "h")
	for i, what := range []string{"disabled the account", "enabled the account", "deleted the account"} {
		err := s.AddAdminLog(ctx, db.AdminLogEntry{
			At: now.Add(time.Duration(i) * time.Minute), ActorID: root.ID, ActorName: "root",
			TargetID: alice.ID, TargetName: "alice", Action: what, Detail: "d", IP: "192.0.2.1",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.AdminLog(ctx, 2, 0)
	if err != nil || len(page) != 2 {
		t.Fatalf("AdminLog(2, 0) = %+v, %v", page, err)
	}
	want := db.AdminLogEntry{ID: page[0].ID, At: now.Add(2 * time.Minute), ActorID: root.ID, ActorName: "root",
		TargetID: alice.ID, TargetName: "alice", Action: "deleted the account", Detail: "d", IP: "192.0.2.1"}
	if page[0] != want || page[1].Action != "enabled the account" {
		t.Errorf("AdminLog(2, 0) = %+v, want %+v first", page, want)
	}
	if rest, err := s.AdminLog(ctx, 2, 2); err != nil || len(rest) != 1 || rest[0].Action != "disabled the account" {
		t.Errorf("AdminLog(2, 2) = %+v, %v", rest, err)
	}
	if _, err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, root.ID); err != nil {
		t.Fatal(err)
	}
	all, err := s.AdminLog(ctx, 10, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("after deleting both accounts: %+v, %v", all, err)
	}
	for _, e := range all {
		if e.ActorID != 0 || e.TargetID != 0 || e.ActorName != "root" || e.TargetName != "alice" {
			t.Errorf("entry after the deletions: %+v", e)
		}
	}
}

// An account's events come newest first, from a time on, page by page,
// only its own; the browsers of its sign-ins are listed once each; events
// before a time are deleted.
func testUserEvents(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	add := func(u *db.User, at time.Time, kind, ua string, actor int64) {
		t.Helper()
		if err := s.AddEvent(ctx, db.Event{UserID: u.ID, At: at, Kind: kind, IP: "192.0.2.1", UserAgent: ua, Detail: "d", ActorID: actor}); err != nil {
			t.Fatal(err)
		}
	}
	add(alice, now.Add(-100*24*time.Hour), "signed_in", "old-ua", 0)
	add(alice, now.Add(-time.Hour), "signed_in", "ua-1", 0)
	add(alice, now.Add(-time.Minute), "signed_in", "ua-1", 0)
	add(alice, now.Add(-time.Minute), "signed_out", "ua-2", 0)
	add(alice, now, "admin_action", "ua-3", bob.ID)
	add(bob, now, "signed_in", "ua-bob", 0)

	since := now.Add(-90 * 24 * time.Hour)
	got, err := s.UserEvents(ctx, alice.ID, since, 10, 0)
	if err != nil || len(got) != 4 {
		t.Fatalf("UserEvents = %+v, %v; want 4", got, err)
	}
	want := db.Event{ID: got[0].ID, UserID: alice.ID, At: now, Kind: "admin_action", IP: "192.0.2.1", UserAgent: "ua-3", Detail: "d", ActorID: bob.ID}
	if got[0] != want {
		t.Errorf("newest = %+v, want %+v", got[0], want)
	}
	// Same second: the later row first.
	if got[1].Kind != "signed_out" || got[2].Kind != "signed_in" || got[3].At != now.Add(-time.Hour) {
		t.Errorf("order: %+v", got)
	}
	if page, err := s.UserEvents(ctx, alice.ID, since, 2, 2); err != nil || len(page) != 2 || page[0].ID != got[2].ID {
		t.Errorf("UserEvents(2, 2) = %+v, %v", page, err)
	}
	uas, err := s.SignInUserAgents(ctx, alice.ID, "signed_in", since)
	if err != nil || len(uas) != 1 || uas[0] != "ua-1" {
		t.Errorf("SignInUserAgents = %v, %v; want [ua-1]", uas, err)
	}
	// The exact look-up: this kind, this account, this header, in time.
	for _, c := range []struct {
		kind, ua string
		want     bool
	}{
		{"signed_in", "ua-1", true},
		{"signed_in", "old-ua", false}, // before since
		{"signed_in", "ua-2", false},   // another kind
		{"signed_out", "ua-2", true},
		{"signed_in", "ua-bob", false}, // another account
		{"signed_in", "ua-", false},
	} {
		if got, err := s.SignedInWith(ctx, alice.ID, c.kind, c.ua, since); err != nil || got != c.want {
			t.Errorf("SignedInWith(%s, %s) = %v, %v; want %v", c.kind, c.ua, got, err, c.want)
		}
	}
	n, err := s.DeleteSecurityEventsBefore(ctx, since)
	if err != nil || n != 1 {
		t.Errorf("DeleteSecurityEventsBefore = %d, %v; want 1", n, err)
	}
	if all, _ := s.UserEvents(ctx, alice.ID, time.Time{}, 10, 0); len(all) != 4 {
		t.Errorf("after the cleanup: %d events, want 4", len(all))
	}
}

// The admin list: by username, searched in username or email, ignoring
// case, with LIKE's wildcards taken literally, page by page, each with
// its last sign-in.
func testSearchUsers(t *testing.T, s Store) {
	ctx := t.Context()
	for _, name := range []string{"carol", "alice", "bob_x", "bobby", "zed"} {
		newUser(t, s, name, "h")
	}
	bob, _ := s.UserByUsername(ctx, "bob_x")
	if err := s.AddEvent(ctx, db.Event{UserID: bob.ID, At: now, Kind: "signed_in"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, db.Event{UserID: bob.ID, At: now.Add(-time.Hour), Kind: "signed_in"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, db.Event{UserID: bob.ID, At: now.Add(time.Hour), Kind: "signed_out"}); err != nil {
		t.Fatal(err)
	}
	names := func(q string, limit, offset int) string {
		t.Helper()
		list, err := s.SearchUsers(ctx, q, "signed_in", limit, offset)
		if err != nil {
			t.Fatalf("SearchUsers(%q): %v", q, err)
		}
		var out []string
		for _, l := range list {
			out = append(out, l.User.Username)
			if l.User.Username == "bob_x" && !l.LastSignIn.Equal(now) {
				t.Errorf("bob_x's last sign-in = %v, want %v", l.LastSignIn, now)
			}
			if l.User.Username != "bob_x" && !l.LastSignIn.IsZero() {
				t.Errorf("%s's last sign-in = %v, want none", l.User.Username, l.LastSignIn)
			}
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		q             string
		limit, offset int
		want          string
	}{
		{"", 10, 0, "alice,bob_x,bobby,carol,zed"},
		{"", 2, 2, "bobby,carol"},
		{"BOB", 10, 0, "bob_x,bobby"},
		{"_", 10, 0, "bob_x"},
		{"b_b", 10, 0, ""},
		{"%", 10, 0, ""},
		{`\`, 10, 0, ""},
		{"carol@example", 10, 0, "carol"},
		{"EXAMPLE.COM", 10, 0, "alice,bob_x,bobby,carol,zed"},
	} {
		if got := names(c.q, c.limit, c.offset); got != c.want {
			t.Errorf("SearchUsers(%q, %d, %d) = %q, want %q", c.q, c.limit, c.offset, got, c.want)
		}
	}
}
