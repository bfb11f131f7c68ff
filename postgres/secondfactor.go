package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/db"
)

// Second factors (product.md §10): the same methods and meanings as
// db/secondfactor.go.

// unixOrZero reads a nullable Unix-seconds column.
func unixOrZero(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(*n, 0).UTC()
}

// TOTP returns the account's authenticator state; the zero db.TOTP when it
// has never set one up.
func (s *Store) TOTP(ctx context.Context, userID int64) (db.TOTP, error) {
	var t db.TOTP
	var enabled *int64
	err := s.pool.QueryRow(ctx, `SELECT secret, pending, enabled_at FROM totp_secrets WHERE user_id = $1`, userID).
		Scan(&t.Secret, &t.Pending, &enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.TOTP{}, nil
	}
	if err != nil {
		return db.TOTP{}, fmt.Errorf("postgres: load authenticator: %w", err)
	}
	t.EnabledAt = unixOrZero(enabled)
	return t, nil
}

// SetPendingTOTP keeps a new sealed secret between setup and enable.
func (s *Store) SetPendingTOTP(ctx context.Context, userID int64, sealed []byte) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO totp_secrets (user_id, pending) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending`, userID, sealed)
	if err != nil {
		return fmt.Errorf("postgres: keep pending authenticator: %w", err)
	}
	return nil
}

// EnableTOTP turns the authenticator on and replaces the recovery codes,
// in one transaction.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, sealed []byte, codeHashes []string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO totp_secrets (user_id, secret, pending, enabled_at) VALUES ($1, $2, NULL, $3)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, pending = NULL, enabled_at = excluded.enabled_at`,
			userID, sealed, now.Unix()); err != nil {
			return fmt.Errorf("postgres: enable authenticator: %w", err)
		}
		return replaceRecoveryCodes(ctx, tx, userID, codeHashes)
	})
}

// DisableTOTP turns the authenticator off; the recovery codes go with it
// unless a passkey remains.
func (s *Store) DisableTOTP(ctx context.Context, userID int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM totp_secrets WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("postgres: disable authenticator: %w", err)
		}
		return dropCodesWithoutFactor(ctx, tx, userID)
	})
}

func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID int64, codeHashes []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("postgres: replace recovery codes: %w", err)
	}
	for _, h := range codeHashes {
		if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, h); err != nil {
			return fmt.Errorf("postgres: replace recovery codes: %w", err)
		}
	}
	return nil
}

func dropCodesWithoutFactor(ctx context.Context, tx pgx.Tx, userID int64) error {
	_, err := tx.Exec(ctx, `
		DELETE FROM recovery_codes WHERE user_id = $1
		AND NOT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND secret IS NOT NULL)
		AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)`, userID)
	if err != nil {
		return fmt.Errorf("postgres: drop recovery codes: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes gives the account new recovery codes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return replaceRecoveryCodes(ctx, tx, userID, codeHashes)
	})
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count recovery codes: %w", err)
	}
	return n, nil
}

// UseRecoveryCode uses up one recovery code: db.ErrNotFound when there is
// no such unused code.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, codeHash string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, codeHash)
	if err != nil {
		return fmt.Errorf("postgres: use recovery code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// HasSecondFactor reports whether the account has a second factor.
func (s *Store) HasSecondFactor(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND secret IS NOT NULL)
		    OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)`, userID).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("postgres: second factor: %w", err)
	}
	return has, nil
}

// ResetSecondFactors turns off every second factor of the account.
func (s *Store) ResetSecondFactors(ctx context.Context, userID int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM totp_secrets WHERE user_id = $1`,
			`DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM passkeys WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return fmt.Errorf("postgres: reset second factors: %w", err)
			}
		}
		return nil
	})
}

// AddPasskey stores a new passkey (and, with codeHashes, the account's
// recovery codes) and returns its id; db.ErrDuplicatePasskey when the
// credential is known.
func (s *Store) AddPasskey(ctx context.Context, p db.Passkey, codeHashes []string) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO passkeys (user_id, credential_id, name, credential, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			p.UserID, p.CredentialID, p.Name, p.Credential, p.CreatedAt.Unix()).Scan(&id)
		if uniqueViolation(err) == "passkeys_credential_id_key" {
			return db.ErrDuplicatePasskey
		}
		if err != nil {
			return fmt.Errorf("postgres: add passkey: %w", err)
		}
		if codeHashes != nil {
			return replaceRecoveryCodes(ctx, tx, p.UserID, codeHashes)
		}
		return nil
	})
	return id, err
}

const passkeyColumns = `id, user_id, credential_id, name, credential, created_at, last_used_at`

func scanPasskey(row pgx.Row) (db.Passkey, error) {
	var p db.Passkey
	var created int64
	var used *int64
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &created, &used); err != nil {
		return db.Passkey{}, err
	}
	p.CreatedAt = time.Unix(created, 0).UTC()
	p.LastUsedAt = unixOrZero(used)
	return p, nil
}

// Passkeys lists the account's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID int64) ([]db.Passkey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []db.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list passkeys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyByCredentialID finds a passkey by its credential id, or
// db.ErrNotFound.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (db.Passkey, error) {
	p, err := scanPasskey(s.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Passkey{}, db.ErrNotFound
	}
	if err != nil {
		return db.Passkey{}, fmt.Errorf("postgres: find passkey: %w", err)
	}
	return p, nil
}

// PasskeyUsed records a sign-in with a passkey.
func (s *Store) PasskeyUsed(ctx context.Context, id int64, credential []byte, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3`,
		credential, now.Unix(), id)
	if err != nil {
		return fmt.Errorf("postgres: passkey used: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: passkey used: %w", db.ErrNotFound)
	}
	return nil
}

// DeletePasskey removes one passkey of the account (db.ErrNotFound when
// it is not one of theirs); the recovery codes go when no second factor
// remains.
func (s *Store) DeletePasskey(ctx context.Context, userID, id int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return fmt.Errorf("postgres: delete passkey: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return db.ErrNotFound
		}
		return dropCodesWithoutFactor(ctx, tx, userID)
	})
}

// ClaimOnce records key until expires and reports whether it was new.
func (s *Store) ClaimOnce(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO one_time (key_hash, value, expires_at) VALUES ($1, '', $2)
		ON CONFLICT (key_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
		WHERE one_time.expires_at <= $3`, db.HashToken(key), expires.Unix(), now.Unix())
	if err != nil {
		return false, fmt.Errorf("postgres: claim: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PutOneTime keeps value under key until expires.
func (s *Store) PutOneTime(ctx context.Context, key string, value []byte, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO one_time (key_hash, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		db.HashToken(key), value, expires.Unix())
	if err != nil {
		return fmt.Errorf("postgres: keep challenge: %w", err)
	}
	return nil
}

// TakeOneTime returns and removes the value under key: db.ErrNotFound
// when there is none or it expired.
func (s *Store) TakeOneTime(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var value []byte
	var expires int64
	err := s.pool.QueryRow(ctx, `DELETE FROM one_time WHERE key_hash = $1 RETURNING value, expires_at`,
		db.HashToken(key)).Scan(&value, &expires)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && expires <= now.Unix()) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: take challenge: %w", err)
	}
	return value, nil
}

// DeleteExpiredOneTime removes expired one-time records.
func (s *Store) DeleteExpiredOneTime(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM one_time WHERE expires_at <= $1`, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired one-time records: %w", err)
	}
	return tag.RowsAffected(), nil
}

// MarkSecondFactor records that a session passed a second factor (it
// turned one on itself).
func (s *Store) MarkSecondFactor(ctx context.Context, sessionID int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE user_sessions SET second_factor = TRUE WHERE id = $1`, sessionID); err != nil {
		return fmt.Errorf("postgres: mark second factor: %w", err)
	}
	return nil
}
