-- Our own ledger of who follows whom and which corp tags we set, so broadcast audiences (customers by guide, by tag
-- filter) resolve locally and pre-flight and the contact budget still see every recipient. Times are Unix ms (UTC).
-- A follow is kept after removal (removed_at set) so a re-add is an update and history stays explainable.
CREATE TABLE IF NOT EXISTS customer_follows (
    external_user_id  TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    added_at          INTEGER NOT NULL,
    removed_at        INTEGER NULL,
    PRIMARY KEY (external_user_id, user_id)
);

-- Tags as the bot names them, "group/tag".
CREATE TABLE IF NOT EXISTS customer_tags (
    external_user_id  TEXT    NOT NULL,
    tag               TEXT    NOT NULL,
    tagged_at         INTEGER NOT NULL,
    PRIMARY KEY (external_user_id, tag)
);

CREATE INDEX IF NOT EXISTS ix_customer_tags_tag ON customer_tags (tag, external_user_id);
