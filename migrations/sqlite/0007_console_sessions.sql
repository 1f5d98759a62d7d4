-- Console sessions: a person signed in to the browser console (`/ui/`) with one of their API
-- keys. Only the SHA-256 of the session token (the cookie's value) is stored, like a key's
-- secret. A session acts through the key it was opened with: every page reads that key, its
-- principal and their roles afresh, so revoking the key, disabling the principal or changing a
-- role takes effect on the next page. A session ends once (signed out, or idle past the
-- configured timeout) and an ended session never changes again. Same names as PostgreSQL's.
CREATE TABLE console_sessions (
    id           TEXT NOT NULL PRIMARY KEY CONSTRAINT console_sessions_id_check CHECK (
                 length(id) = 30 AND id GLOB 'ses_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    token_hash   BLOB NOT NULL CONSTRAINT console_sessions_token_hash_check CHECK (length(token_hash) = 32),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    key_id       TEXT NOT NULL REFERENCES api_keys (id),
    created_at   TEXT NOT NULL CONSTRAINT console_sessions_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    last_seen_at TEXT NOT NULL CONSTRAINT console_sessions_last_seen_at_check CHECK (last_seen_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    ended_at     TEXT CONSTRAINT console_sessions_ended_at_check CHECK (ended_at IS NULL OR ended_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    end_reason   TEXT CONSTRAINT console_sessions_end_reason_check CHECK (end_reason IN ('signed_out', 'idle')),
    CONSTRAINT console_sessions_seen_after_creation CHECK (last_seen_at >= created_at),
    CONSTRAINT console_sessions_end_consistent CHECK (
        (ended_at IS NULL) = (end_reason IS NULL) AND (ended_at IS NULL OR ended_at >= created_at))
) STRICT;
CREATE UNIQUE INDEX console_sessions_token_hash_key ON console_sessions (token_hash);
CREATE INDEX console_sessions_by_principal ON console_sessions (principal_id, created_at DESC);

-- Only `last_seen_at` (while open) and the end may change, and an ended session is final.
CREATE TRIGGER console_sessions_guard_update BEFORE UPDATE ON console_sessions FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN OLD.ended_at IS NOT NULL THEN
            RAISE(ABORT, 'console_sessions_ended: an ended console session never changes')
        WHEN NEW.id IS NOT OLD.id
          OR NEW.token_hash IS NOT OLD.token_hash
          OR NEW.principal_id IS NOT OLD.principal_id
          OR NEW.key_id IS NOT OLD.key_id
          OR NEW.created_at IS NOT OLD.created_at THEN
            RAISE(ABORT, 'console_sessions_immutable: a console session changes only its activity and end')
    END;
END;
