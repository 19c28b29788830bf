-- Twin of the SQLite 0010: who follows whom, which tags we set. Binary collation so ids and tags compare and order
-- ordinally, as in SQLite and in C#.
CREATE TABLE dbo.customer_follows (
    external_user_id  nvarchar(128) COLLATE Latin1_General_BIN2 NOT NULL,
    user_id           nvarchar(128) COLLATE Latin1_General_BIN2 NOT NULL,
    added_at          bigint        NOT NULL,
    removed_at        bigint        NULL,
    CONSTRAINT pk_customer_follows PRIMARY KEY (external_user_id, user_id)
);

CREATE TABLE dbo.customer_tags (
    external_user_id  nvarchar(128) COLLATE Latin1_General_BIN2 NOT NULL,
    tag               nvarchar(256) COLLATE Latin1_General_BIN2 NOT NULL,
    tagged_at         bigint        NOT NULL,
    CONSTRAINT pk_customer_tags PRIMARY KEY (external_user_id, tag)
);

CREATE INDEX ix_customer_tags_tag ON dbo.customer_tags (tag, external_user_id);
