-- Retention deletes settled events by reception time, oldest first, a batch at a time: an
-- index on received_at keeps each batch (and its last, short one) from scanning the table.
-- Status changes never move a row in it.
CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events (received_at);
