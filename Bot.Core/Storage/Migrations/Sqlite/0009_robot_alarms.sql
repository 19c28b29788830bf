-- Configuration alarms on group robots: a webhook WeCom refused with 93000 (key invalid, or the robot removed from
-- the group). While a row exists, posts by that robot wait; an operator clears it. Kept in the database so every
-- instance pauses the robot. robot_name is a fingerprint of the key, never the key itself.
CREATE TABLE IF NOT EXISTS robot_alarms (
    robot_name  TEXT    NOT NULL PRIMARY KEY,
    errcode     INTEGER NOT NULL,
    errmsg      TEXT    NOT NULL,
    outbox_id   INTEGER NULL,
    raised_at   INTEGER NOT NULL
);
