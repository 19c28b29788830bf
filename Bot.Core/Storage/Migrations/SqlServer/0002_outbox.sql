-- Outbound actions, written before they are attempted. Times are Unix milliseconds (UTC), as in the SQLite schema,
-- so the store shares its due-time SQL between dialects.
CREATE TABLE dbo.broadcast (
    id            bigint IDENTITY(1,1) NOT NULL PRIMARY KEY,
    name          nvarchar(200)  NOT NULL,
    message_text  nvarchar(max)  NOT NULL,
    attachments   nvarchar(max)  NULL,
    target_kind   varchar(16)    NOT NULL,
    sender        nvarchar(64)   NOT NULL,
    total         int            NOT NULL,
    created_at    bigint         NOT NULL
);
GO
CREATE TABLE dbo.outbox (
    id                bigint IDENTITY(1,1) NOT NULL PRIMARY KEY,
    idempotency_key   nvarchar(400)  NOT NULL,
    kind              varchar(64)    NOT NULL,
    target            nvarchar(400)  NOT NULL,
    external_user_id  nvarchar(64)   NULL,
    payload           nvarchar(max)  NOT NULL,
    lane              tinyint        NOT NULL,
    state             varchar(16)    NOT NULL,
    is_idempotent     bit            NOT NULL,
    quota_subject     nvarchar(max)  NOT NULL,
    deadline          bigint         NULL,
    created_at        bigint         NOT NULL,
    next_attempt_at   bigint         NOT NULL,
    attempts          int            NOT NULL CONSTRAINT df_outbox_attempts DEFAULT 0,
    claim_token       varchar(36)    NULL,
    lease_until       bigint         NULL,
    last_errcode      int            NULL,
    last_error        nvarchar(2000) NULL,
    remote_ids        nvarchar(2000) NULL,
    completed_at      bigint         NULL,
    broadcast_id      bigint         NULL CONSTRAINT fk_outbox_broadcast REFERENCES dbo.broadcast (id),
    callback_id       nvarchar(200)  NULL,
    rule_name         nvarchar(200)  NULL,
    rule_file         nvarchar(400)  NULL,
    rule_line         int            NULL,
    rule_set_version  nvarchar(100)  NULL
);
GO
CREATE UNIQUE INDEX ux_outbox_idempotency_key ON dbo.outbox (idempotency_key);
CREATE INDEX ix_outbox_due ON dbo.outbox (state, lane, next_attempt_at, id);
CREATE INDEX ix_outbox_lease ON dbo.outbox (state, lease_until);
CREATE INDEX ix_outbox_customer ON dbo.outbox (external_user_id, id);
CREATE INDEX ix_outbox_broadcast ON dbo.outbox (broadcast_id, state);
