using Bot.Core.Handling;
using System.Runtime.CompilerServices;
using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Inbox;

/// <summary>Reads the inbox and changes the handling state of its callbacks. Times are stored as UTC unix milliseconds.</summary>
public sealed class InboxStore
{
    private const int ListPageSize = 500;

    private readonly BotDatabase _database;
    private readonly InboxSignal _signal;
    private readonly TimeProvider _time;
    private readonly string _listParkedSql;
    private readonly string _purgeHandledSql;
    private readonly string _listSinceSql;
    private readonly string _claimSql;
    private readonly string _listUnhandledMentioningSql;

    internal InboxStore(BotDatabase database, InboxSignal signal, TimeProvider time)
    {
        _database = database;
        _signal = signal;
        _time = time;
        _listParkedSql = database.Dialect.Pick(SqliteListParked, InboxStoreSqlServer.ListParked);
        _purgeHandledSql = database.Dialect.Pick(SqlitePurgeHandled, InboxStoreSqlServer.PurgeHandled);
        _listSinceSql = database.Dialect.Pick(SqliteListSince, InboxStoreSqlServer.ListSince);
        _claimSql = database.Dialect.Pick(SqliteClaim, InboxStoreSqlServer.Claim);
        _listUnhandledMentioningSql = database.Dialect.Pick(SqliteListUnhandledMentioning, InboxStoreSqlServer.ListUnhandledMentioning);
    }

    internal const string StatsSql = """
        SELECT
            (SELECT COUNT(*) FROM inbox WHERE state = 'pending') AS Pending,
            (SELECT MIN(received_at) FROM inbox WHERE state = 'pending') AS OldestPendingReceivedAt,
            (SELECT COUNT(*) FROM inbox WHERE state = 'parked') AS Parked,
            (SELECT COUNT(*) FROM inbox WHERE state = 'handled') AS Handled
        """;

    public async Task<InboxStats> GetStatsAsync(CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<StatsRow>(new CommandDefinition(StatsSql, cancellationToken: ct));
        TimeSpan? oldestAge = row.OldestPendingReceivedAt is { } oldest
            ? _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(oldest)
            : null;
        return new InboxStats(row.Pending, oldestAge, row.Parked, row.Handled);
    }

    private const string SqliteListParked = $"SELECT {RecordColumns} FROM inbox WHERE state = 'parked' ORDER BY id LIMIT @Limit";

    public async Task<IReadOnlyList<InboxRecord>> ListParkedAsync(int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await _database.OpenAsync(ct);
        var rows = await connection.QueryAsync<RecordRow>(new CommandDefinition(_listParkedSql, new { Limit = limit }, cancellationToken: ct));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    private const string SqlitePurgeHandled = """
        DELETE FROM inbox WHERE id IN (
            SELECT id FROM inbox WHERE state = 'handled' AND handled_at < @Cutoff ORDER BY id LIMIT @Batch)
        """;

    /// <summary>
    /// Deletes up to <paramref name="batchSize"/> callbacks handled before <paramref name="cutoff"/>; returns how many.
    /// Small batches keep each transaction short, so callbacks arriving meanwhile are not held up behind the delete.
    /// </summary>
    public async Task<int> PurgeHandledAsync(DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        await using var write = await _database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(
            _purgeHandledSql, new { Cutoff = cutoff.ToUnixTimeMilliseconds(), Batch = batchSize }, cancellationToken: ct));
    }

    // A substring search, not LIKE: ids may hold '_', a LIKE wildcard. Only unhandled rows, a few per customer at most.
    private const string SqliteListUnhandledMentioning = $"""
        SELECT {RecordColumns} FROM inbox
        WHERE state IN ('pending', 'parked') AND instr(body, @Needle) > 0
        ORDER BY id DESC LIMIT @Limit
        """;

    /// <summary>
    /// Callbacks not yet handled (pending or parked) whose body names <paramref name="needle"/>, newest first: for
    /// "explain", a customer whose contact-add is still waiting or was parked has not been sent nothing by accident.
    /// </summary>
    public async Task<IReadOnlyList<InboxRecord>> ListUnhandledMentioningAsync(string needle, int limit, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(needle);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await _database.OpenAsync(ct);
        var rows = await connection.QueryAsync<RecordRow>(
            new CommandDefinition(_listUnhandledMentioningSql, new { Needle = needle, Limit = limit }, cancellationToken: ct));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    internal const string ReplaySql = """
        UPDATE inbox
        SET state = 'pending', attempts = 0, next_attempt_at = @Now, lease_owner = NULL, lease_until = NULL
        WHERE id = @Id AND state = 'parked'
        """;

    /// <summary>Puts a parked callback back in line with a fresh set of attempts. False when it is not parked.</summary>
    public async Task<bool> ReplayAsync(long id, CancellationToken ct)
    {
        await using var write = await _database.OpenWriteAsync(ct);
        var changed = await write.Connection.ExecuteAsync(new CommandDefinition(
            ReplaySql, new { Id = id, Now = _time.GetUtcNow().ToUnixTimeMilliseconds() }, cancellationToken: ct));
        if (changed == 0)
        {
            return false;
        }
        _signal.Notify();
        return true;
    }

    internal const string GetSql = $"SELECT {RecordColumns} FROM inbox WHERE id = @Id";

    public async Task<InboxRecord?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<RecordRow>(new CommandDefinition(GetSql, new { Id = id }, cancellationToken: ct));
        return row?.ToRecord();
    }

    // Keyset paging on (received_at, id), which is the order of ix_inbox_received_at (id is its row locator).
    private const string SqliteListSince = $"""
        SELECT {ItemColumns} FROM inbox
        WHERE received_at >= @AfterAt AND (received_at > @AfterAt OR id > @AfterId)
        ORDER BY received_at, id
        LIMIT @PageSize
        """;

    /// <summary>
    /// Streams every callback received at or after <paramref name="since"/>, oldest first, whatever its state, one
    /// page per query so that a long history never holds a reader open across the caller's work.
    /// </summary>
    public async IAsyncEnumerable<StoredCallback> ListSinceAsync(DateTimeOffset since, [EnumeratorCancellation] CancellationToken ct)
    {
        var afterAt = since.ToUnixTimeMilliseconds();
        var afterId = long.MinValue;
        while (true)
        {
            List<ItemRow> page;
            await using (var connection = await _database.OpenAsync(ct))
            {
                page = (await connection.QueryAsync<ItemRow>(new CommandDefinition(
                    _listSinceSql,
                    new { AfterAt = afterAt, AfterId = afterId, PageSize = ListPageSize },
                    cancellationToken: ct))).ToList();
            }
            foreach (var row in page)
            {
                yield return row.ToItem();
            }
            if (page.Count < ListPageSize)
            {
                yield break;
            }
            afterAt = page[^1].ReceivedAt;
            afterId = page[^1].Id;
        }
    }

    // A write statement takes SQLite's write lock before it reads, so the subquery sees the latest commits.
    private const string SqliteClaim = $"""
        UPDATE inbox SET lease_owner = @Owner,
            lease_until = CASE WHEN instr(@ShortLeaseKinds, '|' || kind || '|') > 0 THEN @ShortLeaseUntil ELSE @LeaseUntil END
        WHERE id IN (
            SELECT id FROM inbox
            WHERE state = 'pending' AND next_attempt_at <= @Now AND (lease_until IS NULL OR lease_until < @Now)
            ORDER BY next_attempt_at, id
            LIMIT @Limit)
        RETURNING {ItemColumns}, lease_until AS LeaseUntil
        """;

    /// <summary>
    /// Leases up to <paramref name="limit"/> due callbacks to <paramref name="owner"/>, until <paramref name="leaseUntil"/>,
    /// or until <paramref name="shortLeaseUntil"/> for the kinds listed in <paramref name="shortLeaseKinds"/> ("|a|b|").
    /// A callback is due when it is pending, its next attempt has come, and no live lease holds it; one statement tests
    /// and takes the lease, so two workers never lease the same callback at once. Returned in arrival order.
    /// </summary>
    internal async Task<IReadOnlyList<ClaimedItem>> ClaimAsync(
        string owner, DateTimeOffset now, DateTimeOffset leaseUntil, DateTimeOffset shortLeaseUntil, string shortLeaseKinds, int limit, CancellationToken ct)
    {
        await using var write = await _database.OpenWriteAsync(ct);
        var rows = await write.Connection.QueryAsync<ClaimedRow>(new CommandDefinition(
            _claimSql,
            new
            {
                Owner = owner,
                Now = now.ToUnixTimeMilliseconds(),
                LeaseUntil = leaseUntil.ToUnixTimeMilliseconds(),
                ShortLeaseUntil = shortLeaseUntil.ToUnixTimeMilliseconds(),
                ShortLeaseKinds = shortLeaseKinds,
                Limit = limit,
            },
            cancellationToken: ct));
        return rows.OrderBy(r => r.Id).Select(r => new ClaimedItem(r.ToItem(), DateTimeOffset.FromUnixTimeMilliseconds(r.LeaseUntil))).ToList();
    }

    internal const string LeaseOwnersSql = "SELECT DISTINCT lease_owner FROM inbox WHERE state = 'pending' AND lease_owner IS NOT NULL";

    /// <summary>Every owner holding a lease now; a lease is only ever held on a pending callback.</summary>
    internal async Task<IReadOnlyList<string>> ListLeaseOwnersAsync(CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        return (await connection.QueryAsync<string>(new CommandDefinition(LeaseOwnersSql, cancellationToken: ct))).ToList();
    }

    internal const string ReleaseOwnerSql = """
        UPDATE inbox SET lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner = @Owner
        """;

    /// <summary>Gives back at once every lease <paramref name="owner"/> holds; returns how many.</summary>
    internal async Task<int> ReleaseAllOfAsync(string owner, CancellationToken ct)
    {
        await using var write = await _database.OpenWriteAsync(ct);
        var released = await write.Connection.ExecuteAsync(new CommandDefinition(ReleaseOwnerSql, new { Owner = owner }, cancellationToken: ct));
        if (released > 0)
        {
            _signal.Notify();
        }
        return released;
    }

    internal const string MarkHandledSql = """
        UPDATE inbox SET state = 'handled', handled_at = @Now, lease_owner = NULL, lease_until = NULL
        WHERE id = @Id AND lease_owner = @Owner
        """;

    /// <summary>
    /// False when the lease was lost meanwhile (it expired and another worker took the callback). Marks of handlers
    /// running side by side share transactions (<see cref="BotDatabase.ExecuteCombinedAsync"/>).
    /// </summary>
    internal async Task<bool> MarkHandledAsync(long id, string owner, DateTimeOffset now, CancellationToken ct) =>
        await _database.ExecuteCombinedAsync(MarkHandledSql, new { Id = id, Owner = owner, Now = now.ToUnixTimeMilliseconds() }) == 1;

    internal const string RecordFailureSql = """
        UPDATE inbox
        SET state = @State, attempts = @Attempts, next_attempt_at = @NextAttemptAt, last_error = @LastError,
            lease_owner = NULL, lease_until = NULL
        WHERE id = @Id AND lease_owner = @Owner
        """;

    internal async Task<bool> RecordFailureAsync(
        long id, string owner, int attempts, bool park, DateTimeOffset nextAttemptAt, string error, CancellationToken ct)
    {
        const int maxErrorLength = 4000;
        await using var write = await _database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(RecordFailureSql, new
        {
            Id = id,
            Owner = owner,
            State = park ? "parked" : "pending",
            Attempts = attempts,
            NextAttemptAt = nextAttemptAt.ToUnixTimeMilliseconds(),
            LastError = error.Length > maxErrorLength ? error[..maxErrorLength] : error,
        }, cancellationToken: ct)) == 1;
    }

    internal const string ReleaseSql = "UPDATE inbox SET lease_owner = NULL, lease_until = NULL WHERE id = @Id AND lease_owner = @Owner";

    /// <summary>Gives a leased callback back at once (on shutdown) instead of letting its lease run out.</summary>
    internal async Task ReleaseAsync(long id, string owner, CancellationToken ct)
    {
        await using var write = await _database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(ReleaseSql, new { Id = id, Owner = owner }, cancellationToken: ct));
    }

    internal const string ItemColumns =
        "id AS Id, dedupe_key AS DedupeKey, kind AS Kind, received_at AS ReceivedAt, body AS Body, attempts AS Attempts";

    internal const string RecordColumns = ItemColumns + """
        , state AS State, next_attempt_at AS NextAttemptAt, last_error AS LastError, handled_at AS HandledAt
        """;

    internal static InboxState ParseState(string state) => state switch
    {
        "pending" => InboxState.Pending,
        "handled" => InboxState.Handled,
        "parked" => InboxState.Parked,
        _ => throw new InvalidOperationException($"Unknown inbox state '{state}'"),
    };

    private sealed class ClaimedRow : ItemRow
    {
        public long LeaseUntil { get; set; }
    }

    private sealed class StatsRow
    {
        public long Pending { get; set; }

        public long? OldestPendingReceivedAt { get; set; }

        public long Parked { get; set; }

        public long Handled { get; set; }
    }

    private class ItemRow
    {
        public long Id { get; set; }

        public string DedupeKey { get; set; } = "";

        public string Kind { get; set; } = "";

        public long ReceivedAt { get; set; }

        public string Body { get; set; } = "";

        public int Attempts { get; set; }

        public StoredCallback ToItem() => new(Id, DedupeKey, Kind, DateTimeOffset.FromUnixTimeMilliseconds(ReceivedAt), Body, Attempts);
    }

    private sealed class RecordRow : ItemRow
    {
        public string State { get; set; } = "";

        public long NextAttemptAt { get; set; }

        public string? LastError { get; set; }

        public long? HandledAt { get; set; }

        public InboxRecord ToRecord() => new(
            Id, DedupeKey, Kind, DateTimeOffset.FromUnixTimeMilliseconds(ReceivedAt), Body, ParseState(State), Attempts,
            DateTimeOffset.FromUnixTimeMilliseconds(NextAttemptAt), LastError,
            HandledAt is { } handled ? DateTimeOffset.FromUnixTimeMilliseconds(handled) : null);
    }
}

[SqlServerStatements]
internal static class InboxStoreSqlServer
{
    // READPAST skips rows another worker is claiming right now instead of queueing behind its lock.
    public const string Claim = """
        WITH due AS (
            SELECT TOP (@Limit) id, dedupe_key, kind, received_at, body, attempts, lease_owner, lease_until
            FROM dbo.inbox WITH (UPDLOCK, READPAST, ROWLOCK)
            WHERE state = N'pending' AND next_attempt_at <= @Now AND (lease_until IS NULL OR lease_until < @Now)
            ORDER BY next_attempt_at, id)
        UPDATE due SET lease_owner = @Owner,
            lease_until = CASE WHEN CHARINDEX(N'|' + kind + N'|', @ShortLeaseKinds) > 0 THEN @ShortLeaseUntil ELSE @LeaseUntil END
        OUTPUT inserted.id AS Id, inserted.dedupe_key AS DedupeKey, inserted.kind AS Kind,
               inserted.received_at AS ReceivedAt, inserted.body AS Body, inserted.attempts AS Attempts,
               inserted.lease_until AS LeaseUntil;
        """;

    public const string ListParked = $"SELECT TOP (@Limit) {InboxStore.RecordColumns} FROM dbo.inbox WHERE state = N'parked' ORDER BY id";

    public const string ListUnhandledMentioning = $"""
        SELECT TOP (@Limit) {InboxStore.RecordColumns} FROM dbo.inbox
        WHERE state IN (N'pending', N'parked') AND CHARINDEX(@Needle, body) > 0
        ORDER BY id DESC
        """;

    public const string ListSince = $"""
        SELECT TOP (@PageSize) {InboxStore.ItemColumns} FROM dbo.inbox
        WHERE received_at >= @AfterAt AND (received_at > @AfterAt OR id > @AfterId)
        ORDER BY received_at, id
        """;

    public const string PurgeHandled = """
        DELETE TOP (@Batch) FROM dbo.inbox WITH (READPAST, ROWLOCK)
        WHERE state = N'handled' AND handled_at < @Cutoff;
        """;

    // Shared with SQLite; listed here so the ScriptDom test parses them as T-SQL too.
    public const string Stats = InboxStore.StatsSql;
    public const string Replay = InboxStore.ReplaySql;
    public const string Get = InboxStore.GetSql;
    public const string MarkHandled = InboxStore.MarkHandledSql;
    public const string RecordFailure = InboxStore.RecordFailureSql;
    public const string Release = InboxStore.ReleaseSql;
    public const string LeaseOwners = InboxStore.LeaseOwnersSql;
    public const string ReleaseOwner = InboxStore.ReleaseOwnerSql;
}
