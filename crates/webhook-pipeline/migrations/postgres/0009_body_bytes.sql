-- Each event's body length on its own row: the counting triggers of migration 8 read it there
-- instead of looking up the body of every event a statement changes, and the bodies table
-- needs no triggers of its own (an event's bytes are counted with its row). The counts are
-- carried over unchanged.
DROP TRIGGER IF EXISTS webhook_bodies_count_insert ON webhook_bodies;
DROP TRIGGER IF EXISTS webhook_bodies_count_delete ON webhook_bodies;
DROP FUNCTION IF EXISTS webhook_bodies_count_insert();
DROP FUNCTION IF EXISTS webhook_bodies_count_delete();
-- The fill changes no status: the update trigger is put back after it, not run over every row.
DROP TRIGGER IF EXISTS webhook_events_count_update ON webhook_events;
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS body_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE webhook_events e SET body_bytes = octet_length(b.body) FROM webhook_bodies b WHERE b.id = e.id;

CREATE OR REPLACE FUNCTION webhook_events_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT status, COUNT(*), SUM(body_bytes) FROM new_rows GROUP BY status;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION webhook_events_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT status, -COUNT(*), -SUM(body_bytes) FROM old_rows GROUP BY status;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION webhook_events_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.status AS old_status, n.status AS new_status, n.body_bytes AS bytes
        FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status <> n.status
    )
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT s.status, SUM(s.events), SUM(s.bytes) FROM (
            SELECT c.old_status AS status, -1 AS events, -c.bytes AS bytes FROM changed c
            UNION ALL
            SELECT c.new_status, 1, c.bytes FROM changed c
        ) s GROUP BY s.status;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_events_count_update AFTER UPDATE ON webhook_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_count_update();
