-- A counter that moves whenever a session ends or changes hands, or an
-- account changes: the per-process cache of the signed-in page's look-ups
-- (db/cache.go) trusts what it holds only while this counter stands, so a
-- sign-out, a revocation, a password change or an admin command in another
-- process takes effect at the very next request. Touching last_seen_at
-- and starting new sessions do not move it.
CREATE TABLE generation (
    n INTEGER NOT NULL
) STRICT;
INSERT INTO generation (n) VALUES (0);

CREATE TRIGGER generation_session_ended AFTER DELETE ON user_sessions
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_session_changed AFTER UPDATE OF user_id, token_hash, expires_at ON user_sessions
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_user_changed AFTER UPDATE ON users
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_user_deleted AFTER DELETE ON users
BEGIN
    UPDATE generation SET n = n + 1;
END;
