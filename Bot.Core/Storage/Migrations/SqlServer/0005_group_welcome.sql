CREATE TABLE dbo.group_welcome_batches (
    batch_key   nvarchar(300) NOT NULL PRIMARY KEY,
    rule_name   nvarchar(128) NOT NULL,
    chat_id     nvarchar(128) NOT NULL,
    window_end  bigint        NOT NULL
);
GO
CREATE INDEX ix_group_welcome_batches_open ON dbo.group_welcome_batches (rule_name, chat_id, window_end);
GO
CREATE TABLE dbo.group_welcome_members (
    batch_key   nvarchar(300) NOT NULL,
    member_id   nvarchar(128) NOT NULL,
    joined_at   bigint        NOT NULL,
    CONSTRAINT pk_group_welcome_members PRIMARY KEY (batch_key, member_id)
);
