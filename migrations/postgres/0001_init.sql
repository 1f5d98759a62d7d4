-- Countersign schema v1.
--
-- Constraints live here as well as in the code: every enum column has a CHECK, every
-- reference a foreign key, and the rules that matter most (decision consistency, one pending
-- approval per job, one vote per person, the job transition table, payload immutability,
-- an append-only audit trail) are enforced by the database itself, so no code path — ours,
-- an old process during a rolling deploy, or a hand-written psql session — can break them.
--
-- Migrations are append-only and backward-compatible: never edit this file, add a new one.

-- Identity --------------------------------------------------------------------------------

CREATE TABLE principals (
    id          text PRIMARY KEY CHECK (id ~ '^prn_[0-9a-z]{26}$'),
    name        text NOT NULL CONSTRAINT principals_name_key UNIQUE
                CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    kind        text NOT NULL CHECK (kind IN ('user', 'service')),
    disabled    boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL,
    CONSTRAINT principals_disabled_consistent CHECK (disabled = (disabled_at IS NOT NULL))
);
CREATE INDEX principals_page ON principals (created_at DESC, id DESC);

CREATE TABLE roles (
    -- Byte order (COLLATE "C") so role lists page the same under any database collation.
    id          text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
    builtin     boolean NOT NULL DEFAULT false,
    generation  bigint NOT NULL DEFAULT 1 CHECK (generation >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX roles_page ON roles (created_at DESC, id DESC);

CREATE TABLE role_permissions (
    role_id    text COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission IN (
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
);

CREATE TABLE principal_roles (
    principal_id text NOT NULL REFERENCES principals (id),
    role_id      text COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_by   text,
    granted_at   timestamptz NOT NULL,
    PRIMARY KEY (principal_id, role_id)
);
CREATE INDEX principal_roles_role ON principal_roles (role_id);

CREATE TABLE api_keys (
    id           text PRIMARY KEY CHECK (id ~ '^key_[0-9a-z]{26}$'),
    principal_id text NOT NULL REFERENCES principals (id),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX api_keys_principal ON api_keys (principal_id, created_at DESC, id DESC);
CREATE INDEX api_keys_page ON api_keys (created_at DESC, id DESC);

-- Built-in roles: the same set as countersign_domain::role::builtin_roles (a test compares).
INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) VALUES
    ('admin', 'Every permission.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('requester', 'Requests jobs and follows their approvals.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('approver', 'Reads and decides approval requests.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('auditor', 'Read-only everywhere, plus audit export.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('worker', 'Claims and completes approved jobs.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('audit-writer', 'Ingests audit events from embedding services.', true, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
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

-- Built-in roles cannot be deleted, by anyone.
CREATE FUNCTION roles_refuse_builtin_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.builtin THEN
        RAISE EXCEPTION 'built-in role % cannot be deleted', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'roles_builtin_protected';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER roles_refuse_builtin_delete BEFORE DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION roles_refuse_builtin_delete();

-- Policies and subjects -------------------------------------------------------------------

CREATE TABLE policies (
    id                    text PRIMARY KEY CHECK (id ~ '^pol_[0-9a-z]{26}$'),
    name                  text NOT NULL CONSTRAINT policies_name_key UNIQUE
                          CHECK (length(name) BETWEEN 1 AND 128),
    requires_approval     boolean NOT NULL,
    approval_timeout_secs bigint NOT NULL CHECK (approval_timeout_secs BETWEEN 1 AND 31622400),
    generation            bigint NOT NULL CHECK (generation >= 1),
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX policies_page ON policies (created_at DESC, id DESC);

CREATE TABLE policy_rules (
    policy_id text NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    position  integer NOT NULL CHECK (position >= 0),
    role_id   text COLLATE "C" NOT NULL CONSTRAINT policy_rules_role_id_fkey REFERENCES roles (id) ON DELETE RESTRICT,
    count     integer NOT NULL CHECK (count BETWEEN 1 AND 100),
    PRIMARY KEY (policy_id, position),
    CONSTRAINT policy_rules_one_per_role UNIQUE (policy_id, role_id)
);
CREATE INDEX policy_rules_role ON policy_rules (role_id);

-- A policy that requires approval has at least one rule, checked at commit so a policy and
-- its rules can be written in any order within one transaction.
CREATE FUNCTION policy_requires_rules(pid text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM policies p WHERE p.id = pid AND p.requires_approval)
       AND NOT EXISTS (SELECT 1 FROM policy_rules r WHERE r.policy_id = pid) THEN
        RAISE EXCEPTION 'policy % requires approval but has no rules', pid
            USING ERRCODE = 'check_violation', CONSTRAINT = 'policies_rules_when_required';
    END IF;
END $$;

CREATE FUNCTION policies_rules_when_required() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'policies' THEN
        PERFORM policy_requires_rules(NEW.id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM policy_requires_rules(OLD.policy_id);
    ELSE
        PERFORM policy_requires_rules(NEW.policy_id);
        IF TG_OP = 'UPDATE' AND OLD.policy_id <> NEW.policy_id THEN
            PERFORM policy_requires_rules(OLD.policy_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER policies_rules_when_required AFTER INSERT OR UPDATE ON policies
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION policies_rules_when_required();
CREATE CONSTRAINT TRIGGER policy_rules_rules_when_required AFTER UPDATE OR DELETE ON policy_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION policies_rules_when_required();

CREATE TABLE subjects (
    id         text PRIMARY KEY CHECK (id ~ '^sub_[0-9a-z]{26}$'),
    kind       text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    policy_id  text NOT NULL REFERENCES policies (id),
    labels     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at timestamptz NOT NULL,
    CONSTRAINT subjects_kind_name_key UNIQUE (kind, name)
);
CREATE INDEX subjects_page ON subjects (created_at DESC, id DESC);
CREATE INDEX subjects_by_kind ON subjects (kind, created_at DESC, id DESC);
CREATE INDEX subjects_by_policy ON subjects (policy_id, created_at DESC, id DESC);

-- Jobs ------------------------------------------------------------------------------------

CREATE TABLE jobs (
    id               text PRIMARY KEY CHECK (id ~ '^job_[0-9a-z]{26}$'),
    subject_id       text NOT NULL REFERENCES subjects (id),
    action           text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.-]{0,127}$'),
    payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    payload_sha256   text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    status           text NOT NULL CHECK (status IN
                     ('awaiting_approval', 'pending', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_by     text NOT NULL REFERENCES principals (id),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_by       text REFERENCES principals (id),
    lease_expires_at timestamptz,
    result_message   text CHECK (length(result_message) <= 4096),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- A running job always has a holder and a lease; no other status has a lease.
    CONSTRAINT jobs_lease_consistent CHECK (
        (status = 'running') = (lease_expires_at IS NOT NULL)
        AND (status <> 'running' OR claimed_by IS NOT NULL))
);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_page ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_subject ON jobs (subject_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_status ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_claimable ON jobs (created_at, id) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';

-- The job transition table (countersign_domain::job::TRANSITIONS) and payload immutability.
CREATE FUNCTION jobs_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.payload_sha256 IS DISTINCT FROM OLD.payload_sha256
       OR NEW.action IS DISTINCT FROM OLD.action
       OR NEW.subject_id IS DISTINCT FROM OLD.subject_id
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
       OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'job % is immutable except for its status fields', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'jobs_immutable';
    END IF;
    -- Every update is one of the listed transitions. An update that keeps the status is
    -- refused too: otherwise a late writer could still rewrite a terminal job's result,
    -- holder or attempts (and no store operation updates a job without moving it).
    IF (OLD.status, NEW.status) NOT IN (
        ('awaiting_approval', 'pending'),
        ('awaiting_approval', 'cancelled'),
        ('pending', 'running'),
        ('pending', 'cancelled'),
        ('running', 'succeeded'),
        ('running', 'failed'),
        ('running', 'cancelled'),
        ('running', 'pending')) THEN
        RAISE EXCEPTION 'job % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'jobs_transition';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_guard_update BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_guard_update();

-- Approvals -------------------------------------------------------------------------------

CREATE TABLE approvals (
    id           text PRIMARY KEY CHECK (id ~ '^apr_[0-9a-z]{26}$'),
    job_id       text NOT NULL REFERENCES jobs (id),
    subject_id   text NOT NULL REFERENCES subjects (id),
    policy_id    text NOT NULL REFERENCES policies (id),
    requested_by text NOT NULL REFERENCES principals (id),
    state        text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    -- The policy's rules frozen at request time: [{"role": "...", "count": n}, ...].
    rules        jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'array' AND jsonb_array_length(rules) >= 1),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    decided_by   text,
    CONSTRAINT approvals_expiry_after_creation CHECK (expires_at > created_at),
    -- decided_by/decided_at are set exactly when the state is terminal.
    CONSTRAINT approvals_decision_consistent CHECK (
        (state = 'pending') = (decided_at IS NULL)
        AND (state = 'pending') = (decided_by IS NULL))
);
CREATE UNIQUE INDEX approvals_one_pending_per_job ON approvals (job_id) WHERE state = 'pending';
CREATE INDEX approvals_by_job ON approvals (job_id, created_at DESC);
CREATE INDEX approvals_page ON approvals (created_at DESC, id DESC);
CREATE INDEX approvals_by_state ON approvals (state, created_at DESC, id DESC);
CREATE INDEX approvals_by_subject ON approvals (subject_id, created_at DESC, id DESC);
CREATE INDEX approvals_by_requester ON approvals (requested_by, created_at DESC, id DESC);
-- Pending by age, for the reaper and the pending-age metric.
CREATE INDEX approvals_pending_due ON approvals (expires_at) WHERE state = 'pending';
CREATE INDEX approvals_pending_age ON approvals (created_at) WHERE state = 'pending';

-- A decided approval never changes again, and nothing but its decision ever changes.
CREATE FUNCTION approvals_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'approval % is already %', OLD.id, OLD.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_terminal';
    END IF;
    IF (NEW.job_id, NEW.subject_id, NEW.policy_id, NEW.requested_by, NEW.rules, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.job_id, OLD.subject_id, OLD.policy_id, OLD.requested_by, OLD.rules, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'approval % is immutable except for its decision', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER approvals_guard_update BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_guard_update();

CREATE TABLE votes (
    approval_id  text NOT NULL REFERENCES approvals (id),
    principal_id text NOT NULL REFERENCES principals (id),
    decision     text NOT NULL CHECK (decision IN ('approve', 'reject')),
    note         text CHECK (length(note) <= 2000),
    -- The roles the voter held when voting; later role changes never rewrite history.
    roles        text[] NOT NULL,
    at           timestamptz NOT NULL,
    -- Insertion order: votes are listed in voting order even when two share a timestamp.
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT votes_pkey PRIMARY KEY (approval_id, principal_id)
);
CREATE INDEX votes_by_approval ON votes (approval_id, seq);

-- Votes are history: never updated or deleted, and only cast on pending approvals.
CREATE FUNCTION votes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'votes are append-only'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'votes_append_only';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM approvals WHERE id = NEW.approval_id AND state = 'pending') THEN
        RAISE EXCEPTION 'approval % is not pending', NEW.approval_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'votes_on_pending_only';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER votes_guard BEFORE INSERT OR UPDATE OR DELETE ON votes
    FOR EACH ROW EXECUTE FUNCTION votes_guard();
CREATE FUNCTION votes_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'votes are append-only'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'votes_append_only';
END $$;
CREATE TRIGGER votes_no_truncate BEFORE TRUNCATE ON votes
    FOR EACH STATEMENT EXECUTE FUNCTION votes_refuse_truncate();

-- Audit -----------------------------------------------------------------------------------

CREATE TABLE audit_events (
    event_id      text PRIMARY KEY CHECK (event_id ~ '^evt_[0-9a-z]{26}$'),
    ts            timestamptz NOT NULL,
    category      text NOT NULL CHECK (category IN ('lifecycle', 'auth', 'config', 'access', 'audit')),
    action        text NOT NULL CHECK (action ~ '^[a-z0-9._-]{1,128}$'),
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'service', 'system')),
    actor_id      text NOT NULL,
    actor_name    text,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    decision      text NOT NULL CHECK (decision IN ('allow', 'deny')),
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'error')),
    request_id    text,
    ingested_by   text,
    -- The event exactly as serialized (countersign.audit.v1), kept byte for byte: exports
    -- stream this text as it is.
    body          json NOT NULL
);
CREATE INDEX audit_events_order ON audit_events (ts, event_id);
CREATE INDEX audit_events_by_category ON audit_events (category, ts, event_id);
CREATE INDEX audit_events_by_action ON audit_events (action, ts, event_id);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, ts, event_id);
CREATE INDEX audit_events_by_actor_name ON audit_events (actor_name, ts, event_id) WHERE actor_name IS NOT NULL;
CREATE INDEX audit_events_by_resource ON audit_events (resource_type, resource_id, ts, event_id);

-- The trail is append-only in the database itself.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'audit_events_append_only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
