-- An account's id is never given to another account: apps know an account
-- by it (product.md §12, "`sub` is the account's stable id"), and a
-- newcomer given a deleted account's id would be taken for it there.
-- SQLite gives a new row the highest id present plus one, so after the
-- newest account was deleted the next sign-up got its id. The highest id
-- a deleted account had is kept here, and CreateUser starts above it and
-- above every id present. Ids deleted before this migration are not
-- known; the floor starts at the highest id present.
CREATE TABLE id_floor (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

INSERT INTO id_floor (name, value) SELECT 'users', coalesce(max(id), 0) FROM users;

CREATE TRIGGER users_id_floor AFTER DELETE ON users
BEGIN
    UPDATE id_floor SET value = max(value, OLD.id) WHERE name = 'users';
END;
