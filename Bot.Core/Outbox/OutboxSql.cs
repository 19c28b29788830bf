using Bot.Core.Storage;

namespace Bot.Core.Outbox;

/// <summary>The outbox's column lists and clauses, shared by both dialects' statements.</summary>
internal static class OutboxSql
{
    public const string Columns = """
        id AS Id, idempotency_key AS IdempotencyKey, kind AS Kind, target AS Target, external_user_id AS ExternalUserId,
        payload AS Payload, lane AS Lane, state AS State, is_idempotent AS IsIdempotent, quota_subject AS QuotaSubject,
        deadline AS Deadline, created_at AS CreatedAt, next_attempt_at AS NextAttemptAt, attempts AS Attempts,
        claim_token AS ClaimToken, last_errcode AS LastErrcode, last_error AS LastError, remote_ids AS RemoteIds,
        completed_at AS CompletedAt, broadcast_id AS BroadcastId, callback_id AS CallbackId, rule_name AS RuleName,
        rule_file AS RuleFile, rule_line AS RuleLine, rule_set_version AS RuleSetVersion, call_started_at AS CallStartedAt
        """;

    public const string InsertColumns = """
        idempotency_key, kind, target, external_user_id, payload, lane, state, is_idempotent, quota_subject, deadline,
        created_at, next_attempt_at, attempts, broadcast_id, callback_id, rule_name, rule_file, rule_line, rule_set_version
        """;

    public const string InsertValues = """
        @IdempotencyKey, @Kind, @Target, @ExternalUserId, @Payload, @Lane, 'pending', @IsIdempotent, @QuotaSubject, @Deadline,
        @CreatedAt, @NextAttemptAt, 0, @BroadcastId, @CallbackId, @RuleName, @RuleFile, @RuleLine, @RuleSetVersion
        """;

    public const string InsertedColumns = """
        inserted.id AS Id, inserted.idempotency_key AS IdempotencyKey, inserted.kind AS Kind, inserted.target AS Target,
        inserted.external_user_id AS ExternalUserId, inserted.payload AS Payload, inserted.lane AS Lane, inserted.state AS State,
        inserted.is_idempotent AS IsIdempotent, inserted.quota_subject AS QuotaSubject, inserted.deadline AS Deadline,
        inserted.created_at AS CreatedAt, inserted.next_attempt_at AS NextAttemptAt, inserted.attempts AS Attempts,
        inserted.claim_token AS ClaimToken, inserted.last_errcode AS LastErrcode, inserted.last_error AS LastError,
        inserted.remote_ids AS RemoteIds, inserted.completed_at AS CompletedAt, inserted.broadcast_id AS BroadcastId,
        inserted.callback_id AS CallbackId, inserted.rule_name AS RuleName, inserted.rule_file AS RuleFile,
        inserted.rule_line AS RuleLine, inserted.rule_set_version AS RuleSetVersion, inserted.call_started_at AS CallStartedAt
        """;

    public const string LeaseExpiredInDoubt = "lease expired after its call started; it may have been applied";

    // An expired claim whose call started is in doubt; only an idempotent item with time and attempts left may go again.
    public const string ExpiredInDoubt = """
        state = 'sending' AND lease_until <= @Now AND call_started_at IS NOT NULL
            AND (is_idempotent = 0 OR deadline < @Now OR attempts + 1 >= @MaxAttempts)
        """;
}

/// <summary>The SQLite twins of <see cref="OutboxSqlServerStatements"/>; the store picks one set when it is built.</summary>
internal static class OutboxSqliteStatements
{
    public const string Insert = $"""
        INSERT INTO outbox ({OutboxSql.InsertColumns}) VALUES ({OutboxSql.InsertValues})
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        """;

    public const string Claim = $"""
        UPDATE outbox SET state = 'sending', claim_token = @ClaimToken, lease_until = @LeaseUntil
        WHERE id IN (
            SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= @Now
            ORDER BY lane, next_attempt_at, id LIMIT @Limit)
        RETURNING {OutboxSql.Columns}
        """;

    public const string RecoverUnknown = $"""
        UPDATE outbox SET state = 'unknown', completed_at = @Now, claim_token = NULL, lease_until = NULL,
            last_error = '{OutboxSql.LeaseExpiredInDoubt}'
        WHERE {OutboxSql.ExpiredInDoubt}
        RETURNING {OutboxSql.Columns}
        """;

    public const string ListByState = $"SELECT {OutboxSql.Columns} FROM outbox WHERE state = @State ORDER BY id DESC LIMIT @Limit";

    public const string ListByCustomer = $"SELECT {OutboxSql.Columns} FROM outbox WHERE external_user_id = @ExternalUserId ORDER BY id DESC LIMIT @Limit";
}

/// <summary>The outbox statements whose T-SQL differs from the shared SQL (upsert, claim locking, OUTPUT, paging).</summary>
[SqlServerStatements]
internal static class OutboxSqlServerStatements
{
    // UPDLOCK + HOLDLOCK range-locks the key, so two concurrent enqueues of one key insert once.
    public const string Insert = $"""
        INSERT INTO dbo.outbox ({OutboxSql.InsertColumns}) OUTPUT inserted.id
        SELECT {OutboxSql.InsertValues}
        WHERE NOT EXISTS (SELECT 1 FROM dbo.outbox WITH (UPDLOCK, HOLDLOCK) WHERE idempotency_key = @IdempotencyKey);
        """;

    // READPAST skips rows another dispatcher is claiming instead of waiting for them.
    public const string Claim = $"""
        WITH due AS (
            SELECT TOP (@Limit) * FROM dbo.outbox WITH (ROWLOCK, UPDLOCK, READPAST)
            WHERE state = 'pending' AND next_attempt_at <= @Now
            ORDER BY lane, next_attempt_at, id)
        UPDATE due SET state = 'sending', claim_token = @ClaimToken, lease_until = @LeaseUntil
        OUTPUT {OutboxSql.InsertedColumns};
        """;

    public const string RecoverUnknown = $"""
        UPDATE dbo.outbox SET state = 'unknown', completed_at = @Now, claim_token = NULL, lease_until = NULL,
            last_error = '{OutboxSql.LeaseExpiredInDoubt}'
        OUTPUT {OutboxSql.InsertedColumns}
        WHERE {OutboxSql.ExpiredInDoubt};
        """;

    public const string ListByState = $"SELECT TOP (@Limit) {OutboxSql.Columns} FROM dbo.outbox WHERE state = @State ORDER BY id DESC;";

    public const string ListByCustomer = $"SELECT TOP (@Limit) {OutboxSql.Columns} FROM dbo.outbox WHERE external_user_id = @ExternalUserId ORDER BY id DESC;";
}
