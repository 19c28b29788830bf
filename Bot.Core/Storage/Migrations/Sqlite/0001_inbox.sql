-- Durable inbox of WeCom callbacks: stored before WeCom gets its 200, handled afterwards with retries.
-- Times are UTC unix milliseconds (INTEGER) throughout.
CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'handled', 'parked')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT    NULL,
    lease_until     INTEGER NULL,
    last_error      TEXT    NULL,
    handled_at      INTEGER NULL
);

-- A WeCom retry of a stored callback collides here and is reported as a duplicate.
CREATE UNIQUE INDEX ux_inbox_dedupe_key ON inbox (dedupe_key);

-- Claiming walks the pending range in due order; the per-state counts of the stats read the same index.
CREATE INDEX ix_inbox_state_due ON inbox (state, next_attempt_at);

-- Back-testing reads callbacks in arrival order from a point in time.
CREATE INDEX ix_inbox_received_at ON inbox (received_at);
