-- Durable inbox of WeCom callbacks: stored before WeCom gets its 200, handled afterwards with retries.
-- Times are UTC unix milliseconds (bigint), as in the SQLite schema, so the stores share their parameters.
CREATE TABLE dbo.inbox (
    id              bigint IDENTITY(1, 1) NOT NULL CONSTRAINT pk_inbox PRIMARY KEY CLUSTERED,
    dedupe_key      nvarchar(256)  NOT NULL,
    kind            nvarchar(64)   NOT NULL,
    received_at     bigint         NOT NULL,
    body            nvarchar(max)  NOT NULL,
    state           nvarchar(8)    NOT NULL CONSTRAINT df_inbox_state DEFAULT N'pending'
                                   CONSTRAINT ck_inbox_state CHECK (state IN (N'pending', N'handled', N'parked')),
    attempts        int            NOT NULL CONSTRAINT df_inbox_attempts DEFAULT 0,
    next_attempt_at bigint         NOT NULL,
    lease_owner     nvarchar(128)  NULL,
    lease_until     bigint         NULL,
    last_error      nvarchar(4000) NULL,
    handled_at      bigint         NULL
);
GO

-- A WeCom retry of a stored callback collides here and is reported as a duplicate.
CREATE UNIQUE NONCLUSTERED INDEX ux_inbox_dedupe_key ON dbo.inbox (dedupe_key);
GO

-- Claiming walks the pending range in due order; the per-state counts of the stats read the same index.
CREATE NONCLUSTERED INDEX ix_inbox_state_due ON dbo.inbox (state, next_attempt_at) INCLUDE (lease_until);
GO

-- Back-testing reads callbacks in arrival order from a point in time.
CREATE NONCLUSTERED INDEX ix_inbox_received_at ON dbo.inbox (received_at);
GO
