-- Each failed handler run of an event, numbered from 1 across replays; the store keeps the
-- last 50 per event and deletes them with their event.
CREATE TABLE IF NOT EXISTS webhook_event_attempts (
    event_id    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    worker      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,           -- unix ms
    finished_at INTEGER NOT NULL,           -- unix ms
    outcome     TEXT    NOT NULL,           -- failed | dead
    error       TEXT    NOT NULL,
    PRIMARY KEY (event_id, attempt)
) WITHOUT ROWID;

-- Events and body bytes by status, kept exact by the triggers below in the transactions
-- that change them: counting a million rows (and reading their bodies) every few seconds
-- would hold up the one writer.
CREATE TABLE IF NOT EXISTS webhook_event_counts (
    status TEXT    PRIMARY KEY,
    events INTEGER NOT NULL,
    bytes  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO webhook_event_counts (status, events, bytes)
    SELECT s.status, 0, 0 FROM (SELECT 'pending' AS status UNION ALL SELECT 'failed' UNION ALL SELECT 'processing'
        UNION ALL SELECT 'done' UNION ALL SELECT 'dead') s;
UPDATE webhook_event_counts SET
    events = (SELECT COUNT(*) FROM webhook_events e WHERE e.status = webhook_event_counts.status),
    bytes = (SELECT COALESCE(SUM(length(b.body)), 0) FROM webhook_events e JOIN webhook_bodies b ON b.id = e.id
             WHERE e.status = webhook_event_counts.status);

-- An event counts from its row, its bytes from its body (written after the row, deleted
-- before it); a status change moves both.
CREATE TRIGGER IF NOT EXISTS webhook_events_count_insert AFTER INSERT ON webhook_events BEGIN
    UPDATE webhook_event_counts SET events = events + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER IF NOT EXISTS webhook_events_count_delete AFTER DELETE ON webhook_events BEGIN
    UPDATE webhook_event_counts SET events = events - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER IF NOT EXISTS webhook_bodies_count_insert AFTER INSERT ON webhook_bodies BEGIN
    UPDATE webhook_event_counts SET bytes = bytes + length(NEW.body)
        WHERE status = (SELECT status FROM webhook_events WHERE id = NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS webhook_bodies_count_delete AFTER DELETE ON webhook_bodies BEGIN
    UPDATE webhook_event_counts SET bytes = bytes - length(OLD.body)
        WHERE status = (SELECT status FROM webhook_events WHERE id = OLD.id);
END;
CREATE TRIGGER IF NOT EXISTS webhook_events_count_status AFTER UPDATE OF status ON webhook_events
    WHEN OLD.status <> NEW.status BEGIN
    UPDATE webhook_event_counts SET
        events = events + (CASE WHEN status = NEW.status THEN 1 ELSE -1 END),
        bytes = bytes + (CASE WHEN status = NEW.status THEN 1 ELSE -1 END)
            * COALESCE((SELECT length(body) FROM webhook_bodies WHERE id = NEW.id), 0)
        WHERE status IN (OLD.status, NEW.status);
END;
