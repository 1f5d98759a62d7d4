-- Notifications: the transactional outbox, webhooks and their deliveries.
--
-- A change that announces an event writes an `outbox_messages` row in its own transaction;
-- the scheduler fans each message out to the matching webhooks (`webhook_deliveries`, one per
-- message and webhook) and delivers them. `seq` orders messages as they were written, so the
-- deliveries of one approval (`ordering_key`) go out in order.

-- New permissions: webhook.read, webhook.write (admin has all; auditor gains webhook.read).
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
        'webhook.write'));
INSERT INTO role_permissions (role_id, permission) VALUES
    ('admin', 'webhook.read'),
    ('admin', 'webhook.write'),
    ('auditor', 'webhook.read');

CREATE TABLE webhooks (
    id           text PRIMARY KEY CONSTRAINT webhooks_id_check CHECK (id ~ '^whk_[0-9a-z]{26}$'),
    url          text NOT NULL CONSTRAINT webhooks_url_check CHECK (url ~ '^https?://[^/?#]+'),
    -- Event types this webhook receives, a JSON array (as on SQLite); NULL means all of them.
    events       text CONSTRAINT webhooks_events_check CHECK (events IS NULL OR (
                 jsonb_typeof(events::jsonb) = 'array' AND jsonb_array_length(events::jsonb) >= 1)),
    format       text NOT NULL CONSTRAINT webhooks_format_check CHECK (format IN ('standard', 'slack')),
    description  text,
    -- The signing secret (`whsec_` + base64). It must be readable to sign deliveries, so it is
    -- stored as given; it never leaves the server in any read, log or audit event.
    secret       text NOT NULL CONSTRAINT webhooks_secret_check CHECK (secret LIKE 'whsec\_%'),
    disabled     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL
);
CREATE INDEX webhooks_page ON webhooks (created_at DESC, id DESC);

CREATE TABLE outbox_messages (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text NOT NULL CONSTRAINT outbox_messages_id_key UNIQUE
                  CONSTRAINT outbox_messages_id_check CHECK (id ~ '^msg_[0-9a-z]{26}$'),
    event         text NOT NULL CONSTRAINT outbox_messages_event_check CHECK (event ~ '^[a-z_]+\.[a-z_]+$'),
    -- Messages with one ordering key (an approval id) are delivered in `seq` order.
    ordering_key  text NOT NULL,
    -- The webhook this message is for only (a test send); NULL: every matching webhook.
    webhook_id    text REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The delivery body, exactly as signed and sent.
    body          text NOT NULL CONSTRAINT outbox_messages_body_check CHECK (body::jsonb IS NOT NULL),
    created_at    timestamptz NOT NULL,
    -- Set once the message has been fanned out into deliveries.
    dispatched_at timestamptz
);
CREATE INDEX outbox_messages_undispatched ON outbox_messages (seq) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY CONSTRAINT webhook_deliveries_id_check CHECK (id ~ '^dlv_[0-9a-z]{26}$'),
    message_seq      bigint NOT NULL REFERENCES outbox_messages (seq),
    webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    ordering_key     text NOT NULL,
    status           text NOT NULL CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0),
    last_status_code integer CONSTRAINT webhook_deliveries_status_code_check CHECK (last_status_code BETWEEN 100 AND 599),
    last_error       text,
    -- When the next attempt is due; while an attempt is out, the end of its lease.
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_one_per_message UNIQUE (message_seq, webhook_id),
    CONSTRAINT webhook_deliveries_due_consistent CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_delivered_consistent CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering_key, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_page ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
