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

// OpenID Connect (product.md §12): the PostgreSQL form of db/oidc.go, the
// same methods with the same meanings.

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const oidcClientColumns = `id, name, secret_hash, redirect_uris, public, trusted, created_at`

func scanClient(row pgx.Row) (*db.OIDCClient, error) {
	var (
		c               db.OIDCClient
		secret          *string
		uris            string
		public, trusted bool
		created         int64
	)
	if err := row.Scan(&c.ID, &c.Name, &secret, &uris, &public, &trusted, &created); err != nil {
		return nil, err
	}
	if secret != nil {
		c.SecretHash = *secret
	}
	c.RedirectURIs = strings.Split(uris, "\n")
	c.Public, c.Trusted = public, trusted
	c.CreatedAt = time.Unix(created, 0).UTC()
	return &c, nil
}

// CreateClient registers an app.
func (s *Store) CreateClient(ctx context.Context, c db.OIDCClient) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oidc_clients (`+oidcClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.Name, nullString(c.SecretHash), strings.Join(c.RedirectURIs, "\n"), c.Public, c.Trusted, c.CreatedAt.Unix())
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	return nil
}

// Client returns the app with that client_id, or db.ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*db.OIDCClient, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: client: %w", err)
	}
	return c, nil
}

// ListClients returns every app, by name.
func (s *Store) ListClients(ctx context.Context) ([]db.OIDCClient, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	defer rows.Close()
	var out []db.OIDCClient
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list clients: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// DeleteClient removes an app with its requests, tokens and consents.
// db.ErrNotFound when there is no such app.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM oidc_clients WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// CreateAuthRequest stores a new authorization request. db.ErrNotFound
// when its client is gone.
func (s *Store) CreateAuthRequest(ctx context.Context, r db.OIDCAuthRequest) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oidc_auth_requests (id, client_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.ClientID, string(r.Data), r.CreatedAt.Unix(), r.ExpiresAt.Unix())
	if isForeignKey(err) {
		return db.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: create auth request: %w", err)
	}
	return nil
}

// AuthRequest returns the live request with that id, or db.ErrNotFound.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*db.OIDCAuthRequest, error) {
	return s.authRequestWhere(ctx, `id = $1`, id, now)
}

// AuthRequestByCode returns the live request whose code has this hash, or
// db.ErrNotFound.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*db.OIDCAuthRequest, error) {
	return s.authRequestWhere(ctx, `code_hash = $1`, codeHash, now)
}

func (s *Store) authRequestWhere(ctx context.Context, where, arg string, now time.Time) (*db.OIDCAuthRequest, error) {
	var (
		r                  db.OIDCAuthRequest
		user               *int64
		data               string
		created, expiresAt int64
	)
	err := s.pool.QueryRow(ctx, `
		SELECT id, client_id, user_id, data, created_at, expires_at FROM oidc_auth_requests
		WHERE `+where+` AND expires_at > $2`, arg, now.Unix()).
		Scan(&r.ID, &r.ClientID, &user, &data, &created, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: auth request: %w", err)
	}
	if user != nil {
		r.UserID = *user
	}
	r.Data = []byte(data)
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expiresAt, 0).UTC()
	return &r, nil
}

// UpdateAuthRequest stores the account (0 for none yet) and the request's
// new data. db.ErrNotFound when the request is gone.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, userID int64, data []byte) error {
	var user *int64
	if userID != 0 {
		user = &userID
	}
	tag, err := s.pool.Exec(ctx, `UPDATE oidc_auth_requests SET user_id = $1, data = $2 WHERE id = $3`, user, string(data), id)
	if isForeignKey(err) {
		return db.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: update auth request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// SetAuthCode records the hash of the code of an allowed request, once.
func (s *Store) SetAuthCode(ctx context.Context, id, codeHash string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE oidc_auth_requests SET code_hash = $1
		WHERE id = $2 AND code_hash IS NULL AND user_id IS NOT NULL`, codeHash, id)
	if err != nil {
		return fmt.Errorf("postgres: set auth code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	return nil
}

// DeleteAuthRequest removes a request (denied, or finished).
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: delete auth request: %w", err)
	}
	return nil
}

// ExchangeCode deletes an allowed request and stores its tokens, in one
// transaction: of two exchanges of one code only one finds the row.
func (s *Store) ExchangeCode(ctx context.Context, requestID string, tokens ...db.OIDCToken) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = $1 AND user_id IS NOT NULL`, requestID)
	if err != nil {
		return fmt.Errorf("postgres: exchange code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return db.ErrNotFound
	}
	if err := insertTokens(ctx, tx, tokens); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func insertTokens(ctx context.Context, tx pgx.Tx, tokens []db.OIDCToken) error {
	for _, t := range tokens {
		_, err := tx.Exec(ctx, `
			INSERT INTO oidc_tokens (token_hash, kind, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			t.Hash, t.Kind, t.GrantID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), t.AuthTime.Unix(),
			strings.Join(t.AMR, " "), t.CreatedAt.Unix(), t.ExpiresAt.Unix())
		if isForeignKey(err) {
			return db.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: store token: %w", err)
		}
	}
	return nil
}

// OIDCToken returns the live token with that hash, or db.ErrNotFound.
func (s *Store) OIDCToken(ctx context.Context, hash string, now time.Time) (*db.OIDCToken, error) {
	var (
		t                              db.OIDCToken
		scopes, amr                    string
		authTime, createdAt, expiresAt int64
		usedAt                         *int64
	)
	err := s.pool.QueryRow(ctx, `
		SELECT token_hash, kind, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at, used_at
		FROM oidc_tokens WHERE token_hash = $1 AND expires_at > $2`, hash, now.Unix()).
		Scan(&t.Hash, &t.Kind, &t.GrantID, &t.ClientID, &t.UserID, &scopes, &authTime, &amr, &createdAt, &expiresAt, &usedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: token: %w", err)
	}
	t.Scopes, t.AMR = strings.Fields(scopes), strings.Fields(amr)
	t.AuthTime = time.Unix(authTime, 0).UTC()
	t.CreatedAt, t.ExpiresAt = time.Unix(createdAt, 0).UTC(), time.Unix(expiresAt, 0).UTC()
	t.UsedAt = unixOrZero(usedAt)
	return &t, nil
}

// RotateRefreshToken marks oldHash used and stores its replacements, in
// one transaction; a token already used revokes its grant and returns
// db.ErrRefreshReused; an unknown or expired one is db.ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, tokens ...db.OIDCToken) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var grant string
	err = tx.QueryRow(ctx, `
		UPDATE oidc_tokens SET used_at = $1
		WHERE token_hash = $2 AND kind = 'refresh' AND used_at IS NULL AND expires_at > $1
		RETURNING grant_id`, now.Unix(), oldHash).Scan(&grant)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `
			SELECT grant_id FROM oidc_tokens WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NOT NULL`, oldHash).Scan(&grant)
		if errors.Is(err, pgx.ErrNoRows) {
			return db.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: rotate refresh token: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_tokens WHERE grant_id = $1`, grant); err != nil {
			return fmt.Errorf("postgres: revoke grant: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		return db.ErrRefreshReused
	}
	if err != nil {
		return fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	if err := insertTokens(ctx, tx, tokens); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// RevokeOIDCToken ends the token with that hash if clientID holds it: an
// access token alone, a refresh token with its whole grant.
func (s *Store) RevokeOIDCToken(ctx context.Context, hash, clientID string) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM oidc_tokens
		WHERE token_hash = $1 AND client_id = $2
		   OR grant_id IN (SELECT grant_id FROM oidc_tokens
		                   WHERE token_hash = $1 AND client_id = $2 AND kind = 'refresh')`, hash, clientID)
	if err != nil {
		return fmt.Errorf("postgres: revoke token: %w", err)
	}
	return nil
}

// RevokeUserClient removes an app's access to an account.
func (s *Store) RevokeUserClient(ctx context.Context, userID int64, clientID string) error {
	return s.revokeUser(ctx, `user_id = $1 AND client_id = $2`, userID, clientID)
}

// RevokeUserGrants removes every app's access to an account.
func (s *Store) RevokeUserGrants(ctx context.Context, userID int64) error {
	return s.revokeUser(ctx, `user_id = $1`, userID)
}

func (s *Store) revokeUser(ctx context.Context, where string, args ...any) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, table := range []string{"oidc_tokens", "oidc_auth_requests", "oidc_consents"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
			return fmt.Errorf("postgres: revoke app access: %w", err)
		}
	}
	return tx.Commit(ctx)
}

// Consent returns what the account allowed the app, or db.ErrNotFound.
func (s *Store) Consent(ctx context.Context, userID int64, clientID string) (*db.OIDCConsent, error) {
	var (
		scopes  string
		created int64
	)
	err := s.pool.QueryRow(ctx, `SELECT scopes, created_at FROM oidc_consents WHERE user_id = $1 AND client_id = $2`, userID, clientID).
		Scan(&scopes, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: consent: %w", err)
	}
	return &db.OIDCConsent{UserID: userID, ClientID: clientID, Scopes: strings.Fields(scopes), CreatedAt: time.Unix(created, 0).UTC()}, nil
}

// PutConsent records (or widens) what an account allowed an app.
func (s *Store) PutConsent(ctx context.Context, c db.OIDCConsent) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oidc_consents (user_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes`,
		c.UserID, c.ClientID, strings.Join(c.Scopes, " "), c.CreatedAt.Unix())
	if isForeignKey(err) {
		return db.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: put consent: %w", err)
	}
	return nil
}

// UserConsents lists the apps an account has allowed, by app name.
func (s *Store) UserConsents(ctx context.Context, userID int64) ([]db.OIDCConsent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.client_id, k.name, c.scopes, c.created_at
		FROM oidc_consents c JOIN oidc_clients k ON k.id = c.client_id
		WHERE c.user_id = $1 ORDER BY k.name, c.client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: user consents: %w", err)
	}
	defer rows.Close()
	var out []db.OIDCConsent
	for rows.Next() {
		c := db.OIDCConsent{UserID: userID}
		var (
			scopes  string
			created int64
		)
		if err := rows.Scan(&c.ClientID, &c.ClientName, &scopes, &created); err != nil {
			return nil, fmt.Errorf("postgres: user consents: %w", err)
		}
		c.Scopes, c.CreatedAt = strings.Fields(scopes), time.Unix(created, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteExpiredOIDC removes expired authorization requests and tokens.
func (s *Store) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"oidc_auth_requests", "oidc_tokens"} {
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, now.Unix())
		if err != nil {
			return total, fmt.Errorf("postgres: delete expired %s: %w", table, err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}
