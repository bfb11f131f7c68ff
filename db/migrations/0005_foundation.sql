-- What accounts and sessions need once there is more than one way in
-- (product.md §8–§13).

-- Groups (§11): names of a–z0–9_-, comma-joined in sorted order, '' for
-- none. Admin role and disabling (§13): disabled_at is NULL while the
-- account may sign in.
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- How a session was signed in (§8): 'password', 'password+code',
-- 'recovery-code' or 'passkey'; second_factor is 1 when it passed one
-- (signed in with one, or turned one on itself), which §11's two-factor
-- rule reads.
ALTER TABLE user_sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE user_sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;

-- The cache of the signed-in look-ups holds second_factor too.
CREATE TRIGGER generation_session_factor AFTER UPDATE OF second_factor ON user_sessions
BEGIN
    UPDATE generation SET n = n + 1;
END;

-- Server-wide values: the secret key's check (secretkey), the OpenID
-- Connect signing key (sealed), ... Written once, read at start.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- The security activity of each account (§13), kept 90 days. Never a
-- password, a token or a code: kind and detail are fixed words.
-- actor_id is the admin who acted, for admin actions.
CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '',
    actor_id   INTEGER
) STRICT;
CREATE INDEX security_events_user_idx ON security_events (user_id, at);
CREATE INDEX security_events_at_idx ON security_events (at);
