package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// User is one account.
type User struct {
	ID              int64
	Username        string
	Email           string
	PasswordHash    string
	EmailVerifiedAt time.Time // zero until verified
	CreatedAt       time.Time
	Groups          []string  // sorted group names (product.md §11); nil for none
	Admin           bool      // may use the admin page (§13)
	DisabledAt      time.Time // zero while the account may sign in (§13)
}

// EmailVerified reports whether the user confirmed their address.
func (u *User) EmailVerified() bool { return !u.EmailVerifiedAt.IsZero() }

// Disabled reports whether an admin disabled the account.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// SplitGroups reads the groups column: names joined by commas, ” for none.
func SplitGroups(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// JoinGroups is the groups column for a list of names: sorted, so that the
// same set is always the same text.
func JoinGroups(groups []string) string {
	g := slices.Clone(groups)
	slices.Sort(g)
	return strings.Join(slices.Compact(g), ",")
}

// userRow is how a user is stored: times as Unix seconds.
type userRow struct {
	ID              int64         `db:"id"`
	Username        string        `db:"username"`
	Email           string        `db:"email"`
	PasswordHash    string        `db:"password_hash"`
	EmailVerifiedAt sql.NullInt64 `db:"email_verified_at"`
	CreatedAt       int64         `db:"created_at"`
	Groups          string        `db:"groups"`
	Admin           bool          `db:"is_admin"`
	DisabledAt      sql.NullInt64 `db:"disabled_at"`
}

func (r userRow) user() *User {
	u := &User{
		ID:           r.ID,
		Username:     r.Username,
		Email:        r.Email,
		PasswordHash: r.PasswordHash,
		CreatedAt:    time.Unix(r.CreatedAt, 0).UTC(),
		Groups:       SplitGroups(r.Groups),
		Admin:        r.Admin,
	}
	if r.EmailVerifiedAt.Valid {
		u.EmailVerifiedAt = time.Unix(r.EmailVerifiedAt.Int64, 0).UTC()
	}
	if r.DisabledAt.Valid {
		u.DisabledAt = time.Unix(r.DisabledAt.Int64, 0).UTC()
	}
	return u
}

const userColumns = `id, username, email, password_hash, email_verified_at, created_at, groups, is_admin, disabled_at`

// CreateUser inserts a user. username and email must already be normalised
// (lowercase). It returns ErrDuplicateUsername or ErrDuplicateEmail when
// either is taken.
func (s *Store) CreateUser(ctx context.Context, username, email, passwordHash string, now time.Time) (*User, error) {
	var id int64
	// A new account does not wait for the disk (durability.go).
	err := s.lazily(ctx, func(tx *sqlx.Tx) error {
		// The transaction holds the write lock (BEGIN IMMEDIATE), so this
		// check and the insert cannot be split by another sign-up. It
		// tells which of the two unique columns clashed without parsing
		// error messages.
		var clash struct {
			Username bool `db:"username_taken"`
			Email    bool `db:"email_taken"`
		}
		err := tx.GetContext(ctx, &clash, `
			SELECT EXISTS (SELECT 1 FROM users WHERE username = ?) AS username_taken,
			       EXISTS (SELECT 1 FROM users WHERE email = ?)    AS email_taken`,
			username, email)
		switch {
		case err != nil:
			return err
		case clash.Username:
			return ErrDuplicateUsername
		case clash.Email:
			return ErrDuplicateEmail
		}
		// Above every id present and every id a deleted account had
		// (migration 0011): an id is never given twice.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO users (id, username, email, password_hash, created_at)
			VALUES (`+highestID("users")+` + 1, ?, ?, ?, ?)`,
			username, email, passwordHash, now.Unix())
		if isUnique(err) {
			return ErrDuplicateUsername
		}
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &User{ID: id, Username: username, Email: email, PasswordHash: passwordHash, CreatedAt: time.Unix(now.Unix(), 0).UTC()}, nil
}

// HighestID is the highest id a row of table, users or user_sessions, has
// had: one present, or one deleted since migration 0011 (accounts) or
// 0012 (sessions). A copy elsewhere starts new ids above it, so that no
// id is given twice there either.
func (s *Store) HighestID(ctx context.Context, table string) (int64, error) {
	if table != "users" && table != "user_sessions" {
		return 0, fmt.Errorf("db: no id floor for table %q", table)
	}
	var id int64
	err := s.read.GetContext(ctx, &id, `SELECT `+highestID(table))
	return id, err
}

// highestID is the SQL for the highest id a row of table (users or
// user_sessions, a constant) has had: the highest present, or the floor
// its delete trigger keeps (migrations 0011, 0012). New rows take the
// next one, so no id is given twice.
func highestID(table string) string {
	return `max(coalesce((SELECT max(id) FROM ` + table + `), 0),
	           coalesce((SELECT value FROM id_floor WHERE name = '` + table + `'), 0))`
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

// UserByUsername returns the user with that (normalised) username, or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username)
}

// UserByEmail returns the user with that (lowercased) email, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email)
}

// UserByLogin returns the user a sign-in name names: by email address when
// it has an @ (no username can), else by username. login must already be
// trimmed and lowercased. ErrNotFound when there is none.
func (s *Store) UserByLogin(ctx context.Context, login string) (*User, error) {
	if strings.Contains(login, "@") {
		return s.UserByEmail(ctx, login)
	}
	return s.UserByUsername(ctx, login)
}

func (s *Store) getUser(ctx context.Context, query string, arg any) (*User, error) {
	var r userRow
	err := s.read.GetContext(ctx, &r, query, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return r.user(), nil
}

// UsernameTaken and EmailTaken answer the inline checks of the sign-up form.
func (s *Store) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var taken bool
	err := s.read.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)`, username)
	return taken, err
}

// EmailTaken reports whether an account uses that (lowercased) address.
func (s *Store) EmailTaken(ctx context.Context, email string) (bool, error) {
	var taken bool
	err := s.read.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM users WHERE email = ?)`, email)
	return taken, err
}

// UpgradePasswordHash replaces a user's password hash with a new hash of
// the same password (newer parameters), but only while the stored hash is
// still old: a password change that came in between is never undone.
// ErrAccountChanged otherwise.
func (s *Store) UpgradePasswordHash(ctx context.Context, userID int64, old, hash string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`,
		hash, userID, old)
	if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
		return ErrAccountChanged
	} else if err != nil {
		return fmt.Errorf("db: upgrade password hash: %w", err)
	}
	return nil
}

func setPasswordHash(ctx context.Context, x sqlx.ExecerContext, userID int64, hash string) error {
	res, err := x.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	return oneRow(res, err)
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM users`)
	return n, err
}

// oneRow turns "no row affected" into ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetGroups replaces an account's groups (product.md §11); the names must
// already be checked. The users trigger moves the generation, so every
// process's session cache drops what it holds and the next forward-auth
// check sees the new groups. ErrNotFound when there is no such account.
func (s *Store) SetGroups(ctx context.Context, userID int64, groups []string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE users SET groups = ? WHERE id = ?`, JoinGroups(groups), userID)
	if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
		return err
	} else if err != nil {
		return fmt.Errorf("db: set groups: %w", err)
	}
	return nil
}
