-- The transparency log: every stored audit event becomes a leaf of an append-only Merkle log
-- (RFC 6962 hashing, C2SP tlog-tiles of height 8, signed C2SP checkpoints).
--
-- - `log_pending`: events waiting to be sequenced. A trigger on `audit_events` queues each new
--   event in the transaction that inserts it, so an event exists exactly when it is queued; a
--   transaction that commits late is simply sequenced by a later batch, never skipped. Events
--   stored before this migration are queued here in `(ts, event_id)` order.
-- - `log_leaves`: event -> leaf index, both unique, numbered from 0 with no gap; append-only.
--   (No foreign key to `audit_events`: one would make TRUNCATE of the trail fail on the key
--   before its append-only trigger refuses it; events are never deleted, and the scheduler's
--   self-check reports a leaf whose event is gone.)
-- - `log_tiles`: the hash tiles, one row per (level, index) holding its current width. A
--   partial tile only grows (its stored hashes are a prefix of the wider tile); a full tile
--   never changes; no tile is deleted.
-- - `log_state`: the tree the sequencer has built (size and root), one row, only growing.
-- - `log_checkpoints`: signed checkpoints (C2SP signed-note text); append-only.
--
-- The sequencer moves a batch from `log_pending` to `log_leaves` and `log_tiles`, advances
-- `log_state` and may add a checkpoint, all in one transaction.

-- New permission: log.read (admin has all; auditor gains it).
ALTER TABLE role_permissions DROP CONSTRAINT role_permissions_permission_check;
ALTER TABLE role_permissions ADD CONSTRAINT role_permissions_permission_check CHECK (permission IN (
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
        'auth.role.revoke',
        'webhook.read',
        'webhook.write',
        'log.read'));
INSERT INTO role_permissions (role_id, permission) VALUES
    ('admin', 'log.read'),
    ('auditor', 'log.read');

CREATE TABLE log_pending (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  text NOT NULL CONSTRAINT log_pending_event_id_key UNIQUE
);

CREATE TABLE log_leaves (
    leaf_index bigint PRIMARY KEY CONSTRAINT log_leaves_leaf_index_check CHECK (leaf_index >= 0),
    event_id   text NOT NULL CONSTRAINT log_leaves_event_id_key UNIQUE
);

CREATE TABLE log_tiles (
    level   integer NOT NULL CONSTRAINT log_tiles_level_check CHECK (level BETWEEN 0 AND 63),
    idx     bigint NOT NULL CONSTRAINT log_tiles_idx_check CHECK (idx >= 0),
    width   integer NOT NULL CONSTRAINT log_tiles_width_check CHECK (width BETWEEN 1 AND 256),
    -- `width` consecutive 32-byte hashes.
    hashes  bytea NOT NULL,
    PRIMARY KEY (level, idx),
    CONSTRAINT log_tiles_hashes_check CHECK (octet_length(hashes) = 32 * width)
);

CREATE TABLE log_state (
    id         smallint PRIMARY KEY CONSTRAINT log_state_id_check CHECK (id = 1),
    tree_size  bigint NOT NULL CONSTRAINT log_state_tree_size_check CHECK (tree_size >= 0),
    root       bytea NOT NULL CONSTRAINT log_state_root_check CHECK (octet_length(root) = 32),
    updated_at timestamptz NOT NULL
);
-- The empty tree: size 0, root SHA-256("").
INSERT INTO log_state (id, tree_size, root, updated_at) VALUES
    (1, 0, decode('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex'), now());

CREATE TABLE log_checkpoints (
    tree_size  bigint PRIMARY KEY CONSTRAINT log_checkpoints_tree_size_check CHECK (tree_size >= 0),
    root       bytea NOT NULL CONSTRAINT log_checkpoints_root_check CHECK (octet_length(root) = 32),
    -- The signed note exactly as served.
    note       text NOT NULL CONSTRAINT log_checkpoints_note_check CHECK (note LIKE '%' || chr(10) || chr(10) || '%'),
    created_at timestamptz NOT NULL
);

-- Every new event is queued for sequencing in the transaction that stores it (one statement
-- per INSERT statement, in the order the statement stored them).
CREATE FUNCTION log_queue_new_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_pending (event_id) SELECT event_id FROM new_events ORDER BY ts, event_id;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_log_queue AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION log_queue_new_events();

-- Events already stored are queued in trail order.
INSERT INTO log_pending (event_id) SELECT event_id FROM audit_events ORDER BY ts, event_id;

-- History is append-only: leaves and checkpoints are never changed or deleted.
CREATE FUNCTION log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'log_append_only';
END $$;
CREATE TRIGGER log_leaves_no_update BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_tiles_no_delete BEFORE DELETE ON log_tiles
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_tiles_no_truncate BEFORE TRUNCATE ON log_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_state_no_delete BEFORE DELETE ON log_state
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_state_no_truncate BEFORE TRUNCATE ON log_state
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();

-- A tile only grows: a full tile never changes, a partial one keeps its hashes as a prefix.
CREATE FUNCTION log_tiles_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.width = 256 THEN
        RAISE EXCEPTION 'log tile %/% is full and immutable', OLD.level, OLD.idx
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'log_tiles_full_immutable';
    END IF;
    IF NEW.level <> OLD.level OR NEW.idx <> OLD.idx OR NEW.width <= OLD.width
       OR substring(NEW.hashes FROM 1 FOR 32 * OLD.width) <> OLD.hashes THEN
        RAISE EXCEPTION 'log tile %/% may only grow', OLD.level, OLD.idx
            USING ERRCODE = 'check_violation', CONSTRAINT = 'log_tiles_only_grow';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER log_tiles_grow BEFORE UPDATE ON log_tiles
    FOR EACH ROW EXECUTE FUNCTION log_tiles_only_grow();

-- The tree only grows.
CREATE FUNCTION log_state_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tree_size < OLD.tree_size OR (NEW.tree_size = OLD.tree_size AND NEW.root <> OLD.root) THEN
        RAISE EXCEPTION 'the log only grows'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'log_state_only_grow';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER log_state_grow BEFORE UPDATE ON log_state
    FOR EACH ROW EXECUTE FUNCTION log_state_only_grow();
