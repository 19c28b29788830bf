-- Joiners of a customer group collected for one batched group welcome (rule `batch` window from the first join).
CREATE TABLE IF NOT EXISTS group_welcome_batches (
    batch_key   TEXT    NOT NULL PRIMARY KEY,
    rule_name   TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    window_end  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_group_welcome_batches_open ON group_welcome_batches (rule_name, chat_id, window_end);

CREATE TABLE IF NOT EXISTS group_welcome_members (
    batch_key   TEXT    NOT NULL,
    member_id   TEXT    NOT NULL,
    joined_at   INTEGER NOT NULL,
    PRIMARY KEY (batch_key, member_id)
);
