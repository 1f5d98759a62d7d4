-- Leaf hashes computed when an event is written (Tessera's model: an entry is hashed when it is
-- added, the sequencer integrates hashes). `audit_events.leaf_hash` is the RFC 6962 leaf hash of
-- the event's RFC 8785 canonical JSON, computed by the writer from the event it stores; the
-- queue trigger copies it into `log_pending`, so a batch is sequenced without reading a body.
-- Both columns may be NULL (events stored before this migration, or by a writer that does not
-- compute it): the sequencer then reads the body and computes the hash itself. The scheduler's
-- self-check re-hashes stored bodies against the sealed leaves either way.
ALTER TABLE audit_events ADD COLUMN leaf_hash bytea
    CONSTRAINT audit_events_leaf_hash_check CHECK (octet_length(leaf_hash) = 32);
ALTER TABLE log_pending ADD COLUMN leaf_hash bytea
    CONSTRAINT log_pending_leaf_hash_check CHECK (octet_length(leaf_hash) = 32);

CREATE OR REPLACE FUNCTION log_queue_new_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_pending (event_id, leaf_hash)
        SELECT event_id, leaf_hash FROM new_events ORDER BY ts, event_id;
    RETURN NULL;
END $$;
