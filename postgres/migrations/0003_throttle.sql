-- Events counted by the throttle (see db/migrations/0003_throttle.sql).
-- key_hash is the SHA-256 (hex) of the rule and the key; at is Unix
-- nanoseconds, as in SQLite.
CREATE TABLE throttle_events (
    key_hash TEXT   NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX throttle_events_key_idx ON throttle_events (key_hash, at);
CREATE INDEX throttle_events_at_idx ON throttle_events (at);
