package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// synchronous reads the write connection's setting: 2 is FULL, 1 NORMAL.
func synchronous(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.write.GetContext(context.Background(), &n, "PRAGMA synchronous"); err != nil {
		t.Fatal(err)
	}
	return n
}

// Only the additions of durability.go skip the wait for the disk: after
// each, and after one that failed, the one write connection is back in
// FULL for every other commit.
func TestLazyCommitsLeaveTheWriteConnectionFull(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if got := synchronous(t, s); got != 2 {
		t.Fatalf("synchronous = %d at start, want 2 (FULL)", got)
	}
	now := time.Now()
	u, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	if got := synchronous(t, s); got != 2 {
		t.Errorf("synchronous = %d after a sign-up, want 2 (FULL)", got)
	}
	sid, err := s.CreateSession(ctx, NewSession{UserID: u.ID, PasswordHash: "hash", Token: "tok", Now: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SessionStore().Commit("tok", []byte("data"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sid, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLinkToken(ctx, u.ID, TokenVerify, "", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(t, s); got != 2 {
		t.Errorf("synchronous = %d after a sign-in, its data, a touch and a link, want 2 (FULL)", got)
	}
	// Inside, the commit does not wait.
	var inside int
	boom := errors.New("boom")
	err = s.lazily(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &inside, "PRAGMA synchronous"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || inside != 1 {
		t.Errorf("lazily: err %v, synchronous inside %d; want boom and 1 (NORMAL)", err, inside)
	}
	if got := synchronous(t, s); got != 2 {
		t.Errorf("synchronous = %d after a failed lazy transaction, want 2 (FULL)", got)
	}
	// A context that ends first changes nothing either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CreateSession(cctx, NewSession{UserID: u.ID, PasswordHash: "hash", Token: "tok2", Now: now, Expires: now.Add(time.Hour)}); err == nil {
		t.Error("CreateSession with an ended context succeeded")
	}
	if got := synchronous(t, s); got != 2 {
		t.Errorf("synchronous = %d after an ended context, want 2 (FULL)", got)
	}
}

// Under concurrent writers, every transaction sees its own setting: a
// commit that must wait never runs while a quick one left the connection
// in NORMAL.
func TestLazyAndDurableCommitsDoNotMix(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const each = 40
	errs := make(chan error, 2*each)
	check := func(run func(context.Context, func(*sqlx.Tx) error) error, want, i int) {
		errs <- run(ctx, func(tx *sqlx.Tx) error {
			var got int
			if err := tx.GetContext(ctx, &got, "PRAGMA synchronous"); err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("synchronous = %d inside, want %d", got, want)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, x'00')`,
				fmt.Sprintf("t-%d-%d", want, i))
			return err
		})
	}
	for i := range each {
		go check(s.lazily, 1, i)
		go check(s.inTx, 2, i)
	}
	for range 2 * each {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var n int
	if err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM settings WHERE name LIKE 't-%'`); err != nil || n != 2*each {
		t.Errorf("%d rows written, %v; want %d", n, err, 2*each)
	}
	if got := synchronous(t, s); got != 2 {
		t.Errorf("synchronous = %d after, want 2 (FULL)", got)
	}
}
