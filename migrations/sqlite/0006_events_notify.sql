-- The live event stream (`GET /api/v1/events/stream`), as on PostgreSQL.
--
-- The stream reads outbox messages in `(xact_id, seq)` order. On PostgreSQL `xact_id` is the
-- writing transaction's id, because concurrent transactions take `seq` values in one order
-- and commit in another. SQLite has one writer at a time (every transaction begins with
-- `BEGIN IMMEDIATE`), so `seq` order is already commit order: `xact_id` is 0 on every row and
-- the column exists so that the shared query reads the same on both backends. SQLite has no
-- NOTIFY: readers poll.

ALTER TABLE outbox_messages ADD COLUMN xact_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_messages_stream ON outbox_messages (xact_id, seq);
