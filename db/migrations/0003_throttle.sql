-- Events counted by the throttle (package throttle): failed sign-ins per
-- account and per address, mails sent per address or account, answers that
-- tell whether a name is taken. Kept here, not in process memory, so a
-- restart does not reset a limit and flooding other keys never pushes a
-- count out. key_hash is the SHA-256 (hex) of the rule and the key: a
-- sign-in name may be a password typed into the wrong field.
CREATE TABLE throttle_events (
    key_hash TEXT    NOT NULL,
    at       INTEGER NOT NULL  -- Unix nanoseconds
) STRICT;
CREATE INDEX throttle_events_key_idx ON throttle_events (key_hash, at);
CREATE INDEX throttle_events_at_idx ON throttle_events (at);
