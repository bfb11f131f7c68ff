-- The admin log of product.md §13: every action an administrator took on
-- the admin page, who, when, on whom. It outlives both accounts: the
-- names are kept as they were at the time, and an id becomes NULL when
-- its account is deleted (the log of a deletion must stay). The same
-- action is also written to the account's security_events (actor_id),
-- which go with the account.
CREATE TABLE admin_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,  -- Unix seconds
    actor_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor_name  TEXT    NOT NULL,
    target_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    target_name TEXT    NOT NULL,
    action      TEXT    NOT NULL,  -- what was done, e.g. "disabled"
    detail      TEXT    NOT NULL,  -- e.g. the groups set; never a secret
    ip          TEXT    NOT NULL
) STRICT;
CREATE INDEX admin_log_at_idx ON admin_log (at);
CREATE INDEX admin_log_actor_idx ON admin_log (actor_id);
CREATE INDEX admin_log_target_idx ON admin_log (target_id);
