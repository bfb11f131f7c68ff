package storetest

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"gatehouse/db"
)

// A session is found, touched, listed and ended by its id and token.
func testSessionLifecycle(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	first := startSession(t, s, alice, "tok-1", now, "192.0.2.1")
	second := startSession(t, s, alice, "tok-2", now.Add(time.Minute), "2001:db8::2")
	bobSid := startSession(t, s, bob, "tok-bob", now, "192.0.2.9")

	u, sess, err := s.SessionUser(ctx, first, "tok-1")
	if err != nil || u.ID != alice.ID || u.Username != "alice" || sess.ID != first || sess.UserID != alice.ID ||
		!sess.LastSeenAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("SessionUser = %+v, %+v, %v", u, sess, err)
	}
	for _, c := range []struct {
		id    int64
		token string
	}{{first, "tok-2"}, {first, "tok-bob"}, {first + second + bobSid, "tok-1"}, {first, ""}} {
		if _, _, err := s.SessionUser(ctx, c.id, c.token); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("SessionUser(%d, %q) = %v, want ErrNotFound", c.id, c.token, err)
		}
	}

	if err := s.TouchSession(ctx, first, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, sess, _ := s.SessionUser(ctx, first, "tok-1"); !sess.LastSeenAt.Equal(now.Add(2 * time.Minute)) {
		t.Errorf("last seen %v after TouchSession", sess.LastSeenAt)
	}
	// Newest first by last-seen time, with every column.
	list, err := s.UserSessions(ctx, alice.ID, now.Add(3*time.Minute), time.Hour)
	if err != nil || len(list) != 2 {
		t.Fatalf("UserSessions = %+v, %v", list, err)
	}
	want := db.Session{ID: first, UserID: alice.ID, CreatedAt: now, LastSeenAt: now.Add(2 * time.Minute),
		ExpiresAt: now.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua", Method: "password"}
	if list[0] != want || list[1].ID != second || list[1].IP != "2001:db8::2" {
		t.Errorf("UserSessions = %+v, want %+v first, then %d", list, want, second)
	}
	// Idle too long, or past the absolute deadline: not listed.
	if list, _ := s.UserSessions(ctx, alice.ID, now.Add(3*time.Minute), 90*time.Second); len(list) != 1 || list[0].ID != first {
		t.Errorf("with a short idle timeout: %+v, want only %d", list, first)
	}
	if list, _ := s.UserSessions(ctx, alice.ID, now.Add(time.Hour), 24*time.Hour); len(list) != 1 || list[0].ID != second {
		t.Errorf("at the first's deadline: %+v, want only %d", list, second)
	}
	if list, err := s.UserSessions(ctx, alice.ID+1000, now, time.Hour); err != nil || len(list) != 0 {
		t.Errorf("sessions of nobody: %+v, %v", list, err)
	}

	// One user cannot end another's session.
	if _, err := s.DeleteUserSession(ctx, bob.ID, first); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("bob ends alice's session: %v, want ErrNotFound", err)
	}
	hash, err := s.DeleteUserSession(ctx, alice.ID, first)
	if err != nil || hash != db.HashToken("tok-1") {
		t.Errorf("DeleteUserSession = %q, %v; want the hash of tok-1", hash, err)
	}
	if _, _, err := s.SessionUser(ctx, first, "tok-1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("ended session: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteUserSession(ctx, alice.ID, first); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("ending it again: %v, want ErrNotFound", err)
	}
	if err := s.RekeySession(ctx, first, "tok-new"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("rekey an ended session: %v, want ErrNotFound", err)
	}
	// Sign out everywhere but here, then everywhere.
	third := startSession(t, s, alice, "tok-3", now, "192.0.2.3")
	ended, err := s.DeleteUserSessions(ctx, alice.ID, third)
	if err != nil || len(ended) != 1 || ended[0] != db.HashToken("tok-2") {
		t.Errorf("DeleteUserSessions(keep %d) = %v, %v", third, ended, err)
	}
	ended, err = s.DeleteUserSessions(ctx, alice.ID, 0)
	if err != nil || len(ended) != 1 || ended[0] != db.HashToken("tok-3") {
		t.Errorf("DeleteUserSessions(keep none) = %v, %v", ended, err)
	}
	if ended, err := s.DeleteUserSessions(ctx, alice.ID, 0); err != nil || len(ended) != 0 {
		t.Errorf("nothing left to end: %v, %v", ended, err)
	}
	if _, _, err := s.SessionUser(ctx, bobSid, "tok-bob"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
}

// product.md §5: a password change ends every session signed in with the
// old password, including sign-ins still being checked. A session whose
// sign-in read an older hash (or an account since deleted) does not start.
func testSessionStartsOnlyWithTheCheckedPassword(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "old-hash")
	if _, err := s.ChangePassword(ctx, alice.ID, "new-hash", 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateSession(ctx, db.NewSession{UserID: alice.ID, PasswordHash: "old-hash", Token: "t1", Now: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("session with the old password's hash: %v, want ErrAccountChanged", err)
	}
	if list, _ := s.UserSessions(ctx, alice.ID, now, time.Hour); len(list) != 0 {
		t.Errorf("sessions %+v, want none", list)
	}
	_, err = s.CreateSession(ctx, db.NewSession{UserID: alice.ID + 1000, PasswordHash: "x", Token: "t2", Now: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, db.ErrAccountChanged) {
		t.Errorf("session of a missing account: %v, want ErrAccountChanged", err)
	}
}

// A sign-in's event is stored with its session, in one transaction: both
// or neither (product.md §13 lists every sign-in that started, and only
// those).
func testSessionStartsWithItsEvent(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "hash")
	ev := db.Event{At: now, Kind: "signed_in", Detail: "password", IP: "192.0.2.7", UserAgent: "ua-7"}
	sid, err := s.CreateSession(ctx, db.NewSession{UserID: alice.ID, PasswordHash: "hash", Token: "t1", Now: now,
		Expires: now.Add(time.Hour), IP: ev.IP, UserAgent: ev.UserAgent, Event: &ev})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := s.UserSessions(ctx, alice.ID, now, time.Hour); len(list) != 1 || list[0].ID != sid {
		t.Errorf("sessions %+v, want the one started", list)
	}
	got, err := s.UserEvents(ctx, alice.ID, now.Add(-time.Hour), 10, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("events %+v, %v; want the sign-in's", got, err)
	}
	want := ev
	want.ID, want.UserID = got[0].ID, alice.ID
	if got[0] != want {
		t.Errorf("event %+v, want %+v", got[0], want)
	}
	// A sign-in that starts nothing records nothing.
	_, err = s.CreateSession(ctx, db.NewSession{UserID: alice.ID, PasswordHash: "an older hash", Token: "t2", Now: now,
		Expires: now.Add(time.Hour), Event: &ev})
	if !errors.Is(err, db.ErrAccountChanged) {
		t.Fatalf("session with another hash: %v, want ErrAccountChanged", err)
	}
	if got, _ := s.UserEvents(ctx, alice.ID, now.Add(-time.Hour), 10, 0); len(got) != 1 {
		t.Errorf("events %+v after a sign-in that started nothing, want only the first", got)
	}
}

// The same, with the change and the sign-in racing: whichever wins, no
// session signed in with the old password is left.
func testPasswordChangeRacesSignIn(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "hash-0")
	for i := range 25 {
		old, next := "hash-"+strconv.Itoa(i), "hash-"+strconv.Itoa(i+1)
		token := "race-" + strconv.Itoa(i)
		var sid int64
		var startErr, changeErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			sid, startErr = s.CreateSession(ctx, db.NewSession{UserID: alice.ID, PasswordHash: old, Token: token,
				Now: now, Expires: now.Add(time.Hour)})
		})
		wg.Go(func() { _, changeErr = s.ChangePassword(ctx, alice.ID, next, 0) })
		wg.Wait()
		if changeErr != nil {
			t.Fatalf("round %d: ChangePassword: %v", i, changeErr)
		}
		switch {
		case errors.Is(startErr, db.ErrAccountChanged):
		case startErr != nil:
			t.Fatalf("round %d: CreateSession: %v", i, startErr)
		default:
			if _, _, err := s.SessionUser(ctx, sid, token); !errors.Is(err, db.ErrNotFound) {
				t.Fatalf("round %d: a session signed in with the old password outlived the change (%v)", i, err)
			}
		}
	}
}

// product.md §5: a dead token never comes back. After a renewal the
// session is found only under its new token, even when the old token's
// session data is saved again, and the renewal keeps the absolute deadline.
func testReplacedTokenStaysDead(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	sid := startSession(t, s, alice, "old-token", now, "192.0.2.1")
	if err := s.RekeySession(ctx, sid, "new-token"); err != nil {
		t.Fatal(err)
	}
	// A request that began before the renewal saves under the old token.
	if err := s.Sessions().Commit("old-token", []byte("sid"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, sid, "old-token"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("old token after renewal: %v, want ErrNotFound", err)
	}
	_, sess, err := s.SessionUser(ctx, sid, "new-token")
	if err != nil {
		t.Fatalf("new token: %v", err)
	}
	if !sess.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("deadline %v after renewal, want the original %v", sess.ExpiresAt, now.Add(time.Hour))
	}
}

// The scs store keeps data by token (hashed inside), forgets it at its
// expiry, and removes data by hash for the account rules. Its plain
// methods and, when it has them, its context-taking ones (which scs
// prefers) agree.
func testSessionData(t *testing.T, s Store) {
	ctx := t.Context()
	store := s.Sessions()
	type op struct {
		find   func(string) ([]byte, bool, error)
		commit func(string, []byte, time.Time) error
		delete func(string) error
	}
	ops := map[string]op{"plain": {store.Find, store.Commit, store.Delete}}
	if cs, ok := store.(scs.CtxStore); ok {
		ops["ctx"] = op{
			func(tok string) ([]byte, bool, error) { return cs.FindCtx(ctx, tok) },
			func(tok string, b []byte, exp time.Time) error { return cs.CommitCtx(ctx, tok, b, exp) },
			func(tok string) error { return cs.DeleteCtx(ctx, tok) },
		}
	}
	for name, o := range ops {
		tok := "data-" + name
		if _, found, err := o.find(tok); err != nil || found {
			t.Errorf("%s: Find before Commit = %v, %v", name, found, err)
		}
		if err := o.commit(tok, []byte("one"), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("%s: Commit: %v", name, err)
		}
		if err := o.commit(tok, []byte("two"), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("%s: Commit again: %v", name, err)
		}
		if b, found, err := o.find(tok); err != nil || !found || string(b) != "two" {
			t.Errorf("%s: Find = %q, %v, %v; want the last commit", name, b, found, err)
		}
		// The stored key is the hash; the hash is no token.
		if _, found, _ := o.find(db.HashToken(tok)); found {
			t.Errorf("%s: the stored hash works as a token", name)
		}
		if err := o.delete(tok); err != nil {
			t.Fatalf("%s: Delete: %v", name, err)
		}
		if _, found, _ := o.find(tok); found {
			t.Errorf("%s: found after Delete", name)
		}
	}
	// Data past its expiry is not found.
	if err := store.Commit("stale", []byte("x"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := store.Find("stale"); found {
		t.Error("expired data found")
	}
	// DeleteHashed removes what it names and nothing else.
	for _, tok := range []string{"a", "b", "c"} {
		if err := store.Commit(tok, []byte(tok), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.DeleteHashed(ctx, []string{db.HashToken("a"), db.HashToken("c"), db.HashToken("never")}); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteHashed(ctx, nil); err != nil {
		t.Errorf("DeleteHashed(nil): %v", err)
	}
	for tok, want := range map[string]bool{"a": false, "b": true, "c": false} {
		if _, found, _ := store.Find(tok); found != want {
			t.Errorf("after DeleteHashed, %s found = %v, want %v", tok, found, want)
		}
	}
}

// Ending sessions through the account rules' path (the store ends them,
// the session store drops their data by hash) leaves no data behind.
func testEndedSessionsLoseTheirData(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	store := s.Sessions()
	for _, tok := range []string{"tok-a", "tok-b"} {
		if err := store.Commit(tok, []byte("data"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		startSession(t, s, alice, tok, now, "127.0.0.1")
	}
	ended, err := s.DeleteUserSessions(ctx, alice.ID, 0)
	if err != nil || len(ended) != 2 {
		t.Fatalf("DeleteUserSessions = %v, %v", ended, err)
	}
	if err := store.DeleteHashed(ctx, ended); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"tok-a", "tok-b"} {
		if _, found, _ := store.Find(tok); found {
			t.Errorf("data of %s survived its session", tok)
		}
	}
}

// Cleanup removes sessions past their deadline or idle too long, and scs
// data past its expiry; live ones stay.
func testDeleteExpiredSessions(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	live := startSession(t, s, alice, "live", now, "192.0.2.1")
	startSession(t, s, alice, "past-deadline", now.Add(-time.Hour), "192.0.2.2")
	startSession(t, s, alice, "idle", now.Add(-50*time.Minute), "192.0.2.3")
	n, err := s.DeleteExpiredSessions(ctx, now, 30*time.Minute)
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	if list, _ := s.UserSessions(ctx, alice.ID, now, 24*time.Hour); len(list) != 1 || list[0].ID != live {
		t.Errorf("sessions left %+v, want only %d", list, live)
	}

	// scs data: the database's own clock decides what Find returns, so
	// these expiries are real times.
	store := s.Sessions()
	wall := time.Now()
	if err := store.Commit("notice-old", []byte("x"), wall.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := store.Commit("notice-new", []byte("x"), wall.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SessionDataRows(ctx); err != nil || n != 2 {
		t.Fatalf("session data rows = %d, %v; want 2", n, err)
	}
	if _, err := s.DeleteExpiredSessions(ctx, wall, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SessionDataRows(ctx); err != nil || n != 1 {
		t.Errorf("session data rows after cleanup = %d, %v; want 1", n, err)
	}
	if _, found, _ := store.Find("notice-new"); !found {
		t.Error("live session data removed by cleanup")
	}
}

// product.md §5: a session idle for less than the idle timeout lives on,
// whatever the fraction of a second it was last seen at: last_seen_at is
// in whole seconds, and a truncated one ended a session signed in at
// x.85 s up to a second early (with a 3 s timeout, 2.9 s after sign-in).
// Late by less than a second, it ends. loadUser's own check (now minus
// LastSeenAt against the timeout) is done here on the stored time.
func testIdleNeverEndsEarly(t *testing.T, s Store) {
	ctx := t.Context()
	const idle = 3 * time.Second
	alice := newUser(t, s, "alice", "h")
	seen := now.Add(850 * time.Millisecond)
	id := startSession(t, s, alice, "tok", seen, "192.0.2.1")
	check := func(step string, seen time.Time) {
		t.Helper()
		_, sess, err := s.SessionUser(ctx, id, "tok")
		if err != nil {
			t.Fatalf("%s: SessionUser: %v", step, err)
		}
		if sess.LastSeenAt.Before(seen) {
			t.Errorf("%s: last seen stored as %s, before the request at %s", step, sess.LastSeenAt.Format(time.StampMilli), seen.Format(time.StampMilli))
		}
		// Just before the idle time has really passed: alive everywhere.
		at := seen.Add(idle - 100*time.Millisecond)
		if at.Sub(sess.LastSeenAt) >= idle {
			t.Errorf("%s: at %s the idle check ends a session last seen at %s", step, at.Format(time.StampMilli), seen.Format(time.StampMilli))
		}
		if n, err := s.CountActiveSessions(ctx, at, idle); err != nil || n != 1 {
			t.Errorf("%s: CountActiveSessions = %d, %v; want 1", step, n, err)
		}
		if list, err := s.UserSessions(ctx, alice.ID, at, idle); err != nil || len(list) != 1 {
			t.Errorf("%s: UserSessions = %d, %v; want 1", step, len(list), err)
		}
		if n, err := s.DeleteExpiredSessions(ctx, at, idle); err != nil || n != 0 {
			t.Errorf("%s: DeleteExpiredSessions removed %d, %v; want 0", step, n, err)
		}
	}
	check("after sign-in", seen)
	seen = seen.Add(1500 * time.Millisecond)
	if err := s.TouchSession(ctx, id, seen); err != nil {
		t.Fatal(err)
	}
	check("after a touch", seen)
	// A second after the idle time has passed, it is over.
	if n, err := s.DeleteExpiredSessions(ctx, seen.Add(idle+time.Second), idle); err != nil || n != 1 {
		t.Errorf("a second past the idle time: DeleteExpiredSessions removed %d, %v; want 1", n, err)
	}
}

// product.md §15: the active-sessions gauge counts live sessions only:
// not past their deadline, not idle too long, not ended.
func testCountActiveSessions(t *testing.T, s Store) {
	ctx := t.Context()
	if n, err := s.CountActiveSessions(ctx, now, 30*time.Minute); err != nil || n != 0 {
		t.Fatalf("empty store: %d, %v; want 0", n, err)
	}
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	startSession(t, s, alice, "live-a", now, "192.0.2.1")
	startSession(t, s, bob, "live-b", now.Add(-10*time.Minute), "192.0.2.2")
	startSession(t, s, alice, "past-deadline", now.Add(-time.Hour), "192.0.2.3") // expires exactly now
	startSession(t, s, bob, "idle", now.Add(-40*time.Minute), "192.0.2.4")
	ended := startSession(t, s, bob, "ended", now, "192.0.2.5")
	if _, err := s.DeleteUserSession(ctx, bob.ID, ended); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountActiveSessions(ctx, now, 30*time.Minute); err != nil || n != 2 {
		t.Errorf("CountActiveSessions = %d, %v; want 2", n, err)
	}
}

// product.md §5, §7: the stored data holds no session token and no link
// token, only their SHA-256: a copy signs nobody in and opens no link.
func testNoRawTokenStored(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	store := s.Sessions()
	// Tokens as scs makes them: 32 random bytes, base64url.
	first, renewed := "k9Vb3XyQm2Lr8TzWq4Hn6Jp1Fs5Dg7Ca0Ee2Ii4Oo6U", "Zx1Cv2Bn3Mm4Ll5Kk6Jj7Hh8Gg9Ff0Dd1Ss2Aa3Qq4W"
	sid := startSession(t, s, alice, first, now, "192.0.2.1")
	if err := store.Commit(first, []byte("session data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RekeySession(ctx, sid, renewed); err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(renewed, []byte("session data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, kind := range []db.TokenKind{db.TokenVerify, db.TokenReset, db.TokenEmailChange} {
		tok, err := s.CreateLinkToken(ctx, alice.ID, kind, "alice@new.example", now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 {
			t.Errorf("link token %q has %d characters, want 43 (32 bytes, base64url)", tok, len(tok))
		}
		links = append(links, tok)
	}
	dump, err := s.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The dump is real: the hashes are in it.
	for _, tok := range append([]string{renewed}, links...) {
		if !bytes.Contains(dump, []byte(db.HashToken(tok))) {
			t.Fatalf("the dump lacks the hash of %q: it does not show the stored data", tok)
		}
	}
	for _, tok := range append([]string{first, renewed}, links...) {
		if bytes.Contains(dump, []byte(tok)) {
			t.Errorf("token %q is stored as it is", tok)
		}
	}
}

// A session's id is never given to another session, even once the newest
// one has ended (SQLite gives a row the highest id present plus one): the
// id names a session to the OpenID Connect prompt=login check and to the
// per-session count of wrong current passwords (product.md §6, §12).
func testSessionIDsNeverGivenTwice(t *testing.T, s Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice", "h")
	bob := newUser(t, s, "bob", "h")
	first := startSession(t, s, alice, "tok-1", now, "192.0.2.1")
	newest := startSession(t, s, alice, "tok-2", now, "192.0.2.1")
	if _, err := s.DeleteUserSession(ctx, alice.ID, newest); err != nil {
		t.Fatal(err)
	}
	if next := startSession(t, s, bob, "tok-3", now, "192.0.2.2"); next <= newest {
		t.Fatalf("sessions %d and %d, the newest ended, then bob's got %d: an id given twice", first, newest, next)
	}
}
