-- Customer groups we have seen (created/updated events, groupchat/get), for cron-started scripts and group posts.
CREATE TABLE IF NOT EXISTS customer_groups (
    chat_id     TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NULL,
    owner       TEXT    NULL,
    dismissed   INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

-- One run of a seeding script in one group; start_key makes each start (group created, a cron occurrence) unique.
CREATE TABLE IF NOT EXISTS seeding_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    script       TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    start_key    TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    fingerprint  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    stop_reason  TEXT    NULL,
    UNIQUE (script, chat_id, start_key)
);

CREATE TABLE IF NOT EXISTS seeding_posts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       INTEGER NOT NULL REFERENCES seeding_runs (id),
    chat_id      TEXT    NOT NULL,
    step         INTEGER NOT NULL,
    sender       TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    due_at       INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    note         TEXT    NULL,
    lease_until  INTEGER NULL,
    fired_at     INTEGER NULL,
    UNIQUE (run_id, step)
);

CREATE INDEX IF NOT EXISTS ix_seeding_posts_due ON seeding_posts (state, due_at);
CREATE INDEX IF NOT EXISTS ix_seeding_posts_chat ON seeding_posts (chat_id, due_at);
