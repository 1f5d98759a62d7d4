-- Notifications: the transactional outbox, webhooks and their deliveries (as on PostgreSQL).
--
-- A change that announces an event writes an `outbox_messages` row in its own transaction;
-- the scheduler fans each message out to the matching webhooks (`webhook_deliveries`, one per
-- message and webhook) and delivers them. `seq` orders messages as they were written, so the
-- deliveries of one approval (`ordering_key`) go out in order.

-- New permissions: webhook.read, webhook.write (admin has all; auditor gains webhook.read).
-- SQLite cannot alter a CHECK constraint, so role_permissions is rebuilt under the same names
-- (nothing references it; see 0002 for the pattern).
CREATE TEMP TABLE role_permissions_0003 AS SELECT * FROM role_permissions;
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
        'webhook.write')),
    PRIMARY KEY (role_id, permission)
) STRICT;
INSERT INTO role_permissions (role_id, permission)
SELECT role_id, permission FROM role_permissions_0003;
DROP TABLE role_permissions_0003;
INSERT INTO role_permissions (role_id, permission) VALUES
    ('admin', 'webhook.read'),
    ('admin', 'webhook.write'),
    ('auditor', 'webhook.read');

CREATE TABLE webhooks (
    id           TEXT NOT NULL PRIMARY KEY CONSTRAINT webhooks_id_check CHECK (
                 length(id) = 30 AND id GLOB 'whk_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    url          TEXT NOT NULL CONSTRAINT webhooks_url_check CHECK (
                 (url GLOB 'http://?*' OR url GLOB 'https://?*')),
    -- Event types this webhook receives, a JSON array; NULL means all of them.
    events       TEXT CONSTRAINT webhooks_events_check CHECK (events IS NULL OR
                 CASE WHEN json_valid(events) THEN json_type(events) = 'array' AND json_array_length(events) >= 1 ELSE 0 END),
    format       TEXT NOT NULL CONSTRAINT webhooks_format_check CHECK (format IN ('standard', 'slack')),
    description  TEXT,
    -- The signing secret (`whsec_` + base64). It must be readable to sign deliveries, so it is
    -- stored as given; it never leaves the server in any read, log or audit event.
    secret       TEXT NOT NULL CONSTRAINT webhooks_secret_check CHECK (secret GLOB 'whsec_?*'),
    disabled     INTEGER NOT NULL DEFAULT 0 CONSTRAINT webhooks_disabled_check CHECK (disabled IN (0, 1)),
    created_at   TEXT NOT NULL CONSTRAINT webhooks_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX webhooks_page ON webhooks (created_at DESC, id DESC);

CREATE TABLE outbox_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL CONSTRAINT outbox_messages_id_key UNIQUE
                  CONSTRAINT outbox_messages_id_check CHECK (
                  length(id) = 30 AND id GLOB 'msg_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    event         TEXT NOT NULL CONSTRAINT outbox_messages_event_check CHECK (event GLOB '[a-z_]*.[a-z_]*'),
    -- Messages with one ordering key (an approval id) are delivered in `seq` order.
    ordering_key  TEXT NOT NULL,
    -- The webhook this message is for only (a test send); NULL: every matching webhook.
    webhook_id    TEXT REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The delivery body, exactly as signed and sent.
    body          TEXT NOT NULL CONSTRAINT outbox_messages_body_check CHECK (json_valid(body)),
    created_at    TEXT NOT NULL CONSTRAINT outbox_messages_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- Set once the message has been fanned out into deliveries.
    dispatched_at TEXT CONSTRAINT outbox_messages_dispatched_at_check CHECK (dispatched_at IS NULL OR dispatched_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX outbox_messages_undispatched ON outbox_messages (seq) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               TEXT NOT NULL PRIMARY KEY CONSTRAINT webhook_deliveries_id_check CHECK (
                     length(id) = 30 AND id GLOB 'dlv_*' AND substr(id, 5) NOT GLOB '*[^0-9a-z]*'),
    message_seq      INTEGER NOT NULL REFERENCES outbox_messages (seq),
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    ordering_key     TEXT NOT NULL,
    status           TEXT NOT NULL CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0),
    last_status_code INTEGER CONSTRAINT webhook_deliveries_status_code_check CHECK (last_status_code BETWEEN 100 AND 599),
    last_error       TEXT,
    -- When the next attempt is due; while an attempt is out, the end of its lease.
    next_attempt_at  TEXT CONSTRAINT webhook_deliveries_next_attempt_at_check CHECK (next_attempt_at IS NULL OR next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at       TEXT NOT NULL CONSTRAINT webhook_deliveries_created_at_check CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    delivered_at     TEXT CONSTRAINT webhook_deliveries_delivered_at_check CHECK (delivered_at IS NULL OR delivered_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT webhook_deliveries_one_per_message UNIQUE (message_seq, webhook_id),
    CONSTRAINT webhook_deliveries_due_consistent CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_delivered_consistent CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering_key, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_page ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
