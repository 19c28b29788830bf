using Bot.Core.Campaigns.Preflight;
using Bot.Core.Outbox;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Bot.Core.WeCom.Api;
using Dapper;

namespace Bot.Core.Campaigns.MassMessages;

public enum BroadcastTargetKind
{
    /// <summary>Customer groups (chat ids); WeCom's chat_type "group".</summary>
    Groups,

    /// <summary>Customers (external user ids); WeCom's chat_type "single".</summary>
    Customers,
}

/// <summary>An operator's broadcast: one message to many groups or customers, each sent as its own outbox item.</summary>
public sealed record BroadcastRequest
{
    [Required, StringLength(200, MinimumLength = 1)]
    public required string Name { get; init; }

    /// <summary>text.content of add_msg_template (≤ 4000 bytes, FACTS 5.6).</summary>
    [Required]
    public required string Text { get; init; }

    /// <summary>The attachments array of add_msg_template, as JSON, or null.</summary>
    public string? AttachmentsJson { get; init; }

    public required BroadcastTargetKind TargetKind { get; init; }

    /// <summary>The member who sends (and must confirm) the message.</summary>
    [Required]
    public required string Sender { get; init; }

    /// <summary>Chat ids for <see cref="BroadcastTargetKind.Groups"/>, external user ids for customers.</summary>
    [Required, MinLength(1)]
    public required IReadOnlyList<string> Targets { get; init; }
}

public sealed record BroadcastSummary(long Id, string Name, BroadcastTargetKind TargetKind, string Sender, int Total, DateTimeOffset CreatedAt);

/// <summary>Where a broadcast stands: item counts per state and, while items remain, when it should finish.</summary>
public sealed record BroadcastProgress(
    BroadcastSummary Broadcast,
    IReadOnlyDictionary<OutboxState, int> ByState,
    int Remaining,
    DateTimeOffset? FinishedAt,
    DateTimeOffset? EstimatedFinishAt);

/// <summary>Starts broadcasts (one lane-3 outbox item per target, all in one transaction) and reports their progress.</summary>
public sealed class BroadcastService
{
    /// <summary>The API a broadcast item calls, as the quota catalog knows it.</summary>
    public static string Api => WeComApis.AddMsgTemplate.Name;

    private readonly BotDatabase _database;
    private readonly OutboxWriter _writer;
    private readonly TimeProvider _time;
    private readonly string _insertSql;
    private readonly string _listSql;

    internal BroadcastService(BotDatabase database, OutboxWriter writer, TimeProvider time)
    {
        _database = database;
        _writer = writer;
        _time = time;
        _insertSql = database.Dialect.Pick(SqliteInsert, BroadcastSqlServerStatements.Insert);
        _listSql = database.Dialect.Pick(SqliteList, BroadcastSqlServerStatements.List);
    }

    private const string SqliteInsert = """
        INSERT INTO broadcast (name, message_text, attachments, target_kind, sender, total, created_at)
        VALUES (@Name, @Text, @AttachmentsJson, @TargetKind, @Sender, @Total, @CreatedAt)
        RETURNING id
        """;

    public async Task<BroadcastSummary> StartAsync(BroadcastRequest request, CancellationToken ct)
    {
        Validator.ValidateObject(request, new ValidationContext(request), validateAllProperties: true);
        var attachments = request.AttachmentsJson is null ? null : JsonNode.Parse(request.AttachmentsJson)?.AsArray()
            ?? throw new ArgumentException("AttachmentsJson must be a JSON array", nameof(request));
        var targets = DistinctTargets(request.Targets);
        var now = _time.GetUtcNow();

        await using var write = await _database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        var id = await write.Connection.QuerySingleAsync<long>(new CommandDefinition(
            _insertSql,
            new
            {
                request.Name,
                request.Text,
                request.AttachmentsJson,
                TargetKind = ToText(request.TargetKind),
                request.Sender,
                Total = targets.Count,
                CreatedAt = now.ToUnixTimeMilliseconds(),
            },
            tx, cancellationToken: ct));
        var items = targets.Select(target => ToOutboxRequest(id, request, attachments, target)).ToList();
        await _writer.EnqueueBatchAsync(items, write.Connection, tx, ct);
        await tx.CommitAsync(ct);
        _writer.NotifyCommitted();
        return new BroadcastSummary(id, request.Name, request.TargetKind, request.Sender, targets.Count, now);
    }

    private static OutboxRequest ToOutboxRequest(long broadcastId, BroadcastRequest request, JsonArray? attachments, string target)
    {
        var message = new BroadcastMessage(target, request.TargetKind == BroadcastTargetKind.Groups, request.Sender, request.Text, attachments);
        return OutboxRequest.For(message, $"broadcast:{broadcastId}:{target}") with { BroadcastId = broadcastId };
    }

    /// <summary>What one broadcast item counts against; shared with <see cref="QuotaPreflight"/> so both see the same counters.</summary>
    internal static QuotaSubject QuotaSubjectFor(BroadcastTargetKind kind, string sender, string target) =>
        BroadcastMessage.SubjectFor(kind == BroadcastTargetKind.Groups, sender, target);

    /// <summary>The targets a broadcast sends to: blanks dropped, duplicates once, in the order given.</summary>
    internal static List<string> DistinctTargets(IEnumerable<string> targets) =>
        targets.Where(t => !string.IsNullOrWhiteSpace(t)).Distinct(StringComparer.Ordinal).ToList();

    public async Task<BroadcastProgress?> GetProgressAsync(long id, CancellationToken ct)
    {
        const string counts = """
            SELECT state AS State, COUNT(*) AS Count, MIN(completed_at) AS FirstDone, MAX(completed_at) AS LastDone
            FROM outbox WHERE broadcast_id = @Id GROUP BY state
            """;
        await using var connection = await _database.OpenAsync(ct);
        var summary = await GetAsync(connection, id, ct);
        if (summary is null)
        {
            return null;
        }
        var rows = (await connection.QueryAsync<(string State, long Count, long? FirstDone, long? LastDone)>(
            new CommandDefinition(counts, new { Id = id }, cancellationToken: ct))).ToList();
        var byState = Enum.GetValues<OutboxState>().ToDictionary(s => s, _ => 0);
        foreach (var row in rows)
        {
            byState[OutboxStore.ParseState(row.State)] = (int)row.Count;
        }
        var remaining = byState[OutboxState.Pending] + byState[OutboxState.Sending];
        var done = summary.Total - remaining;
        var lastDone = rows.Max(r => r.LastDone) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        DateTimeOffset? finishedAt = remaining == 0 ? lastDone ?? summary.CreatedAt : null;
        DateTimeOffset? estimate = null;
        if (remaining > 0 && done > 0 && lastDone is { } last && last > summary.CreatedAt)
        {
            // Extrapolates the rate so far; under a quota that is the quota's pace once the first window is used up.
            var perItem = (last - summary.CreatedAt) / done;
            estimate = _time.GetUtcNow() + perItem * remaining;
        }
        return new BroadcastProgress(summary, byState, remaining, finishedAt, estimate);
    }

    private const string SqliteList = """
        SELECT id AS Id, name AS Name, target_kind AS TargetKind, sender AS Sender, total AS Total, created_at AS CreatedAt
        FROM broadcast ORDER BY id DESC LIMIT @Limit
        """;

    /// <summary>Broadcasts, newest first.</summary>
    public async Task<IReadOnlyList<BroadcastSummary>> ListAsync(int limit, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var rows = await connection.QueryAsync<BroadcastRow>(new CommandDefinition(_listSql, new { Limit = limit }, cancellationToken: ct));
        return rows.Select(ToSummary).ToList();
    }

    private static async Task<BroadcastSummary?> GetAsync(System.Data.Common.DbConnection connection, long id, CancellationToken ct)
    {
        const string sql = """
            SELECT id AS Id, name AS Name, target_kind AS TargetKind, sender AS Sender, total AS Total, created_at AS CreatedAt
            FROM broadcast WHERE id = @Id
            """;
        var row = await connection.QuerySingleOrDefaultAsync<BroadcastRow>(new CommandDefinition(sql, new { Id = id }, cancellationToken: ct));
        return row is null ? null : ToSummary(row);
    }

    private static string ToText(BroadcastTargetKind kind) => kind == BroadcastTargetKind.Groups ? "groups" : "customers";

    private static BroadcastSummary ToSummary(BroadcastRow row) => new(
        row.Id, row.Name, row.TargetKind == "groups" ? BroadcastTargetKind.Groups : BroadcastTargetKind.Customers,
        row.Sender, (int)row.Total, DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt));

    private sealed class BroadcastRow
    {
        public long Id { get; init; }
        public string Name { get; init; } = "";
        public string TargetKind { get; init; } = "";
        public string Sender { get; init; } = "";
        public long Total { get; init; }
        public long CreatedAt { get; init; }
    }
}

[SqlServerStatements]
internal static class BroadcastSqlServerStatements
{
    public const string Insert = """
        INSERT INTO dbo.broadcast (name, message_text, attachments, target_kind, sender, total, created_at)
        OUTPUT inserted.id
        VALUES (@Name, @Text, @AttachmentsJson, @TargetKind, @Sender, @Total, @CreatedAt);
        """;

    public const string List = """
        SELECT TOP (@Limit) id AS Id, name AS Name, target_kind AS TargetKind, sender AS Sender, total AS Total, created_at AS CreatedAt
        FROM dbo.broadcast ORDER BY id DESC;
        """;
}
