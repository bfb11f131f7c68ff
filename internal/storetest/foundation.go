package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"gatehouse/db"
)

// testSettings: a setting is absent until stored; the first value stored
// under a name stays, and every later PutSettingIfAbsent returns it.
func testSettings(t *testing.T, s Store) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Setting(absent) err = %v, want db.ErrNotFound", err)
	}
	got, err := s.PutSettingIfAbsent(ctx, "k", []byte{1, 2, 0, 3})
	if err != nil || !bytes.Equal(got, []byte{1, 2, 0, 3}) {
		t.Fatalf("PutSettingIfAbsent(first) = %v, %v", got, err)
	}
	got, err = s.PutSettingIfAbsent(ctx, "k", []byte("second"))
	if err != nil || !bytes.Equal(got, []byte{1, 2, 0, 3}) {
		t.Fatalf("PutSettingIfAbsent(second) = %v, %v; want the first value", got, err)
	}
	if got, err := s.Setting(ctx, "k"); err != nil || !bytes.Equal(got, []byte{1, 2, 0, 3}) {
		t.Fatalf("Setting = %v, %v", got, err)
	}
}

// testSessionMethod: a session remembers how it was signed in and whether
// it passed a second factor (of an account that has one), in the
// per-request look-up and the list; a new account has no groups, is no
// admin, and is not disabled.
func testSessionMethod(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	if u.Groups != nil || u.Admin || u.Disabled() {
		t.Fatalf("new user = %+v", u)
	}
	if err := s.EnableTOTP(ctx, u.ID, []byte("sealed-secret"), nil, now); err != nil {
		t.Fatal(err)
	}
	plain := startSession(t, s, u, "token-plain", now, "192.0.2.1")
	strong, err := s.CreateSession(ctx, db.NewSession{
		UserID: u.ID, PasswordHash: u.PasswordHash, Token: "token-strong",
		Now: now, Expires: now.Add(time.Hour), IP: "192.0.2.2", UserAgent: "ua",
		Method: "password+code", SecondFactor: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id     int64
		token  string
		method string
		second bool
	}{{plain, "token-plain", "password", false}, {strong, "token-strong", "password+code", true}} {
		got, sess, err := s.SessionUser(ctx, c.id, c.token)
		if err != nil {
			t.Fatalf("SessionUser(%d): %v", c.id, err)
		}
		if sess.Method != c.method || sess.SecondFactor != c.second {
			t.Errorf("SessionUser(%d) session = %+v, want method %q second factor %v", c.id, sess, c.method, c.second)
		}
		if got.Groups != nil || got.Admin || got.Disabled() {
			t.Errorf("SessionUser(%d) user = %+v", c.id, got)
		}
	}
	list, err := s.UserSessions(ctx, u.ID, now, time.Hour)
	if err != nil || len(list) != 2 {
		t.Fatalf("UserSessions = %+v, %v", list, err)
	}
	i := slices.IndexFunc(list, func(x db.Session) bool { return x.ID == strong })
	if i < 0 || list[i].Method != "password+code" || !list[i].SecondFactor {
		t.Errorf("UserSessions = %+v", list)
	}
}

// testEvents: an event is recorded for an existing account and refused
// for a missing one (ErrNotFound), and goes with the account.
func testEvents(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", "hash")
	admin := newUser(t, s, "root", "hash")
	for _, e := range []db.Event{
		{UserID: u.ID, At: now, Kind: "signed_in", IP: "192.0.2.1", UserAgent: "ua", Detail: "password"},
		{UserID: u.ID, At: now, Kind: "admin_action", Detail: "disable", ActorID: admin.ID},
	} {
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatalf("AddEvent(%+v): %v", e, err)
		}
	}
	if err := s.AddEvent(ctx, db.Event{UserID: u.ID + 1000, At: now, Kind: "signed_in"}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("AddEvent for a missing account: err = %v, want db.ErrNotFound", err)
	}
	if _, err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser with events: %v", err)
	}
}
