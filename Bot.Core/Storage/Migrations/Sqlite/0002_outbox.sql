-- Outbound actions, written before they are attempted. Times are Unix milliseconds (UTC) so that due-time
-- comparisons and ordering are plain integer comparisons in both dialects.
CREATE TABLE broadcast (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    message_text  TEXT    NOT NULL,
    attachments   TEXT    NULL,
    target_kind   TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    total         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key   TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    external_user_id  TEXT    NULL,
    payload           TEXT    NOT NULL,
    lane              INTEGER NOT NULL,
    state             TEXT    NOT NULL,
    is_idempotent     INTEGER NOT NULL,
    quota_subject     TEXT    NOT NULL,
    deadline          INTEGER NULL,
    created_at        INTEGER NOT NULL,
    next_attempt_at   INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    claim_token       TEXT    NULL,
    lease_until       INTEGER NULL,
    last_errcode      INTEGER NULL,
    last_error        TEXT    NULL,
    remote_ids        TEXT    NULL,
    completed_at      INTEGER NULL,
    broadcast_id      INTEGER NULL REFERENCES broadcast (id),
    callback_id       TEXT    NULL,
    rule_name         TEXT    NULL,
    rule_file         TEXT    NULL,
    rule_line         INTEGER NULL,
    rule_set_version  TEXT    NULL
);

CREATE UNIQUE INDEX ux_outbox_idempotency_key ON outbox (idempotency_key);
CREATE INDEX ix_outbox_due ON outbox (state, lane, next_attempt_at, id);
CREATE INDEX ix_outbox_lease ON outbox (state, lease_until);
CREATE INDEX ix_outbox_customer ON outbox (external_user_id, id);
CREATE INDEX ix_outbox_broadcast ON outbox (broadcast_id, state);
