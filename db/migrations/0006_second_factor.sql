-- Second factors (product.md §10). Times are Unix seconds in UTC.

-- The authenticator app of an account: its secret while it is on, and a
-- new secret between setup and enable. Both are sealed (AES-256-GCM under
-- the server's secret key, secretkey.Key.Seal), never stored in clear, so
-- a copy of this file holds no usable second factor.
CREATE TABLE totp_secrets (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB,     -- sealed; NULL while the authenticator is off
    pending    BLOB,     -- sealed; NULL when no setup is waiting
    enabled_at INTEGER   -- NULL while off
) STRICT;

-- Recovery codes: only a keyed hash of each (account.Service), deleted
-- when used, so each works once.
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- Passkeys (WebAuthn credentials). credential is the library's JSON form
-- of the credential: its public key and counters, nothing secret.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    credential    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER            -- NULL until first used to sign in
) STRICT;
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- Short-lived values that must be seen by every process at once: the
-- authenticator's replay guard (a code once accepted is refused after)
-- and WebAuthn challenges. With Redis they live there instead. key_hash
-- is the SHA-256 (hex) of the key.
CREATE TABLE one_time (
    key_hash   TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX one_time_expires_idx ON one_time (expires_at);
