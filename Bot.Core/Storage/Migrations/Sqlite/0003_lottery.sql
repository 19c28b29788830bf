-- Lottery draws. Instants are Unix milliseconds (UTC) so both dialects compare and map them the same way.
CREATE TABLE lottery (
    name TEXT NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL,                 -- JSON of the stored LotteryDefinition (the one in force)
    fingerprint TEXT NOT NULL,                -- SHA-256 of the fields that lock once the lottery opens
    opens_unix_ms INTEGER NOT NULL,
    draws_unix_ms INTEGER NOT NULL,
    state TEXT NOT NULL,                      -- pending | open | drawn
    first_seen_unix_ms INTEGER NOT NULL,
    seed TEXT NULL,                           -- hex; secret until state = drawn
    commitment TEXT NULL,                     -- hex SHA-256 of the seed bytes, public from commit time
    committed_unix_ms INTEGER NULL,
    drawn_unix_ms INTEGER NULL,
    late INTEGER NULL,
    entry_count INTEGER NULL,
    entry_list_hash TEXT NULL,
    announce_lease_unix_ms INTEGER NULL,
    announced_unix_ms INTEGER NULL
);

CREATE TABLE lottery_entry (
    lottery TEXT NOT NULL REFERENCES lottery (name),
    external_user_id TEXT NOT NULL,
    chat_id TEXT NULL,
    source TEXT NOT NULL,
    entered_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (lottery, external_user_id)
);

CREATE TABLE lottery_winner (
    lottery TEXT NOT NULL REFERENCES lottery (name),
    rank INTEGER NOT NULL,
    prize TEXT NOT NULL,
    external_user_id TEXT NOT NULL,
    PRIMARY KEY (lottery, rank),
    UNIQUE (lottery, external_user_id)
);
