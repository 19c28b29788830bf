using Bot.Core.Observability;
using System.Data.Common;
using System.Threading.Channels;
using Bot.Core.Storage;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Inbox;

/// <summary>
/// Stores callbacks durably before they are acknowledged. Concurrent appends are queued and committed together by
/// one loop (group commit): one transaction, and on SQLite one WAL append, for up to
/// <see cref="InboxOptions.WriteBatchSize"/> callbacks, instead of one per request.
/// </summary>
public sealed partial class InboxWriter : IHostedService, IAsyncDisposable
{
    private readonly Channel<PendingAppend> _queue = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _lifetime = new();
    private readonly BotDatabase _database;
    private readonly InboxSignal _signal;
    private readonly BotMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<InboxWriter> _logger;
    private readonly int _maxBatch;
    private readonly string? _durableCommitPragma;
    private readonly InsertOne _insert;
    private Task? _loop;

    private delegate Task<InboxAppendResult> InsertOne(
        DbConnection connection, DbTransaction transaction, InboxEntry entry, long now, CancellationToken ct);

    internal InboxWriter(
        BotDatabase database,
        IOptions<InboxOptions> options,
        InboxSignal signal,
        BotMetrics metrics,
        TimeProvider time,
        ILogger<InboxWriter> logger)
    {
        _database = database;
        _signal = signal;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _maxBatch = options.Value.WriteBatchSize;
        // WeCom is told "stored" once a batch commits, so on SQLite the WAL is synced on every commit (NORMAL would
        // lose the last commits on power loss). Group commit is what makes that affordable: one sync per batch.
        _durableCommitPragma = database.Dialect.Pick<string?>("PRAGMA synchronous = FULL", null);
        _insert = database.Dialect.Pick<InsertOne>(InsertSqliteAsync, InsertSqlServerAsync);
    }

    /// <summary>
    /// Completes once the entry is committed, or once it is found to be stored already. Faults when its batch could
    /// not be committed; the caller must then answer WeCom with an error so that WeCom retries.
    /// </summary>
    public Task<InboxAppendResult> AppendAsync(InboxEntry entry, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(entry);
        // Checked here, not by the database, so one bad entry cannot fail the batch it would share with others.
        ArgumentException.ThrowIfNullOrEmpty(entry.DedupeKey);
        ArgumentException.ThrowIfNullOrEmpty(entry.Kind);
        ArgumentNullException.ThrowIfNull(entry.Body);
        if (entry.DedupeKey.Length > InboxEntry.MaxDedupeKeyLength || entry.Kind.Length > InboxEntry.MaxKindLength)
        {
            throw new ArgumentException(
                $"DedupeKey is limited to {InboxEntry.MaxDedupeKeyLength} and Kind to {InboxEntry.MaxKindLength} characters.", nameof(entry));
        }

        var pending = new PendingAppend(entry);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("The inbox writer has stopped; the callback was not stored.");
        }
        // A caller that gives up still leaves its entry queued: it may be stored, and WeCom's retry is then a duplicate.
        return pending.Completion.Task.WaitAsync(ct);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        EnsureLoop();
        return Task.CompletedTask;
    }

    /// <summary>Refuses new appends and commits every queued one; if <paramref name="cancellationToken"/> fires first, the rest fail.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        var loop = EnsureLoop();
        await using (cancellationToken.Register(static abort => ((CancellationTokenSource)abort!).Cancel(), _abort))
        {
            await loop;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    private Task EnsureLoop()
    {
        lock (_lifetime)
        {
            return _loop ??= Task.Run(() => RunAsync(_abort.Token));
        }
    }

    private async Task RunAsync(CancellationToken abort)
    {
        var reader = _queue.Reader;
        var batch = new List<PendingAppend>(_maxBatch);
        // Ends when the queue is completed and empty, so a stop drains everything accepted before it.
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < _maxBatch && reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }
            await CommitAsync(batch, abort);
            batch.Clear();
        }
    }

    private async Task CommitAsync(List<PendingAppend> batch, CancellationToken ct)
    {
        var results = new InboxAppendResult[batch.Count];
        try
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            await using var write = await _database.OpenWriteAsync(ct, acknowledging: true);
            if (_durableCommitPragma is not null)
            {
                await write.Connection.ExecuteAsync(new CommandDefinition(_durableCommitPragma, cancellationToken: ct));
            }
            await using var transaction = await write.Connection.BeginTransactionAsync(ct);
            for (var i = 0; i < batch.Count; i++)
            {
                results[i] = await _insert(write.Connection, transaction, batch[i].Entry, now, ct);
            }
            await transaction.CommitAsync(ct);
        }
        catch (Exception ex)
        {
            // The loop must outlive a failed batch; its waiters see the failure and WeCom retries them.
            Log.BatchFailed(_logger, batch.Count, ex);
            foreach (var pending in batch)
            {
                pending.Completion.TrySetException(ex);
            }
            return;
        }

        var stored = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            stored += results[i] is InboxAppendResult.Stored ? 1 : 0;
            batch[i].Completion.TrySetResult(results[i]);
        }
        _metrics.InboxBatchCommitted(stored, batch.Count - stored);
        Log.BatchCommitted(_logger, batch.Count, stored);
        if (stored > 0)
        {
            _signal.Notify();
        }
    }

    private static async Task<InboxAppendResult> InsertSqliteAsync(
        DbConnection connection, DbTransaction transaction, InboxEntry entry, long now, CancellationToken ct)
    {
        // RETURNING yields no row when the key exists (a WeCom retry, or the same callback twice in this batch).
        const string insert = """
            INSERT INTO inbox (dedupe_key, kind, received_at, body, state, attempts, next_attempt_at)
            VALUES (@DedupeKey, @Kind, @ReceivedAt, @Body, 'pending', 0, @Now)
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """;
        const string existing = "SELECT id FROM inbox WHERE dedupe_key = @DedupeKey";

        var args = new InsertArgs(entry.DedupeKey, entry.Kind, entry.ReceivedAt.ToUnixTimeMilliseconds(), entry.Body, now);
        var id = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(insert, args, transaction, cancellationToken: ct));
        if (id is { } storedId)
        {
            return new InboxAppendResult.Stored(storedId);
        }
        var existingId = await connection.ExecuteScalarAsync<long>(new CommandDefinition(existing, args, transaction, cancellationToken: ct));
        return new InboxAppendResult.Duplicate(existingId);
    }

    private static async Task<InboxAppendResult> InsertSqlServerAsync(
        DbConnection connection, DbTransaction transaction, InboxEntry entry, long now, CancellationToken ct)
    {
        var args = new InsertArgs(entry.DedupeKey, entry.Kind, entry.ReceivedAt.ToUnixTimeMilliseconds(), entry.Body, now);
        var outcome = await connection.QuerySingleAsync<InsertOutcome>(
            new CommandDefinition(InboxWriterSqlServer.Insert, args, transaction, cancellationToken: ct));
        return outcome.Inserted ? new InboxAppendResult.Stored(outcome.Id) : new InboxAppendResult.Duplicate(outcome.Id);
    }

    private sealed record InsertArgs(string DedupeKey, string Kind, long ReceivedAt, string Body, long Now);

    private sealed class InsertOutcome
    {
        public long Id { get; set; }

        public bool Inserted { get; set; }
    }

    private sealed class PendingAppend(InboxEntry entry)
    {
        public InboxEntry Entry { get; } = entry;

        // Waiters resume on the thread pool, never inline on the writer loop.
        public TaskCompletionSource<InboxAppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Committed {Count} inbox appends ({Stored} new)")]
        public static partial void BatchCommitted(ILogger logger, int count, int stored);

        [LoggerMessage(2, LogLevel.Error, "Could not commit a batch of {Count} inbox appends; their callbacks are refused and WeCom will retry them")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);
    }
}

[SqlServerStatements]
internal static class InboxWriterSqlServer
{
    // UPDLOCK+HOLDLOCK keeps the key range locked from the check to the insert, so two instances appending the same
    // callback cannot both insert it (the second waits, then sees the first one's row).
    public const string Insert = """
        SET NOCOUNT ON;
        DECLARE @id bigint;
        SELECT @id = id FROM dbo.inbox WITH (UPDLOCK, HOLDLOCK) WHERE dedupe_key = @DedupeKey;
        IF @id IS NULL
        BEGIN
            INSERT INTO dbo.inbox (dedupe_key, kind, received_at, body, state, attempts, next_attempt_at)
            VALUES (@DedupeKey, @Kind, @ReceivedAt, @Body, N'pending', 0, @Now);
            SELECT CAST(SCOPE_IDENTITY() AS bigint) AS Id, CAST(1 AS bit) AS Inserted;
        END
        ELSE
            SELECT @id AS Id, CAST(0 AS bit) AS Inserted;
        """;
}
