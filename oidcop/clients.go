// Package oidcop makes Gatehouse an OpenID Connect provider (product.md
// §12) with github.com/zitadel/oidc/v3's op package: the op.Storage over
// Gatehouse's stores, the signing key, and the client operations that the
// command line (`gatehouse client ...`) and the admin page both call.
package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gatehouse/db"
)

// ClientStore is what the client operations need of the database.
// *db.Store and *postgres.Store implement it.
type ClientStore interface {
	CreateClient(ctx context.Context, c db.OIDCClient) error
	Client(ctx context.Context, id string) (*db.OIDCClient, error)
	ListClients(ctx context.Context) ([]db.OIDCClient, error)
	DeleteClient(ctx context.Context, id string) error
}

// NewClient is an app to register.
type NewClient struct {
	Name         string
	RedirectURIs []string
	Public       bool // a browser or native app without a secret: PKCE required
	Trusted      bool // skip the consent page
}

// ClientError is a problem with a NewClient, for the field it names
// ("name" or "redirect_uri"), in words for the admin page and the CLI.
type ClientError struct {
	Field   string
	Message string
}

func (e *ClientError) Error() string { return e.Message }

// ErrUnknownClient means there is no app with that client_id.
var ErrUnknownClient = errors.New("no such client")

// AddClient registers an app and returns it with its secret: the only time
// the secret exists outside the app (a confidential client; "" for a
// public one). Only the secret's SHA-256 is stored: it carries 256 random
// bits, so a fast hash is enough and a copy of the database holds nothing
// an app could sign in with.
func AddClient(ctx context.Context, s ClientStore, n NewClient, now time.Time) (*db.OIDCClient, string, error) {
	name := strings.TrimSpace(n.Name)
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	if len(n.RedirectURIs) == 0 {
		return nil, "", &ClientError{"redirect_uri", "Give at least one redirect URI."}
	}
	seen := map[string]bool{}
	var uris []string
	for _, u := range n.RedirectURIs {
		u = strings.TrimSpace(u)
		if err := checkRedirectURI(u); err != nil {
			return nil, "", err
		}
		if !seen[u] {
			seen[u] = true
			uris = append(uris, u)
		}
	}
	// base32 (A–Z, 2–7), 130 random bits: a client_id is typed into apps'
	// settings and given to `gatehouse client delete`, where base64url's
	// leading "-" would read as a flag.
	id := rand.Text()
	c := db.OIDCClient{ID: id, Name: name, RedirectURIs: uris, Public: n.Public, Trusted: n.Trusted, CreatedAt: now}
	var secret string
	var err error
	if !n.Public {
		if secret, err = randomString(32); err != nil {
			return nil, "", err
		}
		c.SecretHash = db.HashToken(secret)
	}
	if err := s.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return &c, secret, nil
}

// DeleteClient removes an app and everything it holds (its tokens stop
// working at once). ErrUnknownClient when there is none.
func DeleteClient(ctx context.Context, s ClientStore, id string) error {
	err := s.DeleteClient(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return ErrUnknownClient
	}
	return err
}

// checkName accepts a display name: what the consent page shows.
func checkName(name string) error {
	if name == "" {
		return &ClientError{"name", "Give the app a name."}
	}
	if utf8.RuneCountInString(name) > 100 {
		return &ClientError{"name", "The name is too long (100 characters at most)."}
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return &ClientError{"name", "The name has a character that cannot be shown."}
		}
	}
	return nil
}

// checkRedirectURI accepts an absolute http(s) URI without a fragment
// (RFC 6749 §3.1.2); it is matched exactly, character for character.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &ClientError{"redirect_uri", fmt.Sprintf("%q is not an http:// or https:// address.", raw)}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return &ClientError{"redirect_uri", fmt.Sprintf("%q has a #fragment, which a redirect URI may not have.", raw)}
	}
	if u.User != nil {
		return &ClientError{"redirect_uri", fmt.Sprintf("%q holds a user name or password.", raw)}
	}
	if len(raw) > 2000 || strings.ContainsAny(raw, " \t\r\n") {
		return &ClientError{"redirect_uri", fmt.Sprintf("%q is not a usable redirect URI.", raw)}
	}
	return nil
}

// randomString returns n random bytes as unpadded base64url.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// secretMatches compares a presented client secret with the stored hash in
// constant time.
func secretMatches(storedHash, secret string) bool {
	if storedHash == "" || secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(storedHash)) == 1
}
