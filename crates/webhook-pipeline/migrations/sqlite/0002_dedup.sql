-- Delivery ids seen recently: the dedup store in front of (or instead of) the event store.
CREATE TABLE IF NOT EXISTS webhook_dedup (
    key        TEXT    PRIMARY KEY,             -- provider:delivery id
    done       INTEGER NOT NULL,                -- 0 while in flight, 1 once completed
    expires_at INTEGER NOT NULL                 -- unix ms: lease end while in flight, TTL end once done
);
CREATE INDEX IF NOT EXISTS webhook_dedup_expires ON webhook_dedup (expires_at);
