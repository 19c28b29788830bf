using Bot.Core.Campaigns.Preflight;
using Bot.Core.Outbox;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Bot.Core.WeCom.Api;
using System.Text.Json;
using Dapper;

namespace Bot.Core.Campaigns.MassMessages;

public enum BroadcastTargetKind
{
    /// <summary>Customer groups (chat ids); WeCom's chat_type "group".</summary>
    Groups,

    /// <summary>Customers (external user ids); WeCom's chat_type "single".</summary>
    Customers,
}

/// <summary>
/// An operator's broadcast: one message to many groups or customers, sent as one mass-message task per member (see
/// <see cref="BroadcastPlanner"/>). The audience is <see cref="Targets"/>, or customers by <see cref="Tags"/>, or groups
/// by <see cref="GroupNames"/>: exactly one of them.
/// </summary>
public sealed record BroadcastRequest : IValidatableObject
{
    [Required, StringLength(200, MinimumLength = 1)]
    public required string Name { get; init; }

    /// <summary>text.content of add_msg_template (≤ 4000 bytes, FACTS 5.6).</summary>
    [Required]
    public required string Text { get; init; }

    /// <summary>The attachments array of add_msg_template, as JSON, or null.</summary>
    public string? AttachmentsJson { get; init; }

    public required BroadcastTargetKind TargetKind { get; init; }

    /// <summary>
    /// For customers only, and optional: the member whose task carries them all. Left out, each customer goes in the task
    /// of the guide who follows them. A group task always goes to the group's owner, whoever is named here.
    /// </summary>
    public string? Sender { get; init; }

    /// <summary>Chat ids for <see cref="BroadcastTargetKind.Groups"/>, external user ids for customers.</summary>
    public IReadOnlyList<string>? Targets { get; init; }

    /// <summary>Customers by corp tag ("group/tag"), as WeCom's tag_filter: any tag of a tag group, every group named.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Groups whose name matches this glob (<c>*</c>, <c>?</c>).</summary>
    public string? GroupNames { get; init; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var sources = (Targets is { Count: > 0 } ? 1 : 0) + (Tags is { Count: > 0 } ? 1 : 0) + (GroupNames is { Length: > 0 } ? 1 : 0);
        if (sources != 1)
        {
            yield return new ValidationResult("Give exactly one audience: Targets, Tags (customers) or GroupNames (groups).", [nameof(Targets)]);
        }
        if (Tags is { Count: > 0 } && TargetKind != BroadcastTargetKind.Customers)
        {
            yield return new ValidationResult("Tags select customers: use TargetKind Customers.", [nameof(Tags)]);
        }
        if (Tags?.FirstOrDefault(t => t.IndexOf('/', StringComparison.Ordinal) is <= 0 || t.EndsWith('/')) is { } bad)
        {
            yield return new ValidationResult($"Tag '{bad}' is not \"group/tag\".", [nameof(Tags)]);
        }
        if (GroupNames is { Length: > 0 } && TargetKind != BroadcastTargetKind.Groups)
        {
            yield return new ValidationResult("GroupNames selects groups: use TargetKind Groups.", [nameof(GroupNames)]);
        }
        if (GroupNames is { Length: > 0 } pattern && Rules.Glob.TryCompile(pattern, out var error) is null)
        {
            yield return new ValidationResult($"GroupNames: {error}", [nameof(GroupNames)]);
        }
    }
}

/// <summary>A broadcast as started; <see cref="Sender"/> is empty when each task went as its guide or owner.</summary>
public sealed record BroadcastSummary(long Id, string Name, BroadcastTargetKind TargetKind, string Sender, int Total, DateTimeOffset CreatedAt)
{
    /// <summary>The mass-message tasks it was planned as (one per member and chunk); 0 when listed from storage.</summary>
    public int Tasks { get; init; }
}

/// <summary>Where a broadcast stands: item counts per state and, while items remain, when it should finish.</summary>
public sealed record BroadcastProgress(
    BroadcastSummary Broadcast,
    IReadOnlyDictionary<OutboxState, int> ByState,
    int Remaining,
    DateTimeOffset? FinishedAt,
    DateTimeOffset? EstimatedFinishAt);

/// <summary>
/// Starts broadcasts (one lane-3 outbox item per planned task, its recipients beside it, all in one transaction) and
/// reports their progress per recipient.
/// </summary>
public sealed class BroadcastService
{
    /// <summary>The API a broadcast item calls, as the quota catalog knows it.</summary>
    public static string Api => WeComApis.AddMsgTemplate.Name;

    private readonly BotDatabase _database;
    private readonly OutboxWriter _writer;
    private readonly BroadcastPlanner _planner;
    private readonly TimeProvider _time;
    private readonly string _insertSql;
    private readonly string _listSql;

    internal BroadcastService(BotDatabase database, OutboxWriter writer, BroadcastPlanner planner, TimeProvider time)
    {
        _database = database;
        _writer = writer;
        _planner = planner;
        _time = time;
        _insertSql = database.Dialect.Pick(SqliteInsert, BroadcastSqlServerStatements.Insert);
        _listSql = database.Dialect.Pick(SqliteList, BroadcastSqlServerStatements.List);
    }

    private const string SqliteInsert = """
        INSERT INTO broadcast (name, message_text, attachments, target_kind, sender, total, created_at, unassigned)
        VALUES (@Name, @Text, @AttachmentsJson, @TargetKind, @Sender, @Total, @CreatedAt, @Unassigned)
        RETURNING id
        """;

    public async Task<BroadcastSummary> StartAsync(BroadcastRequest request, CancellationToken ct)
    {
        Validator.ValidateObject(request, new ValidationContext(request), validateAllProperties: true);
        var attachments = request.AttachmentsJson is null ? null : JsonNode.Parse(request.AttachmentsJson)?.AsArray()
            ?? throw new ArgumentException("AttachmentsJson must be a JSON array", nameof(request));
        var plan = await _planner.PlanAsync(request, ct);
        var total = plan.Recipients + plan.Unassigned.Count;
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
                Sender = request.Sender ?? "",
                Total = total,
                CreatedAt = now.ToUnixTimeMilliseconds(),
                Unassigned = plan.Unassigned.Count == 0 ? null : JsonSerializer.Serialize(plan.Unassigned),
            },
            tx, cancellationToken: ct));
        var toGroup = request.TargetKind == BroadcastTargetKind.Groups;
        var items = plan.Tasks
            .Select((task, n) => OutboxRequest.For(new BroadcastMessage(task.Recipients, toGroup, task.Sender, request.Text, attachments),
                $"broadcast:{id}:{task.Sender}:{n}") with { BroadcastId = id })
            .ToList();
        var stored = await _writer.EnqueueBatchAsync(items, write.Connection, tx, ct);
        for (var i = 0; i < stored.Count; i++)
        {
            await OutboxRecipients.AddAsync(stored[i].Id, plan.Tasks[i].Recipients, write.Connection, tx, ct);
        }
        await tx.CommitAsync(ct);
        _writer.NotifyCommitted();
        return new BroadcastSummary(id, request.Name, request.TargetKind, request.Sender ?? "", total, now) { Tasks = plan.Tasks.Count };
    }

    /// <summary>What one broadcast item counts against; shared with <see cref="QuotaPreflight"/> so both see the same counters.</summary>
    internal static QuotaSubject QuotaSubjectFor(BroadcastTargetKind kind, string sender, string target) =>
        BroadcastMessage.SubjectFor(kind == BroadcastTargetKind.Groups, sender, target);

    /// <summary>The targets a broadcast sends to: blanks dropped, duplicates once, in the order given.</summary>
    internal static List<string> DistinctTargets(IEnumerable<string> targets) =>
        targets.Where(t => !string.IsNullOrWhiteSpace(t)).Distinct(StringComparer.Ordinal).ToList();

    public async Task<BroadcastProgress?> GetProgressAsync(long id, CancellationToken ct)
    {
        // Per recipient: a recipient's own state (refused in fail_list, opted out, over budget, sent), or its task's
        // when the task ended without settling it (expired, gave up, unknown); rows stored before tasks carried many
        // recipients have no recipient rows and count as their item.
        const string counts = """
            SELECT CASE WHEN r.state IS NULL OR (r.state = 'pending' AND o.state NOT IN ('pending', 'sending')) THEN o.state ELSE r.state END AS State,
                   COUNT(*) AS Count, MIN(o.completed_at) AS FirstDone, MAX(o.completed_at) AS LastDone
            FROM outbox o LEFT JOIN outbox_recipients r ON r.outbox_id = o.id
            WHERE o.broadcast_id = @Id
            GROUP BY CASE WHEN r.state IS NULL OR (r.state = 'pending' AND o.state NOT IN ('pending', 'sending')) THEN o.state ELSE r.state END
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
        // Those no member could carry were failed at the start; they are in the total, never in the outbox.
        byState[OutboxState.Failed] += summary.Total - rows.Sum(r => (int)r.Count) is > 0 and var unplaced ? unplaced : 0;
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
        INSERT INTO dbo.broadcast (name, message_text, attachments, target_kind, sender, total, created_at, unassigned)
        OUTPUT inserted.id
        VALUES (@Name, @Text, @AttachmentsJson, @TargetKind, @Sender, @Total, @CreatedAt, @Unassigned);
        """;

    public const string List = """
        SELECT TOP (@Limit) id AS Id, name AS Name, target_kind AS TargetKind, sender AS Sender, total AS Total, created_at AS CreatedAt
        FROM dbo.broadcast ORDER BY id DESC;
        """;
}
