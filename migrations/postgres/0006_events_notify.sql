-- The live event stream (`GET /api/v1/events/stream`) and the scheduler's wake-up.
--
-- 1. Every outbox message records the transaction that wrote it (`xact_id`, a 64-bit
--    transaction id). `seq` is taken at INSERT, but transactions commit in any order, so a
--    reader that followed `seq` alone could pass a message whose transaction commits later.
--    The stream reads in `(xact_id, seq)` order and only messages whose transaction is below
--    the oldest transaction still running (`pg_snapshot_xmin`): that set never grows behind
--    a reader's position, so resuming after a message loses nothing and repeats nothing.
-- 2. Each insert notifies channel `countersign_outbox` with the message's `seq`. NOTIFY is
--    delivered when (and only if) the transaction commits; it is only a wake-up: readers
--    then read the table, so a notification that never arrives delays, never loses.

ALTER TABLE outbox_messages
    ADD COLUMN xact_id bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX outbox_messages_stream ON outbox_messages (xact_id, seq);

CREATE FUNCTION outbox_messages_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('countersign_outbox', NEW.seq::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages
    FOR EACH ROW EXECUTE FUNCTION outbox_messages_notify();
