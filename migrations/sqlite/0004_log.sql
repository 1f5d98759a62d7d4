-- The transparency log (as on PostgreSQL; see migrations/postgres/0004_log.sql for the design).
--
-- - `log_pending`: events waiting to be sequenced, queued by a trigger in the transaction that
--   stores them; events stored before this migration are queued here in `(ts, event_id)` order.
-- - `log_leaves`: event -> leaf index, both unique, from 0 with no gap; append-only (no
--   foreign key to `audit_events`, as on PostgreSQL).
-- - `log_tiles`: hash tiles, one row per (level, index) at its current width; a tile only grows.
-- - `log_state`: the sequenced tree (size, root), one row, only growing.
-- - `log_checkpoints`: signed checkpoints; append-only.

-- New permission: log.read (admin has all; auditor gains it). SQLite cannot alter a CHECK
-- constraint, so role_permissions is rebuilt under the same names (see 0003).
CREATE TEMP TABLE role_permissions_0004 AS SELECT * FROM role_permissions;
DROP TABLE role_permissions;
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
        'auth.role.revoke',
        'webhook.read',
        'webhook.write',
        'log.read')),
    PRIMARY KEY (role_id, permission)
) STRICT;
INSERT INTO role_permissions (role_id, permission)
SELECT role_id, permission FROM role_permissions_0004;
DROP TABLE role_permissions_0004;
INSERT INTO role_permissions (role_id, permission) VALUES
    ('admin', 'log.read'),
    ('auditor', 'log.read');

CREATE TABLE log_pending (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  TEXT NOT NULL CONSTRAINT log_pending_event_id_key UNIQUE
) STRICT;

CREATE TABLE log_leaves (
    leaf_index INTEGER NOT NULL PRIMARY KEY CONSTRAINT log_leaves_leaf_index_check CHECK (leaf_index >= 0),
    event_id   TEXT NOT NULL CONSTRAINT log_leaves_event_id_key UNIQUE
) STRICT;

CREATE TABLE log_tiles (
    level   INTEGER NOT NULL CONSTRAINT log_tiles_level_check CHECK (level BETWEEN 0 AND 63),
    idx     INTEGER NOT NULL CONSTRAINT log_tiles_idx_check CHECK (idx >= 0),
    width   INTEGER NOT NULL CONSTRAINT log_tiles_width_check CHECK (width BETWEEN 1 AND 256),
    -- `width` consecutive 32-byte hashes.
    hashes  BLOB NOT NULL,
    PRIMARY KEY (level, idx),
    CONSTRAINT log_tiles_hashes_check CHECK (length(hashes) = 32 * width)
) STRICT;

CREATE TABLE log_state (
    id         INTEGER NOT NULL PRIMARY KEY CONSTRAINT log_state_id_check CHECK (id = 1),
    tree_size  INTEGER NOT NULL CONSTRAINT log_state_tree_size_check CHECK (tree_size >= 0),
    root       BLOB NOT NULL CONSTRAINT log_state_root_check CHECK (length(root) = 32),
    updated_at TEXT NOT NULL CONSTRAINT log_state_updated_at_check CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
-- The empty tree: size 0, root SHA-256("").
INSERT INTO log_state (id, tree_size, root, updated_at) VALUES
    (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
     strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'));

CREATE TABLE log_checkpoints (
    tree_size  INTEGER NOT NULL PRIMARY KEY CONSTRAINT log_checkpoints_tree_size_check CHECK (tree_size >= 0),
    root       BLOB NOT NULL CONSTRAINT log_checkpoints_root_check CHECK (length(root) = 32),
    -- The signed note exactly as served.
    note       TEXT NOT NULL CONSTRAINT log_checkpoints_note_check CHECK (instr(note, char(10) || char(10)) > 0),
    created_at TEXT NOT NULL CONSTRAINT log_checkpoints_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

-- Every new event is queued for sequencing in the transaction that stores it.
CREATE TRIGGER audit_events_log_queue AFTER INSERT ON audit_events
BEGIN
    INSERT INTO log_pending (event_id) VALUES (NEW.event_id);
END;

-- Events already stored are queued in trail order.
INSERT INTO log_pending (event_id) SELECT event_id FROM audit_events ORDER BY ts, event_id;

-- History is append-only: leaves and checkpoints are never changed or deleted; tiles and the
-- tree state are never deleted.
CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_leaves is append-only: UPDATE refused');
END;
CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_leaves is append-only: DELETE refused');
END;
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_checkpoints is append-only: UPDATE refused');
END;
CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_checkpoints is append-only: DELETE refused');
END;
CREATE TRIGGER log_tiles_no_delete BEFORE DELETE ON log_tiles
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_tiles is append-only: DELETE refused');
END;
CREATE TRIGGER log_state_no_delete BEFORE DELETE ON log_state
BEGIN
    SELECT RAISE(ABORT, 'log_append_only: log_state is append-only: DELETE refused');
END;

-- A tile only grows: a full tile never changes, a partial one keeps its hashes as a prefix.
CREATE TRIGGER log_tiles_full_immutable BEFORE UPDATE ON log_tiles
WHEN OLD.width = 256
BEGIN
    SELECT RAISE(ABORT, 'log_tiles_full_immutable: a full log tile is immutable');
END;
CREATE TRIGGER log_tiles_only_grow BEFORE UPDATE ON log_tiles
WHEN NEW.level <> OLD.level OR NEW.idx <> OLD.idx OR NEW.width <= OLD.width
     OR substr(NEW.hashes, 1, 32 * OLD.width) <> OLD.hashes
BEGIN
    SELECT RAISE(ABORT, 'log_tiles_only_grow: a log tile may only grow');
END;

-- The tree only grows.
CREATE TRIGGER log_state_only_grow BEFORE UPDATE ON log_state
WHEN NEW.tree_size < OLD.tree_size OR (NEW.tree_size = OLD.tree_size AND NEW.root <> OLD.root)
BEGIN
    SELECT RAISE(ABORT, 'log_state_only_grow: the log only grows');
END;
