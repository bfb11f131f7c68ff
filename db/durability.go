package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// What waits for the disk.
//
// The database runs with synchronous=FULL: a commit returns only once the
// write-ahead log is on the disk, so a power cut cannot undo it. That is
// kept for everything that changes, ends or uses up something: a
// revocation, a sign-out, a password or second-factor change, a consumed
// code or link, a counted failure, an admin's change.
//
// A few commits only add something that a power cut may lose without
// harm, and those do not wait (synchronous=NORMAL for that transaction):
// a new account, a new session with its data and its sign-in event, a
// session's last-seen time, an address-verification link. Lost, the
// browser is signed out again or the person signs up again; nothing that
// was taken away comes back. WAL keeps the order: the next commit that
// waits (or a checkpoint) puts everything before it on the disk too, so a
// power cut loses at most the sign-ins since then.
//
// Waiting costs more than the disk's time: a commit runs inside a cgo call,
// which keeps one of the Go scheduler's processors until the runtime takes
// it back, so under a stream of sign-ins the CPUs sat idle 4-6% of the
// time while nothing was hashed (docs/PERFORMANCE.md).

// lazily runs fn in one write transaction whose commit does not wait for
// the disk. Only for the additions listed above.
func (s *Store) lazily(ctx context.Context, fn func(*sqlx.Tx) error) (err error) {
	conn, err := s.write.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The pool's one write connection goes back in FULL, whatever
	// happened: every other commit must still wait. One that cannot be
	// put back is thrown away (the pool opens a new one, FULL from its
	// DSN).
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("db: synchronous back to FULL: %w", rerr))
		}
	}()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return err
	}
	return runTx(ctx, conn, fn)
}

// inTx runs fn in one write transaction that waits for the disk, as every
// commit does unless it is one of the additions above.
func (s *Store) inTx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	return runTx(ctx, s.write, fn)
}

// runTx runs fn in a transaction begun on b (the write pool, or its one
// connection held), and commits it if fn succeeds.
func runTx(ctx context.Context, b interface {
	BeginTxx(context.Context, *sql.TxOptions) (*sqlx.Tx, error)
}, fn func(*sqlx.Tx) error) error {
	tx, err := b.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
