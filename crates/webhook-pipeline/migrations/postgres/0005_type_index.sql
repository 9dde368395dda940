-- The (provider, event_type) index serves replays and listings by type. Without `status`
-- in it, a lease or a completion no longer moves the row within this index: every status
-- change used to cost a delete and an insert here.
DROP INDEX IF EXISTS webhook_events_type;
CREATE INDEX IF NOT EXISTS webhook_events_type ON webhook_events (provider, event_type);
