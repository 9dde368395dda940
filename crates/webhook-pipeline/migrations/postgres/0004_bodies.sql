-- Bodies and headers move to a table of their own, written once: leases and status updates
-- then rewrite a small row instead of a row carrying the whole body.
CREATE TABLE IF NOT EXISTS webhook_bodies (
    id      BIGINT PRIMARY KEY REFERENCES webhook_events (id),
    headers TEXT  NOT NULL,
    body    BYTEA NOT NULL
);
INSERT INTO webhook_bodies (id, headers, body) SELECT id, headers, body FROM webhook_events;
ALTER TABLE webhook_events DROP COLUMN headers;
ALTER TABLE webhook_events DROP COLUMN body;
