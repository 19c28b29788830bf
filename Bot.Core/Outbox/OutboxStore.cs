using System.Data.Common;
using System.Text.Json;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Outbox;

/// <summary>
/// The outbox table: enqueue (deduplicated on the idempotency key), claims with fenced leases for dispatchers, and
/// the queries operators need. Times are stored as Unix milliseconds.
/// </summary>
public sealed class OutboxStore(BotDatabase database)
{
    internal BotDatabase Database => database;

    /// <summary>The mass-message tasks that carry <paramref name="recipient"/> (a customer or a group), newest first.</summary>
    public async Task<IReadOnlyList<OutboxRecipient>> ListByRecipientAsync(string recipient, CancellationToken ct)
    {
        const string sql = """
            SELECT r.outbox_id AS OutboxId, r.recipient AS Recipient, r.state AS State, r.error AS Error, o.broadcast_id AS BroadcastId
            FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox_id
            WHERE r.recipient = @Recipient ORDER BY r.outbox_id DESC
            """;
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<OutboxRecipient>(new CommandDefinition(sql, new { Recipient = recipient }, cancellationToken: ct))).ToList();
    }

    /// <summary>Every recipient of a broadcast's tasks and where each stands, in task then recipient order.</summary>
    public async Task<IReadOnlyList<OutboxRecipient>> ListRecipientsAsync(long broadcastId, CancellationToken ct)
    {
        const string sql = """
            SELECT r.outbox_id AS OutboxId, r.recipient AS Recipient, r.state AS State, r.error AS Error
            FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox_id
            WHERE o.broadcast_id = @BroadcastId ORDER BY r.outbox_id, r.recipient
            """;
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<OutboxRecipient>(new CommandDefinition(sql, new { BroadcastId = broadcastId }, cancellationToken: ct))).ToList();
    }

    private readonly string _insertSql = database.Dialect.Pick(OutboxSqliteStatements.Insert, OutboxSqlServerStatements.Insert);
    private readonly string _claimSql = database.Dialect.Pick(OutboxSqliteStatements.Claim, OutboxSqlServerStatements.Claim);
    private readonly string _recoverUnknownSql = database.Dialect.Pick(OutboxSqliteStatements.RecoverUnknown, OutboxSqlServerStatements.RecoverUnknown);
    private readonly string _listByStateSql = database.Dialect.Pick(OutboxSqliteStatements.ListByState, OutboxSqlServerStatements.ListByState);
    private readonly string _listByCustomerSql = database.Dialect.Pick(OutboxSqliteStatements.ListByCustomer, OutboxSqlServerStatements.ListByCustomer);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task<EnqueueResult> EnqueueAsync(OutboxRequest request, DateTimeOffset now, CancellationToken ct) =>
        EnqueueOneOwnedAsync(request, now, ct);

    /// <summary>Stores every request in one transaction; duplicates are reported, not stored again.</summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(IReadOnlyList<OutboxRequest> requests, DateTimeOffset now, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        var results = await EnqueueBatchAsync(requests, now, write.Connection, tx, ct);
        await tx.CommitAsync(ct);
        return results;
    }

    /// <summary>Stores every request inside the caller's transaction, so the items exist exactly when the caller's own rows do.</summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(
        IReadOnlyList<OutboxRequest> requests, DateTimeOffset now, DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        var results = new EnqueueResult[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            results[i] = await InsertAsync(requests[i], now, connection, transaction, ct);
        }
        return results;
    }

    private async Task<EnqueueResult> EnqueueOneOwnedAsync(OutboxRequest request, DateTimeOffset now, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        return await InsertAsync(request, now, write.Connection, null, ct);
    }

    private async Task<EnqueueResult> InsertAsync(OutboxRequest request, DateTimeOffset now, DbConnection connection, DbTransaction? tx, CancellationToken ct)
    {
        const string existing = "SELECT id FROM outbox WHERE idempotency_key = @IdempotencyKey";

        var parameters = ToParameters(request, now);
        var id = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(_insertSql, parameters, tx, cancellationToken: ct));
        if (id is { } newId)
        {
            return new EnqueueResult.Enqueued(newId);
        }
        var existingId = await connection.QuerySingleAsync<long>(new CommandDefinition(existing, new { request.IdempotencyKey }, tx, cancellationToken: ct));
        return new EnqueueResult.Duplicate(existingId);
    }

    private static object ToParameters(OutboxRequest request, DateTimeOffset now)
    {
        var defaults = OutboxKinds.Find(request.Kind);
        var lane = request.Lane ?? defaults?.Lane
            ?? throw new ArgumentException($"Outbox kind '{request.Kind}' has no default lane; set Lane.", nameof(request));
        var idempotent = request.IsIdempotent ?? defaults?.IsIdempotent
            ?? throw new ArgumentException($"Outbox kind '{request.Kind}' has no default idempotency; set IsIdempotent.", nameof(request));
        var notBefore = request.NotBefore is { } nb && nb > now ? nb : now;
        return new
        {
            request.IdempotencyKey,
            request.Kind,
            request.Target,
            request.ExternalUserId,
            request.Payload,
            Lane = (int)lane,
            IsIdempotent = idempotent,
            QuotaSubject = JsonSerializer.Serialize(request.QuotaSubject, Json),
            Deadline = request.Deadline?.ToUnixTimeMilliseconds(),
            CreatedAt = now.ToUnixTimeMilliseconds(),
            NextAttemptAt = notBefore.ToUnixTimeMilliseconds(),
            request.BroadcastId,
            request.Provenance?.CallbackId,
            request.Provenance?.RuleName,
            request.Provenance?.RuleFile,
            request.Provenance?.RuleLine,
            request.Provenance?.RuleSetVersion,
        };
    }

    /// <summary>Takes up to <paramref name="limit"/> due pending items, lowest lane first, under one claim token.</summary>
    internal async Task<IReadOnlyList<OutboxItem>> ClaimAsync(int limit, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken ct)
    {
        // One statement claims and returns the rows, so two dispatchers can never take the same item.
        await using var write = await database.OpenWriteAsync(ct);
        var rows = await write.Connection.QueryAsync<OutboxRow>(new CommandDefinition(
            _claimSql,
            new
            {
                ClaimToken = Guid.NewGuid().ToString("D"),
                LeaseUntil = leaseUntil.ToUnixTimeMilliseconds(),
                Now = now.ToUnixTimeMilliseconds(),
                Limit = limit,
            },
            cancellationToken: ct));
        return rows.Select(ToItem).OrderBy(i => i.Lane).ThenBy(i => i.NextAttemptAt).ThenBy(i => i.Id).ToList();
    }

    /// <summary>
    /// Handles items whose dispatcher vanished (lease expired while 'sending'). One whose call started (see
    /// <see cref="MarkCallStartedAsync"/>) may have been applied: it becomes unknown and is returned, unless it is
    /// idempotent and may still go (deadline not passed, attempts left), and then it goes again keeping its mark. One
    /// whose call never started goes back to pending, whatever its kind. Going back counts an attempt.
    /// </summary>
    internal async Task<IReadOnlyList<OutboxItem>> RecoverExpiredLeasesAsync(DateTimeOffset now, int maxAttempts, CancellationToken ct)
    {
        // After the unknown ones are taken out: what is left never started its call, or may safely call again.
        const string requeue = $"""
            UPDATE outbox SET
                state = CASE WHEN attempts + 1 >= @MaxAttempts THEN 'failed' ELSE 'pending' END,
                completed_at = CASE WHEN attempts + 1 >= @MaxAttempts THEN @Now ELSE NULL END,
                attempts = attempts + 1, next_attempt_at = @Now, claim_token = NULL, lease_until = NULL,
                last_error = CASE WHEN call_started_at IS NULL THEN 'lease expired before its call started'
                    ELSE '{OutboxSql.LeaseExpiredInDoubt}; sent again (idempotent)' END
            WHERE state = 'sending' AND lease_until <= @Now
            """;
        var parameters = new { Now = now.ToUnixTimeMilliseconds(), MaxAttempts = maxAttempts };
        await using var write = await database.OpenWriteAsync(ct);
        var unknown = await write.Connection.QueryAsync<OutboxRow>(new CommandDefinition(
            _recoverUnknownSql, parameters, cancellationToken: ct));
        await write.Connection.ExecuteAsync(new CommandDefinition(requeue, parameters, cancellationToken: ct));
        return unknown.Select(ToItem).ToList();
    }

    /// <summary>
    /// Records, under the claim and before the limiter's decision and the HTTP call, that the item's call may start
    /// now; false when the claim was lost, and then nothing must be called. An earlier call still in doubt keeps its time.
    /// </summary>
    internal async Task<bool> MarkCallStartedAsync(OutboxItem item, DateTimeOffset now)
    {
        const string sql = """
            UPDATE outbox SET call_started_at = COALESCE(call_started_at, @Now)
            WHERE id = @Id AND claim_token = @ClaimToken AND state = 'sending'
            """;
        // Not cancellable, like the outcome writes: the call waits for it and nothing else.
        return await database.ExecuteCombinedAsync(sql, new { Now = now.ToUnixTimeMilliseconds(), item.Id, item.ClaimToken }) == 1;
    }

    /// <summary>
    /// Records a final state, with the call still in doubt (<paramref name="callStartedAt"/>) if any; false when the
    /// claim was lost (lease expired and another dispatcher took over).
    /// </summary>
    internal async Task<bool> CompleteAsync(
        OutboxItem item, OutboxState state, DateTimeOffset now, int attempts, DateTimeOffset? callStartedAt,
        int? errcode = null, string? error = null, string? remoteIds = null)
    {
        const string sql = """
            UPDATE outbox SET state = @State, completed_at = @Now, claim_token = NULL, lease_until = NULL, attempts = @Attempts,
                call_started_at = @CallStartedAt,
                last_errcode = COALESCE(@Errcode, last_errcode), last_error = COALESCE(@Error, last_error), remote_ids = @RemoteIds
            WHERE id = @Id AND claim_token = @ClaimToken AND state = 'sending'
            """;
        // Outcomes of sends running side by side share transactions; the call already happened, so this is not cancelled.
        return await database.ExecuteCombinedAsync(sql, new
        {
            State = ToText(state),
            Now = now.ToUnixTimeMilliseconds(),
            Attempts = attempts,
            CallStartedAt = callStartedAt?.ToUnixTimeMilliseconds(),
            Errcode = errcode,
            Error = Truncate(error),
            RemoteIds = Truncate(remoteIds),
            item.Id,
            item.ClaimToken,
        }) == 1;
    }

    /// <summary>
    /// Gives the item back to pending, due at <paramref name="nextAttemptAt"/>; false when the claim was lost.
    /// <paramref name="callStartedAt"/> is the call still in doubt, if any: the claim's own (<see cref="OutboxItem.CallStartedAt"/>)
    /// when this attempt made no call or WeCom answered it, this attempt's when its call went unanswered.
    /// </summary>
    internal async Task<bool> ReleaseAsync(
        OutboxItem item, DateTimeOffset nextAttemptAt, int attempts, int? errcode, string? error, DateTimeOffset? callStartedAt)
    {
        const string sql = """
            UPDATE outbox SET state = 'pending', next_attempt_at = @NextAttemptAt, attempts = @Attempts, claim_token = NULL,
                lease_until = NULL, call_started_at = @CallStartedAt,
                last_errcode = COALESCE(@Errcode, last_errcode), last_error = COALESCE(@Error, last_error)
            WHERE id = @Id AND claim_token = @ClaimToken AND state = 'sending'
            """;
        return await database.ExecuteCombinedAsync(sql, new
        {
            NextAttemptAt = nextAttemptAt.ToUnixTimeMilliseconds(),
            Attempts = attempts,
            CallStartedAt = callStartedAt?.ToUnixTimeMilliseconds(),
            Errcode = errcode,
            Error = Truncate(error),
            item.Id,
            item.ClaimToken,
        }) == 1;
    }

    /// <summary>
    /// Settles an item whose outcome was unknown, once reconciliation learnt it from WeCom: sent (with the remote id
    /// found) or failed (WeCom never applied it). False when it is no longer unknown (another instance settled it) or another item
    /// already records <paramref name="remoteIds"/>: checked in the same statement, so two items never take one task.
    /// </summary>
    internal async Task<bool> SettleUnknownAsync(long id, OutboxState state, string? remoteIds, string note, CancellationToken ct)
    {
        const string sql = """
            UPDATE outbox SET state = @State, remote_ids = COALESCE(@RemoteIds, remote_ids), last_error = @Note
            WHERE id = @Id AND state = 'unknown'
              AND (@RemoteIds IS NULL OR NOT EXISTS (SELECT 1 FROM outbox other WHERE other.remote_ids = @RemoteIds))
            """;
        // The task's recipients in doubt follow it: those it carried were sent with it, or with it never were.
        const string recipients = "UPDATE outbox_recipients SET state = @State, error = @Note WHERE outbox_id = @Id AND state IN ('unknown', 'pending')";
        var parameters = new { Id = id, State = ToText(state), RemoteIds = remoteIds, Note = Truncate(note) };
        if (await database.ExecuteCombinedAsync(sql, parameters) != 1)
        {
            return false;
        }
        await database.ExecuteCombinedAsync(recipients, parameters);
        return true;
    }

    /// <summary>Whether some item already records <paramref name="remoteId"/>, so reconciliation never gives one task to two items.</summary>
    internal async Task<bool> IsRemoteIdRecordedAsync(string remoteId, CancellationToken ct)
    {
        const string sql = "SELECT COUNT(*) FROM outbox WHERE remote_ids = @RemoteId";
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(sql, new { RemoteId = remoteId }, cancellationToken: ct)) > 0;
    }

    /// <summary>When a dispatcher next has work: the earliest due pending item or the earliest lease to expire.</summary>
    internal async Task<DateTimeOffset?> NextWakeAsync(CancellationToken ct)
    {
        const string sql = """
            SELECT MIN(w.t) FROM (
                SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'
                UNION ALL
                SELECT MIN(lease_until) AS t FROM outbox WHERE state = 'sending') AS w
            """;
        await using var connection = await database.OpenAsync(ct);
        var at = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(sql, cancellationToken: ct));
        return at is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    public async Task<OutboxItem?> GetAsync(long id, CancellationToken ct)
    {
        const string sql = $"SELECT {OutboxSql.Columns} FROM outbox WHERE id = @Id";
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<OutboxRow>(new CommandDefinition(sql, new { Id = id }, cancellationToken: ct));
        return row is null ? null : ToItem(row);
    }

    /// <summary>Item counts by lane and state, for dashboards and readiness.</summary>
    public async Task<IReadOnlyList<OutboxDepth>> GetDepthAsync(CancellationToken ct)
    {
        const string sql = "SELECT lane AS Lane, state AS State, COUNT(*) AS Count FROM outbox GROUP BY lane, state";
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(long Lane, string State, long Count)>(new CommandDefinition(sql, cancellationToken: ct));
        return rows.Select(r => new OutboxDepth((OutboxLane)r.Lane, ParseState(r.State), (int)r.Count))
            .OrderBy(d => d.Lane).ThenBy(d => d.State).ToList();
    }

    /// <summary>Items in one state, newest first: operators list unknown, failed and expired items here.</summary>
    public async Task<IReadOnlyList<OutboxItem>> ListByStateAsync(OutboxState state, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<OutboxRow>(new CommandDefinition(
            _listByStateSql,
            new { State = ToText(state), Limit = limit }, cancellationToken: ct));
        return rows.Select(ToItem).ToList();
    }

    /// <summary>Everything sent (or meant to be sent) to one customer, newest first, for "explain".</summary>
    public async Task<IReadOnlyList<OutboxItem>> ListByCustomerAsync(string externalUserId, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<OutboxRow>(new CommandDefinition(
            _listByCustomerSql,
            new { ExternalUserId = externalUserId, Limit = limit }, cancellationToken: ct));
        return rows.Select(ToItem).ToList();
    }

    internal static string ToText(OutboxState state) => state switch
    {
        OutboxState.Pending => "pending",
        OutboxState.Sending => "sending",
        OutboxState.Sent => "sent",
        OutboxState.Failed => "failed",
        OutboxState.Expired => "expired",
        OutboxState.Unknown => "unknown",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    internal static OutboxState ParseState(string text) => text switch
    {
        "pending" => OutboxState.Pending,
        "sending" => OutboxState.Sending,
        "sent" => OutboxState.Sent,
        "failed" => OutboxState.Failed,
        "expired" => OutboxState.Expired,
        "unknown" => OutboxState.Unknown,
        _ => throw new InvalidOperationException($"Unknown outbox state '{text}' in the database"),
    };

    private static string? Truncate(string? text) => text is { Length: > 2000 } ? text[..2000] : text;

    private static DateTimeOffset? FromMs(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    private static OutboxItem ToItem(OutboxRow row) => new()
    {
        Id = row.Id,
        IdempotencyKey = row.IdempotencyKey,
        Kind = row.Kind,
        Target = row.Target,
        ExternalUserId = row.ExternalUserId,
        Payload = row.Payload,
        Lane = (OutboxLane)row.Lane,
        State = ParseState(row.State),
        IsIdempotent = row.IsIdempotent,
        QuotaSubject = JsonSerializer.Deserialize<QuotaSubject>(row.QuotaSubject, Json)
            ?? throw new InvalidOperationException($"Outbox item {row.Id} has no quota subject"),
        Deadline = FromMs(row.Deadline),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
        NextAttemptAt = DateTimeOffset.FromUnixTimeMilliseconds(row.NextAttemptAt),
        Attempts = (int)row.Attempts,
        ClaimToken = row.ClaimToken,
        LastErrcode = (int?)row.LastErrcode,
        LastError = row.LastError,
        RemoteIds = row.RemoteIds,
        CompletedAt = FromMs(row.CompletedAt),
        BroadcastId = row.BroadcastId,
        Provenance = new OutboxProvenance(row.CallbackId, row.RuleName, row.RuleFile, (int?)row.RuleLine, row.RuleSetVersion),
        CallStartedAt = FromMs(row.CallStartedAt),
    };

    private sealed class OutboxRow
    {
        public long Id { get; init; }
        public string IdempotencyKey { get; init; } = "";
        public string Kind { get; init; } = "";
        public string Target { get; init; } = "";
        public string? ExternalUserId { get; init; }
        public string Payload { get; init; } = "";
        public long Lane { get; init; }
        public string State { get; init; } = "";
        public bool IsIdempotent { get; init; }
        public string QuotaSubject { get; init; } = "";
        public long? Deadline { get; init; }
        public long CreatedAt { get; init; }
        public long NextAttemptAt { get; init; }
        public long Attempts { get; init; }
        public string? ClaimToken { get; init; }
        public long? LastErrcode { get; init; }
        public string? LastError { get; init; }
        public string? RemoteIds { get; init; }
        public long? CompletedAt { get; init; }
        public long? BroadcastId { get; init; }
        public string? CallbackId { get; init; }
        public string? RuleName { get; init; }
        public string? RuleFile { get; init; }
        public long? RuleLine { get; init; }
        public string? RuleSetVersion { get; init; }
        public long? CallStartedAt { get; init; }
    }
}
