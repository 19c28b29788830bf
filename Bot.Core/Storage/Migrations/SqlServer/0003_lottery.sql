-- Lottery draws. Instants are Unix milliseconds (UTC) so both dialects compare and map them the same way.
-- Names and external user ids are case-sensitive in WeCom, so they compare binary, not by the default CI collation.
CREATE TABLE dbo.lottery (
    name nvarchar(200) COLLATE Latin1_General_BIN2 NOT NULL PRIMARY KEY,
    definition nvarchar(max) NOT NULL,
    fingerprint varchar(64) NOT NULL,
    opens_unix_ms bigint NOT NULL,
    draws_unix_ms bigint NOT NULL,
    state varchar(16) NOT NULL,
    first_seen_unix_ms bigint NOT NULL,
    seed varchar(64) NULL,
    commitment varchar(64) NULL,
    committed_unix_ms bigint NULL,
    drawn_unix_ms bigint NULL,
    late bit NULL,
    entry_count int NULL,
    entry_list_hash varchar(64) NULL,
    announce_lease_unix_ms bigint NULL,
    announced_unix_ms bigint NULL
);
GO
CREATE TABLE dbo.lottery_entry (
    lottery nvarchar(200) COLLATE Latin1_General_BIN2 NOT NULL REFERENCES dbo.lottery (name),
    external_user_id nvarchar(128) COLLATE Latin1_General_BIN2 NOT NULL,
    chat_id nvarchar(128) NULL,
    source nvarchar(64) NOT NULL,
    entered_unix_ms bigint NOT NULL,
    CONSTRAINT pk_lottery_entry PRIMARY KEY (lottery, external_user_id)
);
GO
CREATE TABLE dbo.lottery_winner (
    lottery nvarchar(200) COLLATE Latin1_General_BIN2 NOT NULL REFERENCES dbo.lottery (name),
    rank int NOT NULL,
    prize nvarchar(200) NOT NULL,
    external_user_id nvarchar(128) COLLATE Latin1_General_BIN2 NOT NULL,
    CONSTRAINT pk_lottery_winner PRIMARY KEY (lottery, rank),
    CONSTRAINT uq_lottery_winner_user UNIQUE (lottery, external_user_id)
);
