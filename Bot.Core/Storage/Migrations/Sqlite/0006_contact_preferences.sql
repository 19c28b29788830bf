-- A customer's own choice about bot messages (退订 / 订阅), newest callback wins.
CREATE TABLE IF NOT EXISTS contact_preferences (
    external_user_id  TEXT    NOT NULL PRIMARY KEY,
    opted_out         INTEGER NOT NULL,
    changed_at        INTEGER NOT NULL,
    callback_id       INTEGER NULL
);
