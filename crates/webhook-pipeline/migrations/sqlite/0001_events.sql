-- Every accepted delivery, stored before it is acknowledged.
CREATE TABLE IF NOT EXISTS webhook_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT    NOT NULL,
    delivery_id     TEXT    NOT NULL,
    event_type      TEXT,
    headers         TEXT    NOT NULL,           -- JSON array of [name, value]
    body            BLOB    NOT NULL,
    received_at     INTEGER NOT NULL,           -- unix ms
    status          TEXT    NOT NULL,           -- pending | processing | done | failed | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,           -- unix ms
    lease_until     INTEGER,                    -- unix ms, while processing
    leased_by       TEXT,
    UNIQUE (provider, delivery_id)
);
CREATE INDEX IF NOT EXISTS webhook_events_due ON webhook_events (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_events_type ON webhook_events (provider, event_type, status);
