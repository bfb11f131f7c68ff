package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// TokenKind says what a link in a mail does.
type TokenKind string

// The kinds of link tokens.
const (
	TokenVerify      TokenKind = "verify"       // confirms the account's address
	TokenReset       TokenKind = "reset"        // sets a new password
	TokenEmailChange TokenKind = "email_change" // moves the account to new_email
)

// Why a link token cannot be used. An unknown token (never issued, mistyped,
// voided by a newer one, or of another kind) is ErrNotFound.
var (
	ErrTokenUsed    = errors.New("db: link already used")
	ErrTokenExpired = errors.New("db: link expired")
)

// LinkToken is a stored link token (never the token itself).
type LinkToken struct {
	ID        int64
	UserID    int64
	Kind      TokenKind
	NewEmail  string // email_change only
	CreatedAt time.Time
	ExpiresAt time.Time
}

type linkTokenRow struct {
	ID        int64          `db:"id"`
	UserID    int64          `db:"user_id"`
	Kind      string         `db:"kind"`
	NewEmail  sql.NullString `db:"new_email"`
	CreatedAt int64          `db:"created_at"`
	ExpiresAt int64          `db:"expires_at"`
	UsedAt    sql.NullInt64  `db:"used_at"`
}

func (r linkTokenRow) token() *LinkToken {
	return &LinkToken{
		ID:        r.ID,
		UserID:    r.UserID,
		Kind:      TokenKind(r.Kind),
		NewEmail:  r.NewEmail.String,
		CreatedAt: time.Unix(r.CreatedAt, 0).UTC(),
		ExpiresAt: time.Unix(r.ExpiresAt, 0).UTC(),
	}
}

const linkTokenColumns = `id, user_id, kind, new_email, created_at, expires_at, used_at`

// newToken returns 32 random bytes as unpadded base64url: 43 characters
// that survive any URL or mail client untouched.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateLinkToken stores a new token of kind for userID, valid until
// expires, and returns the token itself: this is the only time it exists
// outside the mail. A new reset or email-change token voids the user's
// older unused ones of that kind, so only the latest link works.
// newEmail is the target address of an email change and ignored otherwise.
func (s *Store) CreateLinkToken(ctx context.Context, userID int64, kind TokenKind, newEmail string, now, expires time.Time) (string, error) {
	token, err := newToken()
	if err != nil {
		return "", err
	}
	var target sql.NullString
	if kind == TokenEmailChange {
		target = sql.NullString{String: newEmail, Valid: true}
	}
	// A verification link only adds: it does not wait for the disk
	// (durability.go). A new reset or email-change link voids the older
	// ones, and that waits.
	run := s.inTx
	if kind == TokenVerify {
		run = s.lazily
	}
	err = run(ctx, func(tx *sqlx.Tx) error {
		if kind == TokenReset || kind == TokenEmailChange {
			if err := voidLinkTokens(ctx, tx, userID, kind); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO link_tokens (token_hash, kind, user_id, new_email, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			HashToken(token), string(kind), userID, target, now.Unix(), expires.Unix())
		if isForeignKey(err) {
			// The account was deleted while its mail was being prepared.
			return ErrNotFound
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("db: create link token: %w", err)
	}
	return token, nil
}

// voidLinkTokens deletes a user's unused tokens of the kinds given (all
// kinds when none is given), so their links stop working.
func voidLinkTokens(ctx context.Context, x sqlx.ExecerContext, userID int64, kinds ...TokenKind) error {
	if len(kinds) == 0 {
		_, err := x.ExecContext(ctx, `DELETE FROM link_tokens WHERE user_id = ? AND used_at IS NULL`, userID)
		return err
	}
	for _, k := range kinds {
		_, err := x.ExecContext(ctx, `
			DELETE FROM link_tokens WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			userID, string(k))
		if err != nil {
			return err
		}
	}
	return nil
}

// PeekLinkToken returns the live token of one of kinds without using it
// (the reset page shows its form first). Errors: ErrNotFound, ErrTokenUsed,
// ErrTokenExpired.
func (s *Store) PeekLinkToken(ctx context.Context, token string, now time.Time, kinds ...TokenKind) (*LinkToken, error) {
	return usableLinkToken(ctx, s.read, HashToken(token), now, kinds)
}

// usableLinkToken looks a token up by its hash and returns it if it can be
// used now, or says why not.
func usableLinkToken(ctx context.Context, q sqlx.QueryerContext, hash string, now time.Time, kinds []TokenKind) (*LinkToken, error) {
	var r linkTokenRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+linkTokenColumns+` FROM link_tokens WHERE token_hash = ?`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := r.usable(now, kinds); err != nil {
		return nil, err
	}
	return r.token(), nil
}

// usable says why a stored token cannot be used now, or nil.
func (r linkTokenRow) usable(now time.Time, kinds []TokenKind) error {
	known := false
	for _, k := range kinds {
		known = known || string(k) == r.Kind
	}
	switch {
	case !known:
		return ErrNotFound
	case r.UsedAt.Valid:
		return ErrTokenUsed
	case r.ExpiresAt <= now.Unix():
		return ErrTokenExpired
	}
	return nil
}

// consumeLinkToken marks a live token of one of kinds used, inside tx. The
// conditional UPDATE ... RETURNING is the single-use guarantee: of two
// requests with the same token, only one gets the row back. When no row
// comes back, a second look tells the caller why.
func consumeLinkToken(ctx context.Context, tx *sqlx.Tx, token string, now time.Time, kinds ...TokenKind) (*LinkToken, error) {
	hash := HashToken(token)
	args := []any{now.Unix(), hash, now.Unix()}
	marks := make([]string, len(kinds))
	for i, k := range kinds {
		marks[i] = "?"
		args = append(args, string(k))
	}
	var r linkTokenRow
	err := tx.GetContext(ctx, &r, `
		UPDATE link_tokens SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
		  AND kind IN (`+strings.Join(marks, ", ")+`)
		RETURNING `+linkTokenColumns, args...)
	if err == nil {
		return r.token(), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if _, err := usableLinkToken(ctx, tx, hash, now, kinds); err != nil {
		return nil, err
	}
	return nil, ErrNotFound // not reached: the UPDATE would have matched
}

// UseEmailToken opens a verification or email-change link in one
// transaction: the token is used and its effect applied, or neither. A
// verify token marks the address verified; an email_change token moves
// the account to the new address (verified, since the link reached it).
// ErrDuplicateEmail means another account took the new address meanwhile;
// the token then stays unused.
func (s *Store) UseEmailToken(ctx context.Context, token string, now time.Time) (*LinkToken, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := consumeLinkToken(ctx, tx, token, now, TokenVerify, TokenEmailChange)
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case TokenVerify:
		err = markEmailVerified(ctx, tx, t.UserID, now)
	case TokenEmailChange:
		err = changeEmail(ctx, tx, t.UserID, t.NewEmail, now)
	}
	if err != nil {
		return nil, err
	}
	return t, tx.Commit()
}

// ResetPassword opens a reset link in one transaction: the token is used,
// the password hash replaced, the address marked verified (the link
// reached it), every other pending link of the account voided (an email
// change an intruder asked for dies with the old password) and every
// session of the user ended, or nothing happens. It returns the token,
// which names the user, and the token hashes of the sessions that ended.
func (s *Store) ResetPassword(ctx context.Context, token, passwordHash string, now time.Time) (*LinkToken, []string, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("db: reset password: %w", err)
	}
	defer tx.Rollback()
	t, err := consumeLinkToken(ctx, tx, token, now, TokenReset)
	if err != nil {
		return nil, nil, err
	}
	// The link reached the address, so the address is verified as well.
	res, err := tx.ExecContext(ctx, `
		UPDATE users SET password_hash = ?, email_verified_at = coalesce(email_verified_at, ?)
		WHERE id = ?`, passwordHash, now.Unix(), t.UserID)
	if err := oneRow(res, err); err != nil {
		return nil, nil, err
	}
	if err := voidLinkTokens(ctx, tx, t.UserID); err != nil {
		return nil, nil, fmt.Errorf("db: reset password: %w", err)
	}
	ended, err := deleteUserSessions(ctx, tx, t.UserID, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("db: reset password: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("db: reset password: %w", err)
	}
	s.cache.dropData(ended...)
	return t, ended, nil
}

// MarkEmailVerified records that the user confirmed their address (a
// verification link, or the admin's `gatehouse user verify`). An address
// already verified keeps its first time.
func (s *Store) MarkEmailVerified(ctx context.Context, userID int64, now time.Time) error {
	return markEmailVerified(ctx, s.write, userID, now)
}

func markEmailVerified(ctx context.Context, x sqlx.ExecerContext, userID int64, now time.Time) error {
	res, err := x.ExecContext(ctx, `
		UPDATE users SET email_verified_at = coalesce(email_verified_at, ?) WHERE id = ?`,
		now.Unix(), userID)
	return oneRow(res, err)
}

// changeEmail moves a user to a new (lowercased) address, verified as of
// now; ErrDuplicateEmail when another account uses it. It also voids the
// user's unused link tokens: they were mailed to the old address (or name
// another pending change), and must not verify or reset the account once
// it has moved.
func changeEmail(ctx context.Context, tx *sqlx.Tx, userID int64, newEmail string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, email_verified_at = ? WHERE id = ?`,
		newEmail, now.Unix(), userID)
	if isUnique(err) {
		return ErrDuplicateEmail
	}
	if err := oneRow(res, err); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM link_tokens WHERE user_id = ? AND used_at IS NULL`, userID)
	return err
}

// DeleteExpiredTokens removes tokens that expired before the given time;
// the caller keeps them a while past expiry so a late click is told
// "expired" or "already used" rather than "not valid".
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM link_tokens WHERE expires_at < ?`, before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
