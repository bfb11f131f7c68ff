package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

const userColumns = `id, username, email, password_hash, email_verified_at, created_at, groups, is_admin, disabled_at`

// userFields holds a user row as stored (times as Unix seconds) while it
// is scanned; pointers to its fields go to Scan in userColumns' order.
type userFields struct {
	id, createdAt                 int64
	username, email, hash, groups string
	verifiedAt, disabledAt        *int64
	admin                         bool
}

func (f *userFields) dest() []any {
	return []any{&f.id, &f.username, &f.email, &f.hash, &f.verifiedAt, &f.createdAt, &f.groups, &f.admin, &f.disabledAt}
}

func (f *userFields) user() *db.User {
	u := &db.User{
		ID:           f.id,
		Username:     f.username,
		Email:        f.email,
		PasswordHash: f.hash,
		CreatedAt:    time.Unix(f.createdAt, 0).UTC(),
		Groups:       db.SplitGroups(f.groups),
		Admin:        f.admin,
	}
	if f.verifiedAt != nil {
		u.EmailVerifiedAt = time.Unix(*f.verifiedAt, 0).UTC()
	}
	if f.disabledAt != nil {
		u.DisabledAt = time.Unix(*f.disabledAt, 0).UTC()
	}
	return u
}

// CreateUser inserts a user. username and email must already be normalised
// (lowercase). It returns db.ErrDuplicateUsername or db.ErrDuplicateEmail
// when either is taken, told apart by the name of the unique constraint
// that refused the row: the constraints decide, also between concurrent
// sign-ups, so no check-then-insert window exists. When both are taken,
// PostgreSQL checks the username's index first (it was created first), as
// SQLite's store reports the username first.
func (s *Store) CreateUser(ctx context.Context, username, email, passwordHash string, now time.Time) (*db.User, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO users (username, email, password_hash, created_at)
		VALUES ($1, $2, $3, $4)
		RETURNING id`,
		username, email, passwordHash, now.Unix()).Scan(&id)
	if err := duplicate(err); err != nil {
		if errors.Is(err, db.ErrDuplicateUsername) || errors.Is(err, db.ErrDuplicateEmail) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: create user: %w", err)
	}
	return &db.User{ID: id, Username: username, Email: email, PasswordHash: passwordHash, CreatedAt: time.Unix(now.Unix(), 0).UTC()}, nil
}

// UserByID returns the user with that id, or db.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*db.User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByUsername returns the user with that (normalised) username, or db.ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (*db.User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username)
}

// UserByEmail returns the user with that (lowercased) email, or db.ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*db.User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

// UserByLogin returns the user a sign-in name names: by email address when
// it has an @ (no username can), else by username. login must already be
// trimmed and lowercased. db.ErrNotFound when there is none.
func (s *Store) UserByLogin(ctx context.Context, login string) (*db.User, error) {
	if strings.Contains(login, "@") {
		return s.UserByEmail(ctx, login)
	}
	return s.UserByUsername(ctx, login)
}

func (s *Store) getUser(ctx context.Context, query string, arg any) (*db.User, error) {
	var f userFields
	err := s.pool.QueryRow(ctx, query, arg).Scan(f.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: load user: %w", err)
	}
	return f.user(), nil
}

// UsernameTaken answers the inline check of the sign-up form.
func (s *Store) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var taken bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)`, username).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("postgres: check username: %w", err)
	}
	return taken, nil
}

// EmailTaken reports whether an account uses that (lowercased) address.
func (s *Store) EmailTaken(ctx context.Context, email string) (bool, error) {
	var taken bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)`, email).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("postgres: check email: %w", err)
	}
	return taken, nil
}

// UpgradePasswordHash replaces a user's password hash with a new hash of
// the same password (newer parameters), but only while the stored hash is
// still old: a password change that came in between is never undone.
// db.ErrAccountChanged otherwise. A change still in progress holds the
// row: this UPDATE waits for it, then finds the hash changed.
func (s *Store) UpgradePasswordHash(ctx context.Context, userID int64, old, hash string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3`,
		hash, userID, old)
	if err != nil {
		return fmt.Errorf("postgres: upgrade password hash: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrAccountChanged
	}
	return nil
}

// MarkEmailVerified records that the user confirmed their address (a
// verification link, or the admin's `gatehouse user verify`). An address
// already verified keeps its first time. db.ErrNotFound when there is no
// such user.
func (s *Store) MarkEmailVerified(ctx context.Context, userID int64, now time.Time) error {
	return markEmailVerified(ctx, s.pool, userID, now)
}

func markEmailVerified(ctx context.Context, q querier, userID int64, now time.Time) error {
	tag, err := q.Exec(ctx, `
		UPDATE users SET email_verified_at = coalesce(email_verified_at, $1) WHERE id = $2`,
		now.Unix(), userID)
	if err != nil {
		return fmt.Errorf("postgres: mark email verified: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}

// ListUsers returns every account, oldest first, for the admin commands.
func (s *Store) ListUsers(ctx context.Context) ([]*db.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	defer rows.Close()
	var out []*db.User
	for rows.Next() {
		var f userFields
		if err := rows.Scan(f.dest()...); err != nil {
			return nil, fmt.Errorf("postgres: list users: %w", err)
		}
		out = append(out, f.user())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return out, nil
}

// DeleteUser deletes an account and everything that belongs to it, in one
// transaction: its sessions (whose token hashes it returns, so the caller
// can remove their session data explicitly) and, through ON DELETE
// CASCADE, its link tokens. db.ErrNotFound when there is no such user.
//
// The account's row is locked first, so a sign-in that is starting a
// session (CreateSession locks it FOR SHARE) either finishes before, and
// its session is among those returned, or waits and then finds no account.
func (s *Store) DeleteUser(ctx context.Context, userID int64) ([]string, error) {
	var hashes []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, "FOR UPDATE"); err != nil {
			return err
		}
		var err error
		if hashes, err = deleteUserSessions(ctx, tx, userID, 0); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, userID)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: delete account: %w", err)
	}
	return hashes, nil
}

// lockUser locks a user's row in tx with the given lock strength (FOR
// UPDATE, FOR NO KEY UPDATE, FOR SHARE); db.ErrNotFound when there is no
// such user.
func lockUser(ctx context.Context, tx pgx.Tx, userID int64, strength string) error {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 `+strength, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.ErrNotFound
	}
	return err
}

// ChangePassword stores a new password hash and, in the same transaction,
// ends every session of the user except keepSessionID (0 keeps none) and
// voids every unused link (verification, email change, reset): whoever
// knew the old password, or held a session or a link from before, is out
// (product.md §5, §7). It returns the token hashes of the sessions that
// ended; db.ErrNotFound when there is no such user.
//
// The UPDATE comes first: it locks the account's row until COMMIT, so a
// session or a link being created meanwhile (both lock the row too) is
// either committed before it, and then seen and ended by the DELETEs that
// follow (each statement reads afresh under READ COMMITTED), or waits and
// then sees the new hash.
func (s *Store) ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) ([]string, error) {
	var ended []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return db.ErrNotFound
		}
		if ended, err = deleteUserSessions(ctx, tx, userID, keepSessionID); err != nil {
			return err
		}
		return voidLinkTokens(ctx, tx, userID)
	})
	if errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: change password: %w", err)
	}
	return ended, nil
}
