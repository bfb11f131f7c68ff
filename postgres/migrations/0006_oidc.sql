-- The PostgreSQL form of db/migrations/0007_oidc.sql: the same tables,
-- columns and meanings, so that `gatehouse copy` moves rows one to one
-- (public and trusted are BOOLEAN here, 0/1 there). Secrets, codes
-- and tokens are stored as their SHA-256 (hex) only.

CREATE TABLE oidc_clients (
    id            TEXT     PRIMARY KEY,
    name          TEXT     NOT NULL,
    secret_hash   TEXT,                -- NULL for a public client
    redirect_uris TEXT     NOT NULL,   -- one per line
    public        BOOLEAN  NOT NULL,
    trusted       BOOLEAN  NOT NULL,
    created_at    BIGINT   NOT NULL
);

CREATE TABLE oidc_auth_requests (
    id         TEXT   PRIMARY KEY,
    client_id  TEXT   NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT   CONSTRAINT oidc_auth_requests_code_hash_key UNIQUE,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_auth_requests_user_idx ON oidc_auth_requests (user_id);
CREATE INDEX oidc_auth_requests_expires_idx ON oidc_auth_requests (expires_at);

CREATE TABLE oidc_tokens (
    token_hash TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id   TEXT   NOT NULL,
    client_id  TEXT   NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    amr        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oidc_tokens_grant_idx ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_user_idx ON oidc_tokens (user_id, client_id);
CREATE INDEX oidc_tokens_expires_idx ON oidc_tokens (expires_at);

CREATE TABLE oidc_consents (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
