-- Mass-message tasks (add_msg_template) are only real once the sender confirms them in the WeCom client; these
-- tables track that confirmation per outbox item and the per-recipient results. Times are Unix milliseconds (UTC).
CREATE TABLE mass_message_tasks (
    outbox_id         INTEGER PRIMARY KEY REFERENCES outbox (id),
    msg_id            TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    script            TEXT    NULL,
    state             TEXT    NOT NULL,
    sent_at           INTEGER NOT NULL,
    next_poll_at      INTEGER NOT NULL,
    reminders         INTEGER NOT NULL DEFAULT 0,
    last_reminded_at  INTEGER NULL,
    senders_total     INTEGER NOT NULL DEFAULT 0,
    senders_sent      INTEGER NOT NULL DEFAULT 0,
    settled_at        INTEGER NULL,
    note              TEXT    NULL
);

CREATE INDEX ix_mass_message_tasks_due ON mass_message_tasks (state, next_poll_at);

CREATE TABLE mass_message_recipients (
    outbox_id   INTEGER NOT NULL REFERENCES mass_message_tasks (outbox_id),
    sender      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    send_time   INTEGER NULL,
    PRIMARY KEY (outbox_id, sender, recipient)
);
