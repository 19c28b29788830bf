-- Mass-message tasks (add_msg_template) are only real once the sender confirms them in the WeCom client; these
-- tables track that confirmation per outbox item and the per-recipient results. Times are Unix milliseconds (UTC).
CREATE TABLE dbo.mass_message_tasks (
    outbox_id         bigint         NOT NULL PRIMARY KEY CONSTRAINT fk_mass_message_tasks_outbox REFERENCES dbo.outbox (id),
    msg_id            nvarchar(2000) NOT NULL,
    kind              varchar(64)    NOT NULL,
    target            nvarchar(400)  NOT NULL,
    script            nvarchar(200)  NULL,
    state             varchar(16)    NOT NULL,
    sent_at           bigint         NOT NULL,
    next_poll_at      bigint         NOT NULL,
    reminders         int            NOT NULL CONSTRAINT df_mass_message_tasks_reminders DEFAULT 0,
    last_reminded_at  bigint         NULL,
    senders_total     int            NOT NULL CONSTRAINT df_mass_message_tasks_senders_total DEFAULT 0,
    senders_sent      int            NOT NULL CONSTRAINT df_mass_message_tasks_senders_sent DEFAULT 0,
    settled_at        bigint         NULL,
    note              nvarchar(2000) NULL
);
GO
CREATE INDEX ix_mass_message_tasks_due ON dbo.mass_message_tasks (state, next_poll_at);
GO
CREATE TABLE dbo.mass_message_recipients (
    outbox_id   bigint        NOT NULL CONSTRAINT fk_mass_message_recipients_task REFERENCES dbo.mass_message_tasks (outbox_id),
    sender      nvarchar(64)  NOT NULL,
    recipient   nvarchar(128) NOT NULL,
    status      int           NOT NULL,
    send_time   bigint        NULL,
    CONSTRAINT pk_mass_message_recipients PRIMARY KEY (outbox_id, sender, recipient)
);
