-- The new-device check of product.md §13 asks, at every sign-in, whether
-- the account signed in from this browser in the last 90 days. With only
-- (user_id, at) it read every sign-in of those 90 days from the table, a
-- cost that grew with each sign-in (docs/PERFORMANCE.md). With this index
-- the usual answer, the same User-Agent as before, is one look-up, and the
-- list of the account's browsers is read from the index alone.
CREATE INDEX security_events_browser_idx ON security_events (user_id, kind, user_agent, at);
