-- OpenID Connect (product.md §12): the apps that sign in with Gatehouse,
-- their pending authorization requests, the tokens they hold, and what
-- each account has allowed. Secrets, codes and tokens are stored as their
-- SHA-256 (hex) only, so a copy of the database opens no app.

-- A registered app. secret_hash is NULL for a public client (PKCE only).
-- redirect_uris holds the exact URIs, one per line.
CREATE TABLE oidc_clients (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_hash   TEXT,
    redirect_uris TEXT    NOT NULL,
    public        INTEGER NOT NULL CHECK (public IN (0, 1)),
    trusted       INTEGER NOT NULL CHECK (trusted IN (0, 1)),  -- skips the consent page
    created_at    INTEGER NOT NULL
) STRICT;

-- An authorization request between /oauth/authorize and the code's
-- exchange (minutes at most). data is the request as the provider keeps
-- it (JSON: redirect URI, scopes, state, nonce, PKCE challenge, prompt,
-- max_age, and once signed in the account's sign-in time and methods).
-- user_id is set when the account has allowed it; code_hash when the code
-- has gone to the app.
CREATE TABLE oidc_auth_requests (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    UNIQUE,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_auth_requests_user_idx ON oidc_auth_requests (user_id);
CREATE INDEX oidc_auth_requests_expires_idx ON oidc_auth_requests (expires_at);

-- Access and refresh tokens. grant_id ties together every token that came
-- from one authorization code: a refresh token used twice revokes them all.
-- A used refresh token keeps its row (used_at set) until it expires, so
-- its reuse is recognised.
CREATE TABLE oidc_tokens (
    token_hash TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id   TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,  -- space-separated
    auth_time  INTEGER NOT NULL,
    amr        TEXT    NOT NULL,  -- space-separated
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX oidc_tokens_grant_idx ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_user_idx ON oidc_tokens (user_id, client_id);
CREATE INDEX oidc_tokens_expires_idx ON oidc_tokens (expires_at);

-- What an account has allowed an app to see (the consent page's Allow, or
-- the first sign-in to a trusted app). /account/apps lists these rows.
CREATE TABLE oidc_consents (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,  -- space-separated
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
