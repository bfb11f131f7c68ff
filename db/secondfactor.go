package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TOTP is an account's authenticator app as stored: both secrets sealed
// (the account rules seal and open them; storage never sees one in clear).
type TOTP struct {
	Secret    []byte    // sealed; nil while the authenticator is off
	Pending   []byte    // sealed; nil when no setup is waiting
	EnabledAt time.Time // zero while off
}

// On reports whether the authenticator is on.
func (t TOTP) On() bool { return len(t.Secret) > 0 }

// Passkey is one WebAuthn credential of an account.
type Passkey struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	Name         string
	Credential   []byte // the WebAuthn library's JSON form of the credential
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero until first used
}

// unixOrZero reads a nullable Unix-seconds column.
func unixOrZero(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Int64, 0).UTC()
}

// TOTP returns the account's authenticator state; the zero TOTP when it
// has never set one up.
func (s *Store) TOTP(ctx context.Context, userID int64) (TOTP, error) {
	var t TOTP
	var enabled sql.NullInt64
	err := s.read.QueryRowContext(ctx, `
		SELECT secret, pending, enabled_at FROM totp_secrets WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Pending, &enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTP{}, nil
	}
	if err != nil {
		return TOTP{}, fmt.Errorf("db: load authenticator: %w", err)
	}
	t.EnabledAt = unixOrZero(enabled)
	return t, nil
}

// SetPendingTOTP keeps a new sealed secret between setup and enable,
// replacing any earlier one; an authenticator that is on stays on.
func (s *Store) SetPendingTOTP(ctx context.Context, userID int64, sealed []byte) error {
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO totp_secrets (user_id, pending) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending`, userID, sealed)
	if err != nil {
		return fmt.Errorf("db: keep pending authenticator: %w", err)
	}
	return nil
}

// EnableTOTP turns the authenticator on with a sealed secret (the pending
// one, which it clears) and replaces the recovery codes with codeHashes,
// in one transaction.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, sealed []byte, codeHashes []string, now time.Time) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: enable authenticator: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO totp_secrets (user_id, secret, pending, enabled_at) VALUES (?, ?, NULL, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, pending = NULL, enabled_at = excluded.enabled_at`,
		userID, sealed, now.Unix()); err != nil {
		return fmt.Errorf("db: enable authenticator: %w", err)
	}
	if err := replaceRecoveryCodes(ctx, tx, userID, codeHashes); err != nil {
		return err
	}
	return tx.Commit()
}

// DisableTOTP turns the authenticator off (and drops a pending setup).
// The recovery codes go with it unless a passkey remains (product.md §10).
func (s *Store) DisableTOTP(ctx context.Context, userID int64) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: disable authenticator: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM totp_secrets WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("db: disable authenticator: %w", err)
	}
	if err := dropCodesWithoutFactor(ctx, tx, userID); err != nil {
		return err
	}
	return tx.Commit()
}

// execer is a transaction or a pool.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// replaceRecoveryCodes puts codeHashes in place of the account's codes.
func replaceRecoveryCodes(ctx context.Context, tx execer, userID int64, codeHashes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("db: replace recovery codes: %w", err)
	}
	for _, h := range codeHashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, h); err != nil {
			return fmt.Errorf("db: replace recovery codes: %w", err)
		}
	}
	return nil
}

// dropCodesWithoutFactor deletes the recovery codes of an account that has
// no second factor left: they end with the last one.
func dropCodesWithoutFactor(ctx context.Context, tx execer, userID int64) error {
	_, err := tx.ExecContext(ctx, `
		DELETE FROM recovery_codes WHERE user_id = ?
		AND NOT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = ? AND secret IS NOT NULL)
		AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?)`, userID, userID, userID)
	if err != nil {
		return fmt.Errorf("db: drop recovery codes: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes gives the account new recovery codes (their
// hashes); the old ones stop working.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: replace recovery codes: %w", err)
	}
	defer tx.Rollback()
	if err := replaceRecoveryCodes(ctx, tx, userID, codeHashes); err != nil {
		return err
	}
	return tx.Commit()
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.read.GetContext(ctx, &n, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return 0, fmt.Errorf("db: count recovery codes: %w", err)
	}
	return n, nil
}

// UseRecoveryCode uses up one recovery code by its hash: ErrNotFound when
// the account has no such code (wrong, or used already). Of two uses at
// once, one wins.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, codeHash string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, codeHash)
	if err := oneRow(res, err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("db: use recovery code: %w", err)
	}
	return nil
}

// HasSecondFactor reports whether the account has a second factor: the
// authenticator on, or at least one passkey (product.md §10).
func (s *Store) HasSecondFactor(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := s.read.GetContext(ctx, &has, `
		SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = ? AND secret IS NOT NULL)
		    OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?)`, userID, userID)
	if err != nil {
		return false, fmt.Errorf("db: second factor: %w", err)
	}
	return has, nil
}

// ResetSecondFactors turns off every second factor of the account: the
// authenticator, its recovery codes and its passkeys (gatehouse user
// reset-2fa, the admin page). Its sessions are the caller's to end.
func (s *Store) ResetSecondFactors(ctx context.Context, userID int64) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: reset second factors: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM totp_secrets WHERE user_id = ?`,
		`DELETE FROM recovery_codes WHERE user_id = ?`,
		`DELETE FROM passkeys WHERE user_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return fmt.Errorf("db: reset second factors: %w", err)
		}
	}
	return tx.Commit()
}

// AddPasskey stores a new passkey and returns its id. With codeHashes (the
// account's first second factor) they become its recovery codes in the
// same transaction. ErrDuplicatePasskey when the credential is known.
func (s *Store) AddPasskey(ctx context.Context, p Passkey, codeHashes []string) (int64, error) {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: add passkey: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `
		INSERT INTO passkeys (user_id, credential_id, name, credential, created_at)
		VALUES (?, ?, ?, ?, ?)`, p.UserID, p.CredentialID, p.Name, p.Credential, p.CreatedAt.Unix())
	if isUnique(err) {
		return 0, ErrDuplicatePasskey
	}
	if err != nil {
		return 0, fmt.Errorf("db: add passkey: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	if codeHashes != nil {
		if err := replaceRecoveryCodes(ctx, tx, p.UserID, codeHashes); err != nil {
			return 0, err
		}
	}
	return id, tx.Commit()
}

// ErrDuplicatePasskey: that credential is registered already.
var ErrDuplicatePasskey = errors.New("db: passkey already registered")

const passkeyColumns = `id, user_id, credential_id, name, credential, created_at, last_used_at`

func scanPasskey(scan func(...any) error) (Passkey, error) {
	var p Passkey
	var created int64
	var used sql.NullInt64
	if err := scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &created, &used); err != nil {
		return Passkey{}, err
	}
	p.CreatedAt = time.Unix(created, 0).UTC()
	p.LastUsedAt = unixOrZero(used)
	return p, nil
}

// Passkeys lists the account's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID int64) ([]Passkey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("db: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("db: list passkeys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyByCredentialID finds a passkey by its WebAuthn credential id, or
// ErrNotFound.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error) {
	p, err := scanPasskey(s.read.QueryRowContext(ctx,
		`SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, credentialID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, ErrNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("db: find passkey: %w", err)
	}
	return p, nil
}

// PasskeyUsed records a sign-in with a passkey: its new credential state
// (the signature counter) and when.
func (s *Store) PasskeyUsed(ctx context.Context, id int64, credential []byte, now time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE passkeys SET credential = ?, last_used_at = ? WHERE id = ?`,
		credential, now.Unix(), id)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("db: passkey used: %w", err)
	}
	return nil
}

// DeletePasskey removes one passkey of the account (ErrNotFound when it is
// not one of theirs); the recovery codes go when no second factor remains.
func (s *Store) DeletePasskey(ctx context.Context, userID, id int64) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: delete passkey: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
	if err := oneRow(res, err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("db: delete passkey: %w", err)
	}
	if err := dropCodesWithoutFactor(ctx, tx, userID); err != nil {
		return err
	}
	return tx.Commit()
}

// ClaimOnce records key until expires and reports whether it was new: the
// authenticator's replay guard. A key whose record has expired is claimed
// again.
func (s *Store) ClaimOnce(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO one_time (key_hash, value, expires_at) VALUES (?, x'', ?)
		ON CONFLICT (key_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
		WHERE one_time.expires_at <= ?`, HashToken(key), expires.Unix(), now.Unix())
	if err := oneRow(res, err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("db: claim: %w", err)
	}
	return true, nil
}

// PutOneTime keeps value under key until expires (a WebAuthn challenge).
func (s *Store) PutOneTime(ctx context.Context, key string, value []byte, expires time.Time) error {
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO one_time (key_hash, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		HashToken(key), value, expires.Unix())
	if err != nil {
		return fmt.Errorf("db: keep challenge: %w", err)
	}
	return nil
}

// TakeOneTime returns and removes the value under key: ErrNotFound when
// there is none or it expired. Of two takes, one gets it.
func (s *Store) TakeOneTime(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var value []byte
	var expires int64
	err := s.write.QueryRowContext(ctx, `DELETE FROM one_time WHERE key_hash = ? RETURNING value, expires_at`,
		HashToken(key)).Scan(&value, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && expires <= now.Unix()) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: take challenge: %w", err)
	}
	return value, nil
}

// DeleteExpiredOneTime removes expired one-time records.
func (s *Store) DeleteExpiredOneTime(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM one_time WHERE expires_at <= ?`, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("db: delete expired one-time records: %w", err)
	}
	return res.RowsAffected()
}

// MarkSecondFactor records that a session passed a second factor: it
// turned the authenticator on or added a passkey itself, and so proved the
// factor (product.md §11). The generation trigger of migration 0005 makes
// the session cache see it.
func (s *Store) MarkSecondFactor(ctx context.Context, sessionID int64) error {
	// Only a change moves the generation counter (and empties the cache).
	if _, err := s.write.ExecContext(ctx, `UPDATE user_sessions SET second_factor = 1 WHERE id = ? AND second_factor = 0`, sessionID); err != nil {
		return fmt.Errorf("db: mark second factor: %w", err)
	}
	return nil
}
