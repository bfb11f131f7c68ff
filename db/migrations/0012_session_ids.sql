-- A session's id is never given to another session, as 0011 does for
-- accounts: the id names a session to the OpenID Connect prompt=login
-- check and to the per-session count of wrong current passwords, and
-- SQLite would give a new session the id of the newest one once that one
-- had ended (a sign-out followed by a sign-in on another browser). The
-- highest id an ended session had is kept in id_floor; CreateSession
-- starts above it.
INSERT INTO id_floor (name, value) SELECT 'user_sessions', coalesce(max(id), 0) FROM user_sessions;

CREATE TRIGGER user_sessions_id_floor AFTER DELETE ON user_sessions
BEGIN
    UPDATE id_floor SET value = max(value, OLD.id) WHERE name = 'user_sessions';
END;
