package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

const linkTokenColumns = `id, user_id, kind, new_email, created_at, expires_at, used_at`

// linkTokenFields holds a link_tokens row as stored while it is scanned.
type linkTokenFields struct {
	id, userID, createdAt, expiresAt int64
	kind                             string
	newEmail                         *string
	usedAt                           *int64
}

func (f *linkTokenFields) dest() []any {
	return []any{&f.id, &f.userID, &f.kind, &f.newEmail, &f.createdAt, &f.expiresAt, &f.usedAt}
}

func (f *linkTokenFields) token() *db.LinkToken {
	t := &db.LinkToken{
		ID:        f.id,
		UserID:    f.userID,
		Kind:      db.TokenKind(f.kind),
		CreatedAt: time.Unix(f.createdAt, 0).UTC(),
		ExpiresAt: time.Unix(f.expiresAt, 0).UTC(),
	}
	if f.newEmail != nil {
		t.NewEmail = *f.newEmail
	}
	return t
}

// usable says why a stored token cannot be used now, or nil.
func (f *linkTokenFields) usable(now time.Time, kinds []db.TokenKind) error {
	known := false
	for _, k := range kinds {
		known = known || string(k) == f.kind
	}
	switch {
	case !known:
		return db.ErrNotFound
	case f.usedAt != nil:
		return db.ErrTokenUsed
	case f.expiresAt <= now.Unix():
		return db.ErrTokenExpired
	}
	return nil
}

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
// db.ErrNotFound when the account is gone (deleted while its mail was
// being prepared).
//
// The account's row is locked first (FOR NO KEY UPDATE): two requests for
// the same account then take turns, so the later one voids the earlier
// one's link, and a password change either voids this link or comes
// before it, as with SQLite's single writer.
func (s *Store) CreateLinkToken(ctx context.Context, userID int64, kind db.TokenKind, newEmail string, now, expires time.Time) (string, error) {
	token, err := newToken()
	if err != nil {
		return "", fmt.Errorf("postgres: create link token: %w", err)
	}
	var target *string
	if kind == db.TokenEmailChange {
		target = &newEmail
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, "FOR NO KEY UPDATE"); err != nil {
			return err
		}
		if kind == db.TokenReset || kind == db.TokenEmailChange {
			if err := voidLinkTokens(ctx, tx, userID, kind); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO link_tokens (token_hash, kind, user_id, new_email, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			db.HashToken(token), string(kind), userID, target, now.Unix(), expires.Unix())
		if isForeignKey(err) {
			return db.ErrNotFound
		}
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("postgres: create link token: %w", err)
	}
	return token, nil
}

// voidLinkTokens deletes a user's unused tokens of the kinds given (all
// kinds when none is given), so their links stop working.
func voidLinkTokens(ctx context.Context, q querier, userID int64, kinds ...db.TokenKind) error {
	if len(kinds) == 0 {
		_, err := q.Exec(ctx, `DELETE FROM link_tokens WHERE user_id = $1 AND used_at IS NULL`, userID)
		return err
	}
	_, err := q.Exec(ctx, `
		DELETE FROM link_tokens WHERE user_id = $1 AND kind = ANY ($2) AND used_at IS NULL`,
		userID, kindNames(kinds))
	return err
}

func kindNames(kinds []db.TokenKind) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}

// PeekLinkToken returns the live token of one of kinds without using it
// (the reset page shows its form first). Errors: db.ErrNotFound,
// db.ErrTokenUsed, db.ErrTokenExpired.
func (s *Store) PeekLinkToken(ctx context.Context, token string, now time.Time, kinds ...db.TokenKind) (*db.LinkToken, error) {
	return usableLinkToken(ctx, s.pool, db.HashToken(token), now, kinds)
}

// usableLinkToken looks a token up by its hash and returns it if it can be
// used now, or says why not.
func usableLinkToken(ctx context.Context, q querier, hash string, now time.Time, kinds []db.TokenKind) (*db.LinkToken, error) {
	var f linkTokenFields
	err := q.QueryRow(ctx, `SELECT `+linkTokenColumns+` FROM link_tokens WHERE token_hash = $1`, hash).Scan(f.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: load link token: %w", err)
	}
	if err := f.usable(now, kinds); err != nil {
		return nil, err
	}
	return f.token(), nil
}

// consumeLinkToken marks a live token of one of kinds used, inside tx. The
// conditional UPDATE ... RETURNING is the single-use guarantee: of two
// requests with the same token, the second waits on the row, re-reads it
// once the first commits, finds used_at set and gets no row. When no row
// comes back, a second look tells the caller why.
func consumeLinkToken(ctx context.Context, tx pgx.Tx, token string, now time.Time, kinds ...db.TokenKind) (*db.LinkToken, error) {
	hash := db.HashToken(token)
	var f linkTokenFields
	err := tx.QueryRow(ctx, `
		UPDATE link_tokens SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 AND kind = ANY ($3)
		RETURNING `+linkTokenColumns,
		now.Unix(), hash, kindNames(kinds)).Scan(f.dest()...)
	if err == nil {
		return f.token(), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	if _, err := usableLinkToken(ctx, tx, hash, now, kinds); err != nil {
		return nil, err
	}
	return nil, db.ErrNotFound // not reached: the UPDATE would have matched
}

// isAnswer reports whether err is one of the store's answers (a sentinel
// the callers act on) rather than a failure to be wrapped.
func isAnswer(err error) bool {
	for _, e := range []error{db.ErrNotFound, db.ErrTokenUsed, db.ErrTokenExpired, db.ErrDuplicateEmail} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// UseEmailToken opens a verification or email-change link in one
// transaction: the token is used and its effect applied, or neither. A
// verify token marks the address verified; an email_change token moves
// the account to the new address (verified, since the link reached it).
// db.ErrDuplicateEmail means another account took the new address
// meanwhile; the token then stays unused.
func (s *Store) UseEmailToken(ctx context.Context, token string, now time.Time) (*db.LinkToken, error) {
	var t *db.LinkToken
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if t, err = consumeLinkToken(ctx, tx, token, now, db.TokenVerify, db.TokenEmailChange); err != nil {
			return err
		}
		switch t.Kind {
		case db.TokenVerify:
			return markEmailVerified(ctx, tx, t.UserID, now)
		case db.TokenEmailChange:
			return changeEmail(ctx, tx, t.UserID, t.NewEmail, now)
		}
		return nil
	})
	if isAnswer(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: use link: %w", err)
	}
	return t, nil
}

// changeEmail moves a user to a new (lowercased) address, verified as of
// now; db.ErrDuplicateEmail when another account uses it. It also voids
// the user's unused link tokens: they were mailed to the old address (or
// name another pending change), and must not verify or reset the account
// once it has moved.
func changeEmail(ctx context.Context, tx pgx.Tx, userID int64, newEmail string, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3`,
		newEmail, now.Unix(), userID)
	if uniqueViolation(err) == constraintEmail {
		return db.ErrDuplicateEmail
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return voidLinkTokens(ctx, tx, userID)
}

// ResetPassword opens a reset link in one transaction: the token is used,
// the password hash replaced, the address marked verified (the link
// reached it), every other pending link of the account voided (an email
// change an intruder asked for dies with the old password) and every
// session of the user ended, or nothing happens. It returns the token,
// which names the user, and the token hashes of the sessions that ended.
// The users UPDATE comes before the DELETEs, for the reason ChangePassword
// gives.
func (s *Store) ResetPassword(ctx context.Context, token, passwordHash string, now time.Time) (*db.LinkToken, []string, error) {
	var t *db.LinkToken
	var ended []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if t, err = consumeLinkToken(ctx, tx, token, now, db.TokenReset); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			UPDATE users SET password_hash = $1, email_verified_at = coalesce(email_verified_at, $2)
			WHERE id = $3`, passwordHash, now.Unix(), t.UserID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return db.ErrNotFound
		}
		if err := voidLinkTokens(ctx, tx, t.UserID); err != nil {
			return err
		}
		ended, err = deleteUserSessions(ctx, tx, t.UserID, 0)
		return err
	})
	if isAnswer(err) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: reset password: %w", err)
	}
	return t, ended, nil
}

// DeleteExpiredTokens removes tokens that expired before the given time;
// the caller keeps them a while past expiry so a late click is told
// "expired" or "already used" rather than "not valid".
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM link_tokens WHERE expires_at < $1`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired links: %w", err)
	}
	return tag.RowsAffected(), nil
}
