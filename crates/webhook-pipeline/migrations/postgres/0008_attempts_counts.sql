-- Each failed handler run of an event, numbered from 1 across replays; the store keeps the
-- last 50 per event and deletes them with their event.
CREATE TABLE IF NOT EXISTS webhook_event_attempts (
    event_id    BIGINT  NOT NULL,
    attempt     INTEGER NOT NULL,
    worker      TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,           -- unix ms
    finished_at BIGINT  NOT NULL,           -- unix ms
    outcome     TEXT    NOT NULL,           -- failed | dead
    error       TEXT    NOT NULL,
    PRIMARY KEY (event_id, attempt)
);

-- Events and body bytes by status, as deltas: every statement that inserts, deletes or
-- changes the status of events appends its changes (statement-level triggers below), so
-- concurrent transactions never wait on a shared counter row; status_counts() sums the
-- deltas and folds them into one row per status. Counting a million rows (and their
-- bodies) every few seconds would cost a full scan each time.
CREATE TABLE IF NOT EXISTS webhook_event_counts (
    status TEXT   NOT NULL,
    events BIGINT NOT NULL,
    bytes  BIGINT NOT NULL
);
INSERT INTO webhook_event_counts (status, events, bytes)
    SELECT e.status, COUNT(*), COALESCE(SUM(octet_length(b.body)), 0)
    FROM webhook_events e LEFT JOIN webhook_bodies b ON b.id = e.id GROUP BY e.status;

-- An event counts from its row, its bytes from its body (written after the row, deleted
-- before it); a status change moves both. The event or body of each changed row is read
-- by its key in a subquery, never joined: a join with a transition table (of unknown size
-- to the planner) may be planned as a scan of the whole table.
CREATE OR REPLACE FUNCTION webhook_events_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT status, COUNT(*), 0 FROM new_rows GROUP BY status;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION webhook_events_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT status, -COUNT(*), 0 FROM old_rows GROUP BY status;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION webhook_events_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.status AS old_status, n.status AS new_status,
               COALESCE((SELECT octet_length(b.body) FROM webhook_bodies b WHERE b.id = n.id), 0) AS bytes
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
CREATE OR REPLACE FUNCTION webhook_bodies_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT s.status, 0, SUM(s.bytes) FROM (
            SELECT (SELECT e.status FROM webhook_events e WHERE e.id = n.id) AS status, octet_length(n.body) AS bytes
            FROM new_rows n
        ) s WHERE s.status IS NOT NULL GROUP BY s.status;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION webhook_bodies_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_event_counts (status, events, bytes)
        SELECT s.status, 0, -SUM(s.bytes) FROM (
            SELECT (SELECT e.status FROM webhook_events e WHERE e.id = o.id) AS status, octet_length(o.body) AS bytes
            FROM old_rows o
        ) s WHERE s.status IS NOT NULL GROUP BY s.status;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_events_count_insert AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_count_insert();
CREATE TRIGGER webhook_events_count_delete AFTER DELETE ON webhook_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_count_delete();
CREATE TRIGGER webhook_events_count_update AFTER UPDATE ON webhook_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_count_update();
CREATE TRIGGER webhook_bodies_count_insert AFTER INSERT ON webhook_bodies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_bodies_count_insert();
CREATE TRIGGER webhook_bodies_count_delete AFTER DELETE ON webhook_bodies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_bodies_count_delete();
