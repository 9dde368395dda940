-- The audit log: one row per request a route answered, accepted or refused.
CREATE TABLE IF NOT EXISTS webhook_audit (
    id                 BIGSERIAL PRIMARY KEY,
    request_id         TEXT     NOT NULL,
    provider           TEXT     NOT NULL,
    delivery_id        TEXT,                    -- verified, or as claimed when not verified
    event_type         TEXT,
    received_at        BIGINT   NOT NULL,       -- unix ms
    signature_verified BOOLEAN  NOT NULL,
    outcome            TEXT     NOT NULL,
    status             SMALLINT NOT NULL,       -- the HTTP status answered
    error              TEXT,
    client_ip          TEXT
);
CREATE INDEX IF NOT EXISTS webhook_audit_received ON webhook_audit (received_at);
CREATE INDEX IF NOT EXISTS webhook_audit_delivery ON webhook_audit (provider, delivery_id);
