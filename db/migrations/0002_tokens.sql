-- Single-use tokens sent in mail links: verify an address, reset a
-- password, confirm an email change. Only the SHA-256 (hex) of a token is
-- stored (see db.HashToken), so a copy of the database opens no link.
-- A used token keeps its row (used_at set) until it is well past its
-- expiry, so a second click can be told "already used" rather than "bad".
CREATE TABLE link_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('verify', 'reset', 'email_change')),
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email  TEXT,              -- the address an email_change moves to; NULL otherwise
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER            -- NULL until the link is opened
) STRICT;
CREATE INDEX link_tokens_user_idx ON link_tokens (user_id, kind);
CREATE INDEX link_tokens_expires_idx ON link_tokens (expires_at);
