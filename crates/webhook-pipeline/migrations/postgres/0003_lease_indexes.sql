-- Leasing reads only waiting rows (by next attempt) and expired leases (by lease end):
-- partial indexes keep that independent of how many events are done.
DROP INDEX IF EXISTS webhook_events_due;
CREATE INDEX IF NOT EXISTS webhook_events_waiting ON webhook_events (next_attempt_at, id) WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS webhook_events_leased ON webhook_events (lease_until) WHERE status = 'processing';
