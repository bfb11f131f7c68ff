-- product.md §11: an account without a second factor never passes a
-- two-factor rule, whatever its sessions once proved. The signed-in
-- look-up reads a session's second factor as "passed one, and the account
-- still has one" (db/sessions.go), so the cache of that look-up
-- (db/cache.go) must drop what it holds when an account gains or loses a
-- factor, in this process or another (the CLI's reset-2fa): these move
-- the generation counter as migration 0004's triggers do. A pending setup
-- (setup before enable) and a passkey's use change no factor, so only a
-- change of the active secret counts.
CREATE TRIGGER generation_totp_added AFTER INSERT ON totp_secrets
WHEN NEW.secret IS NOT NULL
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_totp_changed AFTER UPDATE OF secret ON totp_secrets
WHEN OLD.secret IS NOT NEW.secret
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_totp_removed AFTER DELETE ON totp_secrets
WHEN OLD.secret IS NOT NULL
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_passkey_added AFTER INSERT ON passkeys
BEGIN
    UPDATE generation SET n = n + 1;
END;

CREATE TRIGGER generation_passkey_removed AFTER DELETE ON passkeys
BEGIN
    UPDATE generation SET n = n + 1;
END;
