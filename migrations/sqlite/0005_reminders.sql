-- Reminders and escalation of pending approval requests (as on PostgreSQL).
--
-- A policy may remind the approvers of a request still pending `remind_after_secs` after it
-- was made (and again every as long after that), and escalate it once, `escalate_after_secs`
-- after it was made, to the holders of `escalate_to_role`. The settings are frozen into
-- `approval_reminders` when a request is made, as its rules are; the scheduler takes the rows
-- whose reminder or escalation is due (under the write lock), sends it (an audit event and
-- its outbox message) and moves the due time on with a compare-and-set, in one transaction.

-- SQLite adds one column at a time; a column CHECK may name the other columns of its row.
ALTER TABLE policies ADD COLUMN remind_after_secs INTEGER
    CONSTRAINT policies_remind_after_secs_check CHECK (remind_after_secs BETWEEN 1 AND 31622400);
ALTER TABLE policies ADD COLUMN escalate_after_secs INTEGER
    CONSTRAINT policies_escalate_after_secs_check CHECK (escalate_after_secs BETWEEN 1 AND 31622400);
ALTER TABLE policies ADD COLUMN escalate_to_role TEXT
    CONSTRAINT policies_escalate_to_role_fkey REFERENCES roles (id) ON DELETE RESTRICT
    CONSTRAINT policies_escalation_pair_check CHECK ((escalate_after_secs IS NULL) = (escalate_to_role IS NULL))
    -- Nothing is ever pending under a policy that requires no approval.
    CONSTRAINT policies_notices_need_approval_check
        CHECK (requires_approval OR (remind_after_secs IS NULL AND escalate_after_secs IS NULL));
CREATE INDEX policies_escalate_to_role ON policies (escalate_to_role) WHERE escalate_to_role IS NOT NULL;

-- SQLite does not name the foreign key a write broke; these triggers name it first.
CREATE TRIGGER policies_escalate_to_role_exists_on_insert BEFORE INSERT ON policies FOR EACH ROW
    WHEN NEW.escalate_to_role IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM roles WHERE id = NEW.escalate_to_role)
BEGIN
    SELECT RAISE(ABORT, 'policies_escalate_to_role_fkey: the escalation names a role that does not exist');
END;
CREATE TRIGGER policies_escalate_to_role_exists_on_update BEFORE UPDATE OF escalate_to_role ON policies FOR EACH ROW
    WHEN NEW.escalate_to_role IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM roles WHERE id = NEW.escalate_to_role)
BEGIN
    SELECT RAISE(ABORT, 'policies_escalate_to_role_fkey: the escalation names a role that does not exist');
END;
CREATE TRIGGER roles_guard_delete_escalation BEFORE DELETE ON roles FOR EACH ROW
    WHEN EXISTS (SELECT 1 FROM policies WHERE escalate_to_role = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'policies_escalate_to_role_fkey: the role is named by a policy''s escalation');
END;

CREATE TABLE approval_reminders (
    approval_id       TEXT NOT NULL PRIMARY KEY REFERENCES approvals (id),
    -- The reminder interval, frozen from the policy; NULL: no reminders.
    remind_every_secs INTEGER CONSTRAINT approval_reminders_every_check
                      CHECK (remind_every_secs BETWEEN 1 AND 31622400),
    -- When the next reminder is due; NULL: no more (none configured, or the request is over).
    next_reminder_at  TEXT CONSTRAINT approval_reminders_next_reminder_at_check CHECK (next_reminder_at IS NULL OR next_reminder_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    reminders_sent    INTEGER NOT NULL DEFAULT 0
                      CONSTRAINT approval_reminders_sent_check CHECK (reminders_sent >= 0),
    -- The role an escalation names, frozen from the policy (history: no foreign key, as the
    -- frozen rules of `approvals` have none); NULL: no escalation.
    escalate_to_role  TEXT,
    -- When the escalation is due; NULL: never, or no longer (the request is over).
    escalate_at       TEXT CONSTRAINT approval_reminders_escalate_at_check CHECK (escalate_at IS NULL OR escalate_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    escalated_at      TEXT CONSTRAINT approval_reminders_escalated_at_check CHECK (escalated_at IS NULL OR escalated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CONSTRAINT approval_reminders_interval_consistent
        CHECK (next_reminder_at IS NULL OR remind_every_secs IS NOT NULL),
    CONSTRAINT approval_reminders_escalation_consistent
        CHECK ((escalate_at IS NULL AND escalated_at IS NULL) OR escalate_to_role IS NOT NULL)
) STRICT;
-- The scheduler's due query: reminders by due time, escalations not yet sent by due time.
CREATE INDEX approval_reminders_due ON approval_reminders (next_reminder_at)
    WHERE next_reminder_at IS NOT NULL;
CREATE INDEX approval_reminders_escalation_due ON approval_reminders (escalate_at)
    WHERE escalate_at IS NOT NULL AND escalated_at IS NULL;

-- A redelivery starts a delivery's retry schedule over: the attempts made before it are kept
-- (and still counted in `attempts`), and the schedule counts from `schedule_base`.
ALTER TABLE webhook_deliveries ADD COLUMN schedule_base INTEGER NOT NULL DEFAULT 0
    CONSTRAINT webhook_deliveries_schedule_base_check CHECK (schedule_base BETWEEN 0 AND attempts);
