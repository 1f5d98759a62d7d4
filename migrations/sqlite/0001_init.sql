-- Countersign schema v1, SQLite edition.
--
-- The same tables, names and rules as migrations/postgres/0001_init.sql, written for SQLite:
-- every enum column has a CHECK, every reference a foreign key, and the rules that matter
-- most (decision consistency, one pending approval per job, one vote per person, the job
-- transition table, payload immutability, an append-only audit trail, undeletable built-in
-- roles) are enforced by the database itself, so no code path — ours, an old process, or a
-- hand-written `sqlite3` session — can break them.
--
-- SQLite specifics:
-- - Tables are STRICT, so a column only ever holds its declared type.
-- - Timestamps are TEXT in one fixed-width UTC form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`
--   (microseconds, like PostgreSQL's timestamptz). The CHECKs refuse any other shape, so text
--   order is time order and keyset pagination and range filters compare text.
-- - Booleans are INTEGER 0/1; JSON values (payloads, labels, frozen rules, vote roles, the
--   audit body) are TEXT checked with json_valid/json_type. The audit `body` is stored as
--   sent, byte for byte.
-- - Identifier shapes use GLOB (SQLite has no regular expressions by default).
-- - Every named rule keeps its PostgreSQL name. CHECKs are named explicitly; triggers
--   refuse with RAISE(ABORT, '<constraint>: <why>') and the store maps the prefix back to
--   the constraint. Unique violations are reported by SQLite as column lists, which the store
--   maps to the index names (votes_pkey, approvals_one_pending_per_job, …).
-- - "A policy that requires approval has rules" is checked at COMMIT, as in PostgreSQL, by a
--   DEFERRABLE INITIALLY DEFERRED foreign key from such a policy to its first rule.
--
-- Migrations are append-only and backward-compatible: never edit this file, add a new one.

-- Identity --------------------------------------------------------------------------------

CREATE TABLE principals (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT principals_id_check CHECK (
                 length(id) = 30 AND id GLOB 'prn_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    name             TEXT NOT NULL CONSTRAINT principals_name_key UNIQUE
                     CONSTRAINT principals_name_check CHECK (
                         length(name) BETWEEN 1 AND 64 AND name GLOB '[a-z0-9]*'
                         AND name NOT GLOB '*[^a-z0-9._-]*'),
    kind             TEXT NOT NULL CONSTRAINT principals_kind_check CHECK (kind IN ('user', 'service')),
    disabled         INTEGER NOT NULL DEFAULT 0 CONSTRAINT principals_disabled_check CHECK (disabled IN (0, 1)),
    disabled_at      TEXT CONSTRAINT principals_disabled_at_check CHECK (disabled_at IS NULL OR disabled_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at       TEXT NOT NULL CONSTRAINT principals_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT principals_disabled_consistent CHECK (disabled = (disabled_at IS NOT NULL))
) STRICT;
CREATE INDEX principals_page ON principals (created_at DESC, id DESC);

CREATE TABLE roles (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT roles_id_check CHECK (
                         length(id) BETWEEN 1 AND 63 AND id GLOB '[a-z0-9]*'
                         AND id NOT GLOB '*[^a-z0-9-]*'),
    description      TEXT NOT NULL DEFAULT '' CONSTRAINT roles_description_check CHECK (length(description) <= 1024),
    builtin          INTEGER NOT NULL DEFAULT 0 CONSTRAINT roles_builtin_check CHECK (builtin IN (0, 1)),
    generation       INTEGER NOT NULL DEFAULT 1 CONSTRAINT roles_generation_check CHECK (generation >= 1),
    created_at       TEXT NOT NULL CONSTRAINT roles_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at       TEXT NOT NULL CONSTRAINT roles_updated_at_check CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX roles_page ON roles (created_at DESC, id DESC);

CREATE TABLE role_permissions (
    role_id          TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission       TEXT NOT NULL CONSTRAINT role_permissions_permission_check CHECK (permission IN (
        'policy.read',
        'policy.write',
        'subject.read',
        'subject.write',
        'job.read',
        'job.request',
        'job.cancel',
        'job.claim',
        'job.complete',
        'approval.read',
        'approval.approve',
        'approval.reject',
        'audit.read',
        'audit.export',
        'audit.write',
        'auth.principal.read',
        'auth.principal.write',
        'auth.key.read',
        'auth.key.create',
        'auth.key.revoke',
        'auth.role.read',
        'auth.role.create',
        'auth.role.edit',
        'auth.role.delete',
        'auth.role.assign',
        'auth.role.revoke')),
    PRIMARY KEY (role_id, permission)
) STRICT;

CREATE TABLE principal_roles (
    principal_id     TEXT NOT NULL REFERENCES principals (id),
    role_id          TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_by       TEXT,
    granted_at       TEXT NOT NULL CONSTRAINT principal_roles_granted_at_check CHECK (granted_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (principal_id, role_id)
) STRICT;
CREATE INDEX principal_roles_role ON principal_roles (role_id);

CREATE TABLE api_keys (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT api_keys_id_check CHECK (
                 length(id) = 30 AND id GLOB 'key_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    principal_id     TEXT NOT NULL REFERENCES principals (id),
    secret_hash      BLOB NOT NULL CONSTRAINT api_keys_secret_hash_check CHECK (length(secret_hash) = 32),
    created_at       TEXT NOT NULL CONSTRAINT api_keys_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at       TEXT CONSTRAINT api_keys_expires_at_check CHECK (expires_at IS NULL OR expires_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    revoked_at       TEXT CONSTRAINT api_keys_revoked_at_check CHECK (revoked_at IS NULL OR revoked_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
) STRICT;
CREATE INDEX api_keys_principal ON api_keys (principal_id, created_at DESC, id DESC);
CREATE INDEX api_keys_page ON api_keys (created_at DESC, id DESC);

-- Built-in roles: the same set as countersign_domain::role::builtin_roles (a test compares).
INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) VALUES
    ('admin', 'Every permission.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('requester', 'Requests jobs and follows their approvals.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('approver', 'Reads and decides approval requests.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('auditor', 'Read-only everywhere, plus audit export.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('worker', 'Claims and completes approved jobs.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('audit-writer', 'Ingests audit events from embedding services.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
INSERT INTO role_permissions (role_id, permission) VALUES
    ('admin', 'policy.read'),
    ('admin', 'policy.write'),
    ('admin', 'subject.read'),
    ('admin', 'subject.write'),
    ('admin', 'job.read'),
    ('admin', 'job.request'),
    ('admin', 'job.cancel'),
    ('admin', 'job.claim'),
    ('admin', 'job.complete'),
    ('admin', 'approval.read'),
    ('admin', 'approval.approve'),
    ('admin', 'approval.reject'),
    ('admin', 'audit.read'),
    ('admin', 'audit.export'),
    ('admin', 'audit.write'),
    ('admin', 'auth.principal.read'),
    ('admin', 'auth.principal.write'),
    ('admin', 'auth.key.read'),
    ('admin', 'auth.key.create'),
    ('admin', 'auth.key.revoke'),
    ('admin', 'auth.role.read'),
    ('admin', 'auth.role.create'),
    ('admin', 'auth.role.edit'),
    ('admin', 'auth.role.delete'),
    ('admin', 'auth.role.assign'),
    ('admin', 'auth.role.revoke'),
    ('requester', 'policy.read'),
    ('requester', 'subject.read'),
    ('requester', 'job.read'),
    ('requester', 'job.request'),
    ('requester', 'job.cancel'),
    ('requester', 'approval.read'),
    ('approver', 'policy.read'),
    ('approver', 'subject.read'),
    ('approver', 'job.read'),
    ('approver', 'approval.read'),
    ('approver', 'approval.approve'),
    ('approver', 'approval.reject'),
    ('auditor', 'policy.read'),
    ('auditor', 'subject.read'),
    ('auditor', 'job.read'),
    ('auditor', 'approval.read'),
    ('auditor', 'audit.read'),
    ('auditor', 'auth.principal.read'),
    ('auditor', 'auth.key.read'),
    ('auditor', 'auth.role.read'),
    ('auditor', 'audit.export'),
    ('worker', 'job.claim'),
    ('worker', 'job.complete'),
    ('worker', 'job.read'),
    ('audit-writer', 'audit.write');

-- Policies and subjects -------------------------------------------------------------------

CREATE TABLE policies (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT policies_id_check CHECK (
                 length(id) = 30 AND id GLOB 'pol_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    name             TEXT NOT NULL CONSTRAINT policies_name_key UNIQUE
                     CONSTRAINT policies_name_check CHECK (length(name) BETWEEN 1 AND 128),
    requires_approval INTEGER NOT NULL CONSTRAINT policies_requires_approval_check CHECK (requires_approval IN (0, 1)),
    approval_timeout_secs INTEGER NOT NULL CONSTRAINT policies_approval_timeout_secs_check
                     CHECK (approval_timeout_secs BETWEEN 1 AND 31622400),
    generation       INTEGER NOT NULL CONSTRAINT policies_generation_check CHECK (generation >= 1),
    created_at       TEXT NOT NULL CONSTRAINT policies_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at       TEXT NOT NULL CONSTRAINT policies_updated_at_check CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- 0 when the policy requires approval (then its rule at position 0 must exist), else NULL.
    first_rule       INTEGER GENERATED ALWAYS AS (CASE WHEN requires_approval THEN 0 END) VIRTUAL,
    -- A policy that requires approval has at least one rule, checked at COMMIT so a policy
    -- and its rules can be written in any order within one transaction. SQLite reports a
    -- deferred violation only as "FOREIGN KEY constraint failed" when COMMIT is refused; it is
    -- the only deferred constraint of the schema, so the store names it.
    CONSTRAINT policies_rules_when_required FOREIGN KEY (id, first_rule)
        REFERENCES policy_rules (policy_id, position) DEFERRABLE INITIALLY DEFERRED
) STRICT;
CREATE INDEX policies_page ON policies (created_at DESC, id DESC);

CREATE TABLE policy_rules (
    policy_id        TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL CONSTRAINT policy_rules_position_check CHECK (position >= 0),
    role_id          TEXT NOT NULL CONSTRAINT policy_rules_role_id_fkey REFERENCES roles (id) ON DELETE RESTRICT,
    count            INTEGER NOT NULL CONSTRAINT policy_rules_count_check CHECK (count BETWEEN 1 AND 100),
    PRIMARY KEY (policy_id, position),
    CONSTRAINT policy_rules_one_per_role UNIQUE (policy_id, role_id)
) STRICT;
CREATE INDEX policy_rules_role ON policy_rules (role_id);

-- SQLite does not name the foreign key a write broke; these triggers refuse the two writes
-- the store must report as `policy_rules_role_id_fkey` before the key itself would.
CREATE TRIGGER policy_rules_role_exists_on_insert BEFORE INSERT ON policy_rules FOR EACH ROW
    WHEN NOT EXISTS (SELECT 1 FROM roles WHERE id = NEW.role_id)
BEGIN
    SELECT RAISE(ABORT, 'policy_rules_role_id_fkey: the rule names a role that does not exist');
END;
CREATE TRIGGER policy_rules_role_exists_on_update BEFORE UPDATE OF role_id ON policy_rules FOR EACH ROW
    WHEN NOT EXISTS (SELECT 1 FROM roles WHERE id = NEW.role_id)
BEGIN
    SELECT RAISE(ABORT, 'policy_rules_role_id_fkey: the rule names a role that does not exist');
END;

-- Built-in roles cannot be deleted, by anyone; a role a policy rule names cannot be either.
CREATE TRIGGER roles_guard_delete BEFORE DELETE ON roles FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN OLD.builtin THEN
            RAISE(ABORT, 'roles_builtin_protected: a built-in role cannot be deleted')
        WHEN EXISTS (SELECT 1 FROM policy_rules WHERE role_id = OLD.id) THEN
            RAISE(ABORT, 'policy_rules_role_id_fkey: the role is named by a policy rule')
    END;
END;

CREATE TABLE subjects (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT subjects_id_check CHECK (
                 length(id) = 30 AND id GLOB 'sub_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    kind             TEXT NOT NULL CONSTRAINT subjects_kind_check CHECK (
                         length(kind) BETWEEN 1 AND 64 AND kind GLOB '[a-z]*'
                         AND kind NOT GLOB '*[^a-z0-9_.-]*'),
    name             TEXT NOT NULL CONSTRAINT subjects_name_check CHECK (length(name) BETWEEN 1 AND 256),
    policy_id        TEXT NOT NULL REFERENCES policies (id),
    labels           TEXT NOT NULL DEFAULT '{}' CONSTRAINT subjects_labels_check CHECK (
                         CASE WHEN json_valid(labels) THEN json_type(labels) = 'object' ELSE 0 END),
    created_at       TEXT NOT NULL CONSTRAINT subjects_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT subjects_kind_name_key UNIQUE (kind, name)
) STRICT;
CREATE INDEX subjects_page ON subjects (created_at DESC, id DESC);
CREATE INDEX subjects_by_kind ON subjects (kind, created_at DESC, id DESC);
CREATE INDEX subjects_by_policy ON subjects (policy_id, created_at DESC, id DESC);

-- Jobs ------------------------------------------------------------------------------------

CREATE TABLE jobs (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT jobs_id_check CHECK (
                 length(id) = 30 AND id GLOB 'job_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    subject_id       TEXT NOT NULL REFERENCES subjects (id),
    action           TEXT NOT NULL CONSTRAINT jobs_action_check CHECK (
                         length(action) BETWEEN 1 AND 128 AND action GLOB '[a-z]*'
                         AND action NOT GLOB '*[^a-z0-9_.-]*'),
    payload          TEXT NOT NULL CONSTRAINT jobs_payload_check CHECK (
                         CASE WHEN json_valid(payload) THEN json_type(payload) = 'object' ELSE 0 END),
    payload_sha256   TEXT NOT NULL CONSTRAINT jobs_payload_sha256_check CHECK (
                         length(payload_sha256) = 64 AND payload_sha256 NOT GLOB '*[^0-9a-f]*'),
    status           TEXT NOT NULL CONSTRAINT jobs_status_check CHECK (status IN
                     ('awaiting_approval', 'pending', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_by     TEXT NOT NULL REFERENCES principals (id),
    idempotency_key  TEXT CONSTRAINT jobs_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    attempts         INTEGER NOT NULL DEFAULT 0 CONSTRAINT jobs_attempts_check CHECK (attempts >= 0),
    claimed_by       TEXT REFERENCES principals (id),
    lease_expires_at TEXT CONSTRAINT jobs_lease_expires_at_check CHECK (lease_expires_at IS NULL OR lease_expires_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    result_message   TEXT CONSTRAINT jobs_result_message_check CHECK (length(result_message) <= 4096),
    created_at       TEXT NOT NULL CONSTRAINT jobs_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at       TEXT NOT NULL CONSTRAINT jobs_updated_at_check CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- A running job always has a holder and a lease; no other status has a lease.
    CONSTRAINT jobs_lease_consistent CHECK (
        (status = 'running') = (lease_expires_at IS NOT NULL)
        AND (status <> 'running' OR claimed_by IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_page ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_subject ON jobs (subject_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_status ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_claimable ON jobs (created_at, id) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at, id) WHERE status = 'running';

-- The job transition table (countersign_domain::job::TRANSITIONS) and payload immutability.
-- Every update is one of the listed transitions. An update that keeps the status is refused
-- too: otherwise a late writer could still rewrite a terminal job's result, holder or
-- attempts (and no store operation updates a job without moving it).
CREATE TRIGGER jobs_guard_update BEFORE UPDATE ON jobs FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN NEW.id IS NOT OLD.id
          OR NEW.payload IS NOT OLD.payload
          OR NEW.payload_sha256 IS NOT OLD.payload_sha256
          OR NEW.action IS NOT OLD.action
          OR NEW.subject_id IS NOT OLD.subject_id
          OR NEW.requested_by IS NOT OLD.requested_by
          OR NEW.idempotency_key IS NOT OLD.idempotency_key
          OR NEW.created_at IS NOT OLD.created_at THEN
            RAISE(ABORT, 'jobs_immutable: a job is immutable except for its status fields')
        WHEN OLD.status || ' -> ' || NEW.status NOT IN (
            'awaiting_approval -> pending',
            'awaiting_approval -> cancelled',
            'pending -> running',
            'pending -> cancelled',
            'running -> succeeded',
            'running -> failed',
            'running -> cancelled',
            'running -> pending') THEN
            RAISE(ABORT, 'jobs_transition: the job cannot make this status change')
    END;
END;

-- Approvals -------------------------------------------------------------------------------

CREATE TABLE approvals (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT approvals_id_check CHECK (
                 length(id) = 30 AND id GLOB 'apr_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    subject_id       TEXT NOT NULL REFERENCES subjects (id),
    policy_id        TEXT NOT NULL REFERENCES policies (id),
    requested_by     TEXT NOT NULL REFERENCES principals (id),
    state            TEXT NOT NULL CONSTRAINT approvals_state_check CHECK (
                         state IN ('pending', 'approved', 'rejected', 'expired')),
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

CREATE TABLE votes (
    -- Insertion order (the rowid): votes are listed in voting order even when two share a
    -- timestamp. Votes are never deleted, so it only grows.
    seq              INTEGER PRIMARY KEY,
    approval_id      TEXT NOT NULL REFERENCES approvals (id),
    principal_id     TEXT NOT NULL REFERENCES principals (id),
    decision         TEXT NOT NULL CONSTRAINT votes_decision_check CHECK (decision IN ('approve', 'reject')),
    note             TEXT CONSTRAINT votes_note_check CHECK (length(note) <= 2000),
    -- The roles the voter held when voting (a JSON array of role ids); later role changes
    -- never rewrite history.
    roles            TEXT NOT NULL CONSTRAINT votes_roles_check CHECK (CASE WHEN json_valid(roles) THEN json_type(roles) = 'array' ELSE 0 END),
    at               TEXT NOT NULL CONSTRAINT votes_at_check CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT votes_pkey UNIQUE (approval_id, principal_id)
) STRICT;

-- Votes are history: never updated or deleted, and only cast on pending approvals.
CREATE TRIGGER votes_no_update BEFORE UPDATE ON votes
BEGIN
    SELECT RAISE(ABORT, 'votes_append_only: votes are never updated or deleted');
END;
CREATE TRIGGER votes_no_delete BEFORE DELETE ON votes
BEGIN
    SELECT RAISE(ABORT, 'votes_append_only: votes are never updated or deleted');
END;
CREATE TRIGGER votes_on_pending_only BEFORE INSERT ON votes FOR EACH ROW
    WHEN NOT EXISTS (SELECT 1 FROM approvals WHERE id = NEW.approval_id AND state = 'pending')
BEGIN
    SELECT RAISE(ABORT, 'votes_on_pending_only: the approval is not pending');
END;

-- Audit -----------------------------------------------------------------------------------

CREATE TABLE audit_events (
    event_id         TEXT NOT NULL PRIMARY KEY CONSTRAINT audit_events_event_id_check CHECK (
                         length(event_id) = 30 AND event_id GLOB 'evt_*'
                         AND substr(event_id, 5) NOT GLOB '*[^0-9a-z]*'),
    -- The event's time truncated to microseconds (the body keeps any finer precision).
    ts               TEXT NOT NULL CONSTRAINT audit_events_ts_check CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    category         TEXT NOT NULL CONSTRAINT audit_events_category_check CHECK (
                         category IN ('lifecycle', 'auth', 'config', 'access', 'audit')),
    action           TEXT NOT NULL CONSTRAINT audit_events_action_check CHECK (
                         length(action) BETWEEN 1 AND 128 AND action NOT GLOB '*[^a-z0-9._-]*'),
    actor_kind       TEXT NOT NULL CONSTRAINT audit_events_actor_kind_check CHECK (
                         actor_kind IN ('user', 'service', 'system')),
    actor_id         TEXT NOT NULL,
    actor_name       TEXT,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    decision         TEXT NOT NULL CONSTRAINT audit_events_decision_check CHECK (decision IN ('allow', 'deny')),
    outcome          TEXT NOT NULL CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('ok', 'error')),
    request_id       TEXT,
    ingested_by      TEXT,
    -- The event exactly as serialized (countersign.audit.v1), kept byte for byte: exports
    -- stream this text as it is.
    body             TEXT NOT NULL CONSTRAINT audit_events_body_check CHECK (CASE WHEN json_valid(body) THEN json_type(body) = 'object' ELSE 0 END)
) STRICT;
CREATE INDEX audit_events_order ON audit_events (ts, event_id);
CREATE INDEX audit_events_by_category ON audit_events (category, ts, event_id);
CREATE INDEX audit_events_by_action ON audit_events (action, ts, event_id);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, ts, event_id);
CREATE INDEX audit_events_by_actor_name ON audit_events (actor_name, ts, event_id) WHERE actor_name IS NOT NULL;
CREATE INDEX audit_events_by_resource ON audit_events (resource_type, resource_id, ts, event_id);

-- The trail is append-only in the database itself (SQLite has no TRUNCATE; a DELETE without
-- WHERE runs these row triggers too).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events_append_only: audit_events is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events_append_only: audit_events is append-only: DELETE refused');
END;
