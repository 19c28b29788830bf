-- The moment a dispatcher was about to hand an item's call to WeCom, with no answer recorded since (Unix milliseconds),
-- written under its claim before the limiter's decision and the HTTP call. After a crash, lease recovery reads it: an
-- item whose call may have started may have been applied (in doubt: unknown, or sent again only when idempotent); one
-- without it never reached WeCom.
ALTER TABLE outbox ADD COLUMN call_started_at INTEGER NULL;

-- Items sending across the upgrade were claimed by a version that did not record the start: assume their call began
-- (their creation is the one time known to be no later than it).
UPDATE outbox SET call_started_at = created_at WHERE state = 'sending';
