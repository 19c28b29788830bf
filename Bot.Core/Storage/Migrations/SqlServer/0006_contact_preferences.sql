CREATE TABLE dbo.contact_preferences (
    external_user_id  nvarchar(128) NOT NULL PRIMARY KEY,
    opted_out         int           NOT NULL,
    changed_at        bigint        NOT NULL,
    callback_id       bigint        NULL
);
