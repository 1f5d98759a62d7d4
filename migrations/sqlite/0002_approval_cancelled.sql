-- Approval state `cancelled`: the job awaiting approval was cancelled (`approval.cancelled`).
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), keeping every column, constraint, index and
-- trigger name of 0001. Migrations run inside one transaction, where `PRAGMA foreign_keys`
-- cannot change; `PRAGMA defer_foreign_keys` can: the votes that reference an approval count as
-- violations while the table is being rebuilt and are satisfied again when their rows are
-- copied back, all checked at COMMIT. The table keeps its name throughout, so the foreign key
-- of `votes` and the trigger bodies naming `approvals` need no rewrite.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE approvals_0002 AS SELECT * FROM approvals;
DROP TABLE approvals;

CREATE TABLE approvals (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT approvals_id_check CHECK (
                 length(id) = 30 AND id GLOB 'apr_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    subject_id       TEXT NOT NULL REFERENCES subjects (id),
    policy_id        TEXT NOT NULL REFERENCES policies (id),
    requested_by     TEXT NOT NULL REFERENCES principals (id),
    state            TEXT NOT NULL CONSTRAINT approvals_state_check CHECK (
                         state IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    -- The policy's rules frozen at request time: [{"role": "...", "count": n}, ...].
    rules            TEXT NOT NULL CONSTRAINT approvals_rules_check CHECK (
                         CASE WHEN json_valid(rules) THEN json_type(rules) = 'array' AND json_array_length(rules) >= 1 ELSE 0 END),
    created_at       TEXT NOT NULL CONSTRAINT approvals_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at       TEXT NOT NULL CONSTRAINT approvals_expires_at_check CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    decided_at       TEXT CONSTRAINT approvals_decided_at_check CHECK (decided_at IS NULL OR decided_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    decided_by       TEXT,
    CONSTRAINT approvals_expiry_after_creation CHECK (expires_at > created_at),
    -- decided_by/decided_at are set exactly when the state is terminal.
    CONSTRAINT approvals_decision_consistent CHECK (
        (state = 'pending') = (decided_at IS NULL)
        AND (state = 'pending') = (decided_by IS NULL))
) STRICT;
CREATE UNIQUE INDEX approvals_one_pending_per_job ON approvals (job_id) WHERE state = 'pending';
CREATE INDEX approvals_by_job ON approvals (job_id, created_at DESC, id DESC);
CREATE INDEX approvals_page ON approvals (created_at DESC, id DESC);
CREATE INDEX approvals_by_state ON approvals (state, created_at DESC, id DESC);
CREATE INDEX approvals_by_subject ON approvals (subject_id, created_at DESC, id DESC);
CREATE INDEX approvals_by_requester ON approvals (requested_by, created_at DESC, id DESC);
-- Pending by age, for the reaper and the pending-age metric.
CREATE INDEX approvals_pending_due ON approvals (expires_at, id) WHERE state = 'pending';
CREATE INDEX approvals_pending_age ON approvals (created_at) WHERE state = 'pending';

INSERT INTO approvals (id, job_id, subject_id, policy_id, requested_by, state, rules,
                       created_at, expires_at, decided_at, decided_by)
SELECT id, job_id, subject_id, policy_id, requested_by, state, rules,
       created_at, expires_at, decided_at, decided_by
FROM approvals_0002;
DROP TABLE approvals_0002;

-- A decided approval never changes again, and nothing but its decision ever changes.
CREATE TRIGGER approvals_guard_update BEFORE UPDATE ON approvals FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN OLD.state <> 'pending' THEN
            RAISE(ABORT, 'approvals_terminal: a decided approval never changes')
        WHEN NEW.id IS NOT OLD.id
          OR NEW.job_id IS NOT OLD.job_id
          OR NEW.subject_id IS NOT OLD.subject_id
          OR NEW.policy_id IS NOT OLD.policy_id
          OR NEW.requested_by IS NOT OLD.requested_by
          OR NEW.rules IS NOT OLD.rules
          OR NEW.created_at IS NOT OLD.created_at
          OR NEW.expires_at IS NOT OLD.expires_at THEN
            RAISE(ABORT, 'approvals_immutable: an approval is immutable except for its decision')
    END;
END;
