-- Each event's body length on its own row, and the counts by status kept by the store's one
-- writer: it adds up what each transaction changed and updates `webhook_event_counts` once
-- per transaction, where the triggers of migration 8 ran per row (and read the body of every
-- event whose status changed). The counts themselves are carried over unchanged.
DROP TRIGGER IF EXISTS webhook_events_count_insert;
DROP TRIGGER IF EXISTS webhook_events_count_delete;
DROP TRIGGER IF EXISTS webhook_bodies_count_insert;
DROP TRIGGER IF EXISTS webhook_bodies_count_delete;
DROP TRIGGER IF EXISTS webhook_events_count_status;
ALTER TABLE webhook_events ADD COLUMN body_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_events SET body_bytes = COALESCE((SELECT length(b.body) FROM webhook_bodies b WHERE b.id = webhook_events.id), 0);
