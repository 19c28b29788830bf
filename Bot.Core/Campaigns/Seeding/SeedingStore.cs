using System.Data.Common;
using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>A stored step of a seeding run, as the worker and the admin view see it.</summary>
public sealed record SeedingPostRow
{
    public long Id { get; init; }
    public long RunId { get; init; }
    public string Script { get; init; } = "";
    public string ChatId { get; init; } = "";
    public int Step { get; init; }
    public string Sender { get; init; } = "";
    public string Text { get; init; } = "";
    public long DueAt { get; init; }
    public string State { get; init; } = "";
    public string? Note { get; init; }
    public long? FiredAt { get; init; }

    public DateTimeOffset Due => DateTimeOffset.FromUnixTimeMilliseconds(DueAt);
}

public static class SeedingPostState
{
    public const string Planned = "planned", Firing = "firing", Enqueued = "enqueued", Skipped = "skipped", Stopped = "stopped";
}

/// <summary>Seeding runs and their schedule. Times are Unix milliseconds (UTC) in both dialects.</summary>
public sealed class SeedingStore(BotDatabase database)
{
    private readonly string _insertRunSql = database.Dialect.Pick(SqliteSql.InsertRun, SeedingSqlServerSql.InsertRun);
    private readonly string _claimSql = database.Dialect.Pick(SqliteSql.Claim, SeedingSqlServerSql.Claim);

    public async Task<long?> TryStartRunAsync(
        string script, string chatId, string startKey, DateTimeOffset startedAt, string fingerprint,
        IReadOnlyList<PlannedPost> posts, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        var run = new { Script = script, ChatId = chatId, StartKey = startKey, StartedAt = startedAt.ToUnixTimeMilliseconds(), Fingerprint = fingerprint };
        var runId = await write.Connection.ExecuteScalarAsync<long?>(new CommandDefinition(_insertRunSql, run, tx, cancellationToken: ct));
        if (runId is null)
        {
            // Already started (a WeCom retry of the create event, or another instance took the cron occurrence).
            return null;
        }
        const string insertPost = """
            INSERT INTO seeding_posts (run_id, chat_id, step, sender, text, due_at, state, note)
            VALUES (@RunId, @ChatId, @Step, @Sender, @Text, @DueAt, 'planned', @Note)
            """;
        foreach (var post in posts)
        {
            await write.Connection.ExecuteAsync(new CommandDefinition(insertPost, new
            {
                RunId = runId, ChatId = chatId, post.Step, Sender = post.By, post.Text,
                DueAt = post.DueAt.ToUnixTimeMilliseconds(), post.Note,
            }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        return runId;
    }

    /// <summary>Due times of mass-message posts already planned or sent for a group, for its receiving rule.</summary>
    public async Task<IReadOnlyList<DateTimeOffset>> ListPlannedPostTimesAsync(string chatId, DateTimeOffset from, CancellationToken ct)
    {
        const string sql = """
            SELECT due_at FROM seeding_posts
            WHERE chat_id = @ChatId AND due_at >= @From AND state IN ('planned', 'firing', 'enqueued')
            """;
        await using var connection = await database.OpenAsync(ct);
        var times = await connection.QueryAsync<long>(new CommandDefinition(sql, new { ChatId = chatId, From = from.ToUnixTimeMilliseconds() }, cancellationToken: ct));
        return times.Select(DateTimeOffset.FromUnixTimeMilliseconds).ToList();
    }

    /// <summary>
    /// Claims due posts with a lease: planned ones whose time has come, and ones a crashed worker left firing. Two
    /// instances never claim the same post while its lease lasts.
    /// </summary>
    public async Task<IReadOnlyList<SeedingPostRow>> ClaimDueAsync(DateTimeOffset now, TimeSpan lease, int limit, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        var args = new { Now = now.ToUnixTimeMilliseconds(), LeaseUntil = (now + lease).ToUnixTimeMilliseconds(), Limit = limit };
        var claimed = await write.Connection.QueryAsync<long>(new CommandDefinition(_claimSql, args, cancellationToken: ct));
        var ids = claimed.ToArray();
        if (ids.Length == 0)
        {
            return [];
        }
        return await QueryPostsAsync(write.Connection, "p.id IN @Ids", new { Ids = ids }, ct);
    }

    public async Task MarkAsync(long postId, string state, string? note, DateTimeOffset at, CancellationToken ct)
    {
        const string sql = """
            UPDATE seeding_posts SET state = @State, note = COALESCE(@Note, note), fired_at = @At, lease_until = NULL
            WHERE id = @Id
            """;
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { Id = postId, State = state, Note = note, At = at.ToUnixTimeMilliseconds() }, cancellationToken: ct));
    }

    /// <summary>Stops the runs matching the filter and every post of theirs that has not fired yet.</summary>
    public async Task<int> StopRunsAsync(string? chatId, string? script, string reason, CancellationToken ct)
    {
        const string stopPosts = """
            UPDATE seeding_posts SET state = 'stopped', note = @Reason
            WHERE state = 'planned' AND run_id IN (
                SELECT id FROM seeding_runs
                WHERE state = 'active' AND (@ChatId IS NULL OR chat_id = @ChatId) AND (@Script IS NULL OR script = @Script))
            """;
        const string stopRuns = """
            UPDATE seeding_runs SET state = 'stopped', stop_reason = @Reason
            WHERE state = 'active' AND (@ChatId IS NULL OR chat_id = @ChatId) AND (@Script IS NULL OR script = @Script)
            """;
        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        var args = new { ChatId = chatId, Script = script, Reason = reason };
        await write.Connection.ExecuteAsync(new CommandDefinition(stopPosts, args, tx, cancellationToken: ct));
        var runs = await write.Connection.ExecuteAsync(new CommandDefinition(stopRuns, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return runs;
    }

    /// <summary>Stops the active runs in a group that still have a post to be sent by <paramref name="sender"/>.</summary>
    public async Task<int> StopRunsWithSenderAsync(string chatId, string sender, string reason, CancellationToken ct)
    {
        const string find = """
            SELECT DISTINCT r.script FROM seeding_runs r JOIN seeding_posts p ON p.run_id = r.id
            WHERE r.state = 'active' AND r.chat_id = @ChatId AND p.sender = @Sender AND p.state = 'planned'
            """;
        // Only reads here; StopRunsAsync takes the write turn for each stop.
        List<string> scripts;
        await using (var connection = await database.OpenAsync(ct))
        {
            scripts = (await connection.QueryAsync<string>(new CommandDefinition(find, new { ChatId = chatId, Sender = sender }, cancellationToken: ct))).ToList();
        }
        var stopped = 0;
        foreach (var script in scripts)
        {
            stopped += await StopRunsAsync(chatId, script, reason, ct);
        }
        return stopped;
    }

    public async Task<IReadOnlyList<string>> ListActiveScriptsAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var names = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT DISTINCT script FROM seeding_runs WHERE state = 'active'", cancellationToken: ct));
        return names.ToList();
    }

    /// <summary>Marks runs whose posts have all left the planned state as done.</summary>
    public async Task CompleteFinishedRunsAsync(CancellationToken ct)
    {
        const string sql = """
            UPDATE seeding_runs SET state = 'done'
            WHERE state = 'active' AND NOT EXISTS (
                SELECT 1 FROM seeding_posts p WHERE p.run_id = seeding_runs.id AND p.state IN ('planned', 'firing'))
            """;
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(sql, cancellationToken: ct));
    }

    public async Task<long?> NextDueAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT MIN(due_at) FROM seeding_posts WHERE state = 'planned'", cancellationToken: ct));
    }

    /// <summary>The stored schedule (what the admin view shows): every post of a group's runs, or of all runs, by due time.</summary>
    public async Task<IReadOnlyList<SeedingPostRow>> GetScheduleAsync(string? chatId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await QueryPostsAsync(connection, "(@ChatId IS NULL OR p.chat_id = @ChatId)", new { ChatId = chatId }, ct);
    }

    private static async Task<IReadOnlyList<SeedingPostRow>> QueryPostsAsync(DbConnection connection, string where, object args, CancellationToken ct)
    {
        var sql = $"""
            SELECT p.id AS Id, p.run_id AS RunId, r.script AS Script, p.chat_id AS ChatId, p.step AS Step, p.sender AS Sender,
                   p.text AS Text, p.due_at AS DueAt, p.state AS State, p.note AS Note, p.fired_at AS FiredAt
            FROM seeding_posts p JOIN seeding_runs r ON r.id = p.run_id
            WHERE {where}
            ORDER BY p.due_at, p.step
            """;
        var rows = await connection.QueryAsync<SeedingPostRow>(new CommandDefinition(sql, args, cancellationToken: ct));
        return rows.ToList();
    }

    private static class SqliteSql
    {
        public const string InsertRun = """
            INSERT INTO seeding_runs (script, chat_id, start_key, started_at, fingerprint, state)
            VALUES (@Script, @ChatId, @StartKey, @StartedAt, @Fingerprint, 'active')
            ON CONFLICT (script, chat_id, start_key) DO NOTHING
            RETURNING id
            """;

        public const string Claim = """
            UPDATE seeding_posts SET state = 'firing', lease_until = @LeaseUntil
            WHERE id IN (
                SELECT id FROM seeding_posts
                WHERE (state = 'planned' AND due_at <= @Now) OR (state = 'firing' AND lease_until < @Now)
                ORDER BY due_at, step
                LIMIT @Limit)
            RETURNING id
            """;
    }
}

[SqlServerStatements]
internal static class SeedingSqlServerSql
{
    public const string InsertRun = """
        INSERT INTO dbo.seeding_runs (script, chat_id, start_key, started_at, fingerprint, state)
        OUTPUT INSERTED.id
        SELECT @Script, @ChatId, @StartKey, @StartedAt, @Fingerprint, 'active'
        WHERE NOT EXISTS (
            SELECT 1 FROM dbo.seeding_runs WITH (UPDLOCK, HOLDLOCK)
            WHERE script = @Script AND chat_id = @ChatId AND start_key = @StartKey);
        """;

    // READPAST lets several instances claim disjoint batches without waiting on each other's locks.
    public const string Claim = """
        WITH due AS (
            SELECT TOP (@Limit) id, state, lease_until FROM dbo.seeding_posts WITH (UPDLOCK, ROWLOCK, READPAST)
            WHERE (state = 'planned' AND due_at <= @Now) OR (state = 'firing' AND lease_until < @Now)
            ORDER BY due_at, step)
        UPDATE due SET state = 'firing', lease_until = @LeaseUntil
        OUTPUT INSERTED.id;
        """;
}
