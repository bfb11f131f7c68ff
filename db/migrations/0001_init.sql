-- Accounts. Times are Unix seconds in UTC.
CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    username          TEXT    NOT NULL UNIQUE,  -- normalised: trimmed, lowercased
    email             TEXT    NOT NULL UNIQUE,  -- stored lowercased, so UNIQUE ignores case
    password_hash     TEXT    NOT NULL,         -- argon2id PHC string
    email_verified_at INTEGER,                  -- NULL until the address is confirmed
    created_at        INTEGER NOT NULL
) STRICT;

-- The table of scs's SQLite store. The token column holds the SHA-256 (hex)
-- of the cookie's token, never the token itself (see db.SessionStore).
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- One row per signed-in session: who it belongs to, when it was last seen,
-- where from. It lets us list and revoke a user's sessions without decoding
-- every scs row, and it keeps the idle deadline out of the per-request path:
-- last_seen_at is written at most once a minute.
CREATE TABLE user_sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,  -- absolute deadline
    ip           TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
) STRICT;
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_last_seen_idx ON user_sessions (last_seen_at);

-- Ending a session (sign-out, revoke, account deletion through the cascade,
-- the admin CLI) always removes its scs row too, so the old cookie is dead.
CREATE TRIGGER user_sessions_end AFTER DELETE ON user_sessions
BEGIN
    DELETE FROM sessions WHERE token = OLD.token_hash;
END;
