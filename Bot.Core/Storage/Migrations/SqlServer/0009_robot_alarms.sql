CREATE TABLE dbo.robot_alarms (
    robot_name  nvarchar(64)   NOT NULL PRIMARY KEY,
    errcode     int            NOT NULL,
    errmsg      nvarchar(1024) NOT NULL,
    outbox_id   bigint         NULL,
    raised_at   bigint         NOT NULL
);
