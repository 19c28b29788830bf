CREATE TABLE dbo.outbox_recipients (
    outbox_id  bigint         NOT NULL REFERENCES dbo.outbox (id),
    recipient  nvarchar(128)  NOT NULL,
    state      nvarchar(16)   NOT NULL,
    error      nvarchar(2000) NULL,
    CONSTRAINT pk_outbox_recipients PRIMARY KEY (outbox_id, recipient)
);

ALTER TABLE dbo.broadcast ADD unassigned nvarchar(max) NULL;
