-- A mass-message task carries many recipients (up to 10,000 customers or 2,000 groups, FACTS §5.6); each keeps its own
-- state here, so a recipient WeCom refuses (fail_list), one opted out or over its budget, and one that must wait for its
-- receiving allowance are told apart from the task. `unassigned` lists a broadcast's recipients no member could carry.
CREATE TABLE outbox_recipients (
    outbox_id  INTEGER NOT NULL REFERENCES outbox (id),
    recipient  TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    error      TEXT    NULL,
    PRIMARY KEY (outbox_id, recipient)
);

ALTER TABLE broadcast ADD COLUMN unassigned TEXT NULL;
