-- Console sessions: a person signed in to the browser console (`/ui/`) with one of their API
-- keys. Only the SHA-256 of the session token (the cookie's value) is stored, like a key's
-- secret. A session acts through the key it was opened with: every page reads that key, its
-- principal and their roles afresh, so revoking the key, disabling the principal or changing a
-- role takes effect on the next page. A session ends once (signed out, or idle past the
-- configured timeout) and an ended session never changes again.
CREATE TABLE console_sessions (
    id           text PRIMARY KEY CHECK (id ~ '^ses_[0-9a-z]{26}$'),
    token_hash   bytea NOT NULL CHECK (length(token_hash) = 32),
    principal_id text NOT NULL REFERENCES principals (id),
    key_id       text NOT NULL REFERENCES api_keys (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at     timestamptz,
    end_reason   text CHECK (end_reason IN ('signed_out', 'idle')),
    CONSTRAINT console_sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT console_sessions_seen_after_creation CHECK (last_seen_at >= created_at),
    CONSTRAINT console_sessions_end_consistent CHECK (
        (ended_at IS NULL) = (end_reason IS NULL) AND (ended_at IS NULL OR ended_at >= created_at))
);
CREATE INDEX console_sessions_by_principal ON console_sessions (principal_id, created_at DESC);

-- Only `last_seen_at` (while open) and the end may change, and an ended session is final.
CREATE FUNCTION console_sessions_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'console session % has ended', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'console_sessions_ended';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.token_hash IS DISTINCT FROM OLD.token_hash
       OR NEW.principal_id IS DISTINCT FROM OLD.principal_id OR NEW.key_id IS DISTINCT FROM OLD.key_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'console session % is immutable except for its activity and end', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'console_sessions_immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER console_sessions_guard_update BEFORE UPDATE ON console_sessions
    FOR EACH ROW EXECUTE FUNCTION console_sessions_guard_update();
