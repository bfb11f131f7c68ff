package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// OpenID Connect (product.md §12): the types both stores share and the
// SQLite methods. Secrets, codes and tokens reach the store as hashes
// (HashToken) only.

// ErrRefreshReused means a refresh token that was already exchanged came
// back: the store has revoked every token of its grant.
var ErrRefreshReused = errors.New("db: refresh token used twice; its grant is revoked")

// OIDCClient is an app that signs in with Gatehouse accounts.
type OIDCClient struct {
	ID           string
	Name         string
	SecretHash   string // HashToken of the secret; "" for a public client
	RedirectURIs []string
	Public       bool // no secret: PKCE is required
	Trusted      bool // no consent page
	CreatedAt    time.Time
}

// OIDCAuthRequest is an authorization request between the authorization
// endpoint and the exchange of its code. Data is the request as the
// provider keeps it; the store does not look inside.
type OIDCAuthRequest struct {
	ID        string
	ClientID  string
	UserID    int64 // 0 until the account has allowed it
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// The kinds of OIDCToken.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// OIDCToken is an access or refresh token held by an app.
type OIDCToken struct {
	Hash      string // HashToken of the token (or of an access token's id)
	Kind      string // TokenAccess or TokenRefresh
	GrantID   string // shared by every token that came from one code
	ClientID  string
	UserID    int64
	Scopes    []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // a refresh token that was exchanged; zero otherwise
}

// OIDCConsent is what an account has allowed an app to see.
type OIDCConsent struct {
	UserID     int64
	ClientID   string
	ClientName string // filled by UserConsents
	Scopes     []string
	CreatedAt  time.Time
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type oidcClientRow struct {
	ID           string         `db:"id"`
	Name         string         `db:"name"`
	SecretHash   sql.NullString `db:"secret_hash"`
	RedirectURIs string         `db:"redirect_uris"`
	Public       int            `db:"public"`
	Trusted      int            `db:"trusted"`
	CreatedAt    int64          `db:"created_at"`
}

func (r oidcClientRow) client() OIDCClient {
	return OIDCClient{
		ID:           r.ID,
		Name:         r.Name,
		SecretHash:   r.SecretHash.String,
		RedirectURIs: strings.Split(r.RedirectURIs, "\n"),
		Public:       r.Public == 1,
		Trusted:      r.Trusted == 1,
		CreatedAt:    time.Unix(r.CreatedAt, 0).UTC(),
	}
}

const oidcClientColumns = `id, name, secret_hash, redirect_uris, public, trusted, created_at`

// CreateClient registers an app.
func (s *Store) CreateClient(ctx context.Context, c OIDCClient) error {
	secret := sql.NullString{String: c.SecretHash, Valid: c.SecretHash != ""}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO oidc_clients (`+oidcClientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, secret, strings.Join(c.RedirectURIs, "\n"), boolInt(c.Public), boolInt(c.Trusted), c.CreatedAt.Unix())
	if err != nil {
		return fmt.Errorf("db: create client: %w", err)
	}
	return nil
}

// Client returns the app with that client_id, or ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*OIDCClient, error) {
	var r oidcClientRow
	err := s.read.GetContext(ctx, &r, `SELECT `+oidcClientColumns+` FROM oidc_clients WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: client: %w", err)
	}
	c := r.client()
	return &c, nil
}

// ListClients returns every app, by name.
func (s *Store) ListClients(ctx context.Context) ([]OIDCClient, error) {
	var rows []oidcClientRow
	if err := s.read.SelectContext(ctx, &rows, `SELECT `+oidcClientColumns+` FROM oidc_clients ORDER BY name, id`); err != nil {
		return nil, fmt.Errorf("db: list clients: %w", err)
	}
	out := make([]OIDCClient, len(rows))
	for i, r := range rows {
		out[i] = r.client()
	}
	return out, nil
}

// DeleteClient removes an app with everything it holds: its pending
// requests, its tokens and the consents given to it (ON DELETE CASCADE).
// ErrNotFound when there is no such app.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM oidc_clients WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("db: delete client: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

type oidcAuthRequestRow struct {
	ID        string        `db:"id"`
	ClientID  string        `db:"client_id"`
	UserID    sql.NullInt64 `db:"user_id"`
	Data      string        `db:"data"`
	CreatedAt int64         `db:"created_at"`
	ExpiresAt int64         `db:"expires_at"`
}

func (r oidcAuthRequestRow) request() *OIDCAuthRequest {
	return &OIDCAuthRequest{
		ID:        r.ID,
		ClientID:  r.ClientID,
		UserID:    r.UserID.Int64,
		Data:      []byte(r.Data),
		CreatedAt: time.Unix(r.CreatedAt, 0).UTC(),
		ExpiresAt: time.Unix(r.ExpiresAt, 0).UTC(),
	}
}

const oidcAuthRequestColumns = `id, client_id, user_id, data, created_at, expires_at`

// CreateAuthRequest stores a new authorization request. ErrNotFound when
// its client is gone.
func (s *Store) CreateAuthRequest(ctx context.Context, r OIDCAuthRequest) error {
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO oidc_auth_requests (id, client_id, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, string(r.Data), r.CreatedAt.Unix(), r.ExpiresAt.Unix())
	if isForeignKey(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: create auth request: %w", err)
	}
	return nil
}

// AuthRequest returns the live authorization request with that id, or
// ErrNotFound (also when it has expired).
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*OIDCAuthRequest, error) {
	return s.authRequestWhere(ctx, `id = ?`, id, now)
}

// AuthRequestByCode returns the live request whose code has this hash, or
// ErrNotFound.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*OIDCAuthRequest, error) {
	return s.authRequestWhere(ctx, `code_hash = ?`, codeHash, now)
}

func (s *Store) authRequestWhere(ctx context.Context, where, arg string, now time.Time) (*OIDCAuthRequest, error) {
	var r oidcAuthRequestRow
	err := s.read.GetContext(ctx, &r, `
		SELECT `+oidcAuthRequestColumns+` FROM oidc_auth_requests WHERE `+where+` AND expires_at > ?`, arg, now.Unix())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: auth request: %w", err)
	}
	return r.request(), nil
}

// UpdateAuthRequest stores what the sign-in and consent added to a
// request: the account (0 for none yet) and the request's new data.
// ErrNotFound when the request is gone.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, userID int64, data []byte) error {
	user := sql.NullInt64{Int64: userID, Valid: userID != 0}
	res, err := s.write.ExecContext(ctx, `UPDATE oidc_auth_requests SET user_id = ?, data = ? WHERE id = ?`, user, string(data), id)
	if isForeignKey(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: update auth request: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetAuthCode records the hash of the code sent to the app for a request
// that the account has allowed. ErrNotFound when there is no such request
// or it already has a code: a request gives one code only.
func (s *Store) SetAuthCode(ctx context.Context, id, codeHash string) error {
	res, err := s.write.ExecContext(ctx, `
		UPDATE oidc_auth_requests SET code_hash = ?
		WHERE id = ? AND code_hash IS NULL AND user_id IS NOT NULL`, codeHash, id)
	if err != nil {
		return fmt.Errorf("db: set auth code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAuthRequest removes a request (denied, or finished).
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, id); err != nil {
		return fmt.Errorf("db: delete auth request: %w", err)
	}
	return nil
}

// ExchangeCode turns an allowed request into tokens: in one transaction
// the request is deleted and the tokens stored. The delete is the
// single-use guarantee: of two exchanges of one code only one finds the
// row; the other gets ErrNotFound.
func (s *Store) ExchangeCode(ctx context.Context, requestID string, tokens ...OIDCToken) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM oidc_auth_requests WHERE id = ? AND user_id IS NOT NULL`, requestID)
	if err != nil {
		return fmt.Errorf("db: exchange code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if err := insertTokens(ctx, tx, tokens); err != nil {
		return err
	}
	return tx.Commit()
}

func insertTokens(ctx context.Context, tx *sqlx.Tx, tokens []OIDCToken) error {
	for _, t := range tokens {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO oidc_tokens (token_hash, kind, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Kind, t.GrantID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), t.AuthTime.Unix(),
			strings.Join(t.AMR, " "), t.CreatedAt.Unix(), t.ExpiresAt.Unix())
		if isForeignKey(err) {
			// The account or the app was deleted meanwhile.
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("db: store token: %w", err)
		}
	}
	return nil
}

type oidcTokenRow struct {
	Hash      string        `db:"token_hash"`
	Kind      string        `db:"kind"`
	GrantID   string        `db:"grant_id"`
	ClientID  string        `db:"client_id"`
	UserID    int64         `db:"user_id"`
	Scopes    string        `db:"scopes"`
	AuthTime  int64         `db:"auth_time"`
	AMR       string        `db:"amr"`
	CreatedAt int64         `db:"created_at"`
	ExpiresAt int64         `db:"expires_at"`
	UsedAt    sql.NullInt64 `db:"used_at"`
}

func (r oidcTokenRow) token() *OIDCToken {
	return &OIDCToken{
		Hash:      r.Hash,
		Kind:      r.Kind,
		GrantID:   r.GrantID,
		ClientID:  r.ClientID,
		UserID:    r.UserID,
		Scopes:    strings.Fields(r.Scopes),
		AuthTime:  time.Unix(r.AuthTime, 0).UTC(),
		AMR:       strings.Fields(r.AMR),
		CreatedAt: time.Unix(r.CreatedAt, 0).UTC(),
		ExpiresAt: time.Unix(r.ExpiresAt, 0).UTC(),
		UsedAt:    unixOrZero(r.UsedAt),
	}
}

const oidcTokenColumns = `token_hash, kind, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at, used_at`

// OIDCToken returns the live token with that hash, or ErrNotFound (also
// once expired). A used refresh token is returned with UsedAt set.
func (s *Store) OIDCToken(ctx context.Context, hash string, now time.Time) (*OIDCToken, error) {
	var r oidcTokenRow
	err := s.read.GetContext(ctx, &r, `SELECT `+oidcTokenColumns+` FROM oidc_tokens WHERE token_hash = ? AND expires_at > ?`, hash, now.Unix())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: token: %w", err)
	}
	return r.token(), nil
}

// RotateRefreshToken marks the refresh token oldHash used and stores the
// tokens that replace it, in one transaction. The conditional UPDATE is
// the single-use guarantee. A token already used (a copy in an attacker's
// hands, or the app's own old one) revokes its whole grant and returns
// ErrRefreshReused; an unknown or expired one is ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, tokens ...OIDCToken) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var grant string
	err = tx.GetContext(ctx, &grant, `
		UPDATE oidc_tokens SET used_at = ?
		WHERE token_hash = ? AND kind = 'refresh' AND used_at IS NULL AND expires_at > ?
		RETURNING grant_id`, now.Unix(), oldHash, now.Unix())
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.GetContext(ctx, &grant, `
			SELECT grant_id FROM oidc_tokens WHERE token_hash = ? AND kind = 'refresh' AND used_at IS NOT NULL`, oldHash)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("db: rotate refresh token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE grant_id = ?`, grant); err != nil {
			return fmt.Errorf("db: revoke grant: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return ErrRefreshReused
	}
	if err != nil {
		return fmt.Errorf("db: rotate refresh token: %w", err)
	}
	if err := insertTokens(ctx, tx, tokens); err != nil {
		return err
	}
	return tx.Commit()
}

// RevokeOIDCToken ends the token with that hash if clientID holds it: an
// access token alone, a refresh token with every token of its grant
// (RFC 7009 §2.1). An unknown token is no error.
func (s *Store) RevokeOIDCToken(ctx context.Context, hash, clientID string) error {
	_, err := s.write.ExecContext(ctx, `
		DELETE FROM oidc_tokens
		WHERE token_hash = ? AND client_id = ?
		   OR grant_id IN (SELECT grant_id FROM oidc_tokens
		                   WHERE token_hash = ? AND client_id = ? AND kind = 'refresh')`,
		hash, clientID, hash, clientID)
	if err != nil {
		return fmt.Errorf("db: revoke token: %w", err)
	}
	return nil
}

// RevokeUserClient removes an app's access to an account: its tokens, its
// pending requests and the consent (/account/apps "Remove access").
func (s *Store) RevokeUserClient(ctx context.Context, userID int64, clientID string) error {
	return s.revokeUser(ctx, `user_id = ? AND client_id = ?`, userID, clientID)
}

// RevokeUserGrants removes every app's access to an account: all its
// tokens, pending requests and consents. Disabling an account and "This
// wasn't me" (product.md §13) call it.
func (s *Store) RevokeUserGrants(ctx context.Context, userID int64) error {
	return s.revokeUser(ctx, `user_id = ?`, userID)
}

func (s *Store) revokeUser(ctx context.Context, where string, args ...any) error {
	tx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, table := range []string{"oidc_tokens", "oidc_auth_requests", "oidc_consents"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
			return fmt.Errorf("db: revoke app access: %w", err)
		}
	}
	return tx.Commit()
}

// Consent returns what the account allowed the app, or ErrNotFound.
func (s *Store) Consent(ctx context.Context, userID int64, clientID string) (*OIDCConsent, error) {
	var r struct {
		Scopes    string `db:"scopes"`
		CreatedAt int64  `db:"created_at"`
	}
	err := s.read.GetContext(ctx, &r, `SELECT scopes, created_at FROM oidc_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: consent: %w", err)
	}
	return &OIDCConsent{UserID: userID, ClientID: clientID, Scopes: strings.Fields(r.Scopes), CreatedAt: time.Unix(r.CreatedAt, 0).UTC()}, nil
}

// PutConsent records (or widens) what an account allowed an app.
// ErrNotFound when the account or the app is gone.
func (s *Store) PutConsent(ctx context.Context, c OIDCConsent) error {
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO oidc_consents (user_id, client_id, scopes, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes`,
		c.UserID, c.ClientID, strings.Join(c.Scopes, " "), c.CreatedAt.Unix())
	if isForeignKey(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: put consent: %w", err)
	}
	return nil
}

// UserConsents lists the apps an account has allowed, by app name.
func (s *Store) UserConsents(ctx context.Context, userID int64) ([]OIDCConsent, error) {
	var rows []struct {
		ClientID   string `db:"client_id"`
		ClientName string `db:"name"`
		Scopes     string `db:"scopes"`
		CreatedAt  int64  `db:"created_at"`
	}
	err := s.read.SelectContext(ctx, &rows, `
		SELECT c.client_id, k.name, c.scopes, c.created_at
		FROM oidc_consents c JOIN oidc_clients k ON k.id = c.client_id
		WHERE c.user_id = ? ORDER BY k.name, c.client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("db: user consents: %w", err)
	}
	out := make([]OIDCConsent, len(rows))
	for i, r := range rows {
		out[i] = OIDCConsent{UserID: userID, ClientID: r.ClientID, ClientName: r.ClientName,
			Scopes: strings.Fields(r.Scopes), CreatedAt: time.Unix(r.CreatedAt, 0).UTC()}
	}
	return out, nil
}

// DeleteExpiredOIDC removes expired authorization requests and tokens.
func (s *Store) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"oidc_auth_requests", "oidc_tokens"} {
		res, err := s.write.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at <= ?`, now.Unix())
		if err != nil {
			return total, fmt.Errorf("db: delete expired %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
