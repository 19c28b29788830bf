CREATE TABLE dbo.customer_groups (
    chat_id     nvarchar(128) NOT NULL PRIMARY KEY,
    name        nvarchar(256) NULL,
    owner       nvarchar(128) NULL,
    dismissed   bit           NOT NULL DEFAULT 0,
    updated_at  bigint        NOT NULL
);
GO
CREATE TABLE dbo.seeding_runs (
    id           bigint IDENTITY(1,1) NOT NULL PRIMARY KEY,
    script       nvarchar(128) NOT NULL,
    chat_id      nvarchar(128) NOT NULL,
    start_key    nvarchar(64)  NOT NULL,
    started_at   bigint        NOT NULL,
    fingerprint  nvarchar(64)  NOT NULL,
    state        nvarchar(16)  NOT NULL,
    stop_reason  nvarchar(400) NULL,
    CONSTRAINT uq_seeding_runs UNIQUE (script, chat_id, start_key)
);
GO
CREATE TABLE dbo.seeding_posts (
    id           bigint IDENTITY(1,1) NOT NULL PRIMARY KEY,
    run_id       bigint        NOT NULL REFERENCES dbo.seeding_runs (id),
    chat_id      nvarchar(128) NOT NULL,
    step         int           NOT NULL,
    sender       nvarchar(128) NOT NULL,
    text         nvarchar(max) NOT NULL,
    due_at       bigint        NOT NULL,
    state        nvarchar(16)  NOT NULL,
    note         nvarchar(1000) NULL,
    lease_until  bigint        NULL,
    fired_at     bigint        NULL,
    CONSTRAINT uq_seeding_posts UNIQUE (run_id, step)
);
GO
CREATE INDEX ix_seeding_posts_due ON dbo.seeding_posts (state, due_at);
GO
CREATE INDEX ix_seeding_posts_chat ON dbo.seeding_posts (chat_id, due_at);
