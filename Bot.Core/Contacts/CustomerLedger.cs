using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Contacts;

/// <summary>
/// Our own record of which member (guide) follows which customer and which corp tags the bot set on them. Broadcast
/// audiences resolve from it (customers grouped by guide, customers by tag filter) instead of paging WeCom's
/// directory, so pre-flight and the contact budget still see every recipient by id.
/// </summary>
public sealed class CustomerLedger(BotDatabase database)
{
    /// <summary>
    /// Ids per IN list: SQL Server takes at most 2,100 parameters per command and SQLite 32,766; 500 stays well under
    /// both and keeps each statement's plan small.
    /// </summary>
    internal const int ChunkSize = 500;

    private readonly string _tagUpsertSql = database.Dialect.Pick(SqliteTagUpsert, CustomerLedgerSqlServerStatements.TagUpsert);
    private readonly string _followUpsertSql = database.Dialect.Pick(SqliteFollowUpsert, CustomerLedgerSqlServerStatements.FollowUpsert);

    // A follow applies only if it is not older than what the row knows (its removal, or its current add), so a WeCom
    // retry or an out-of-order replay cannot resurrect a follow removed later.
    private const string SqliteFollowUpsert = """
        INSERT INTO customer_follows (external_user_id, user_id, added_at, removed_at)
        VALUES (@Customer, @UserId, @At, NULL)
        ON CONFLICT (external_user_id, user_id) DO UPDATE SET added_at = excluded.added_at, removed_at = NULL
        WHERE excluded.added_at >= COALESCE(customer_follows.removed_at, customer_follows.added_at)
        """;

    private const string SqliteTagUpsert = """
        INSERT INTO customer_tags (external_user_id, tag, tagged_at) VALUES (@Customer, @Tag, @At)
        ON CONFLICT (external_user_id, tag) DO UPDATE SET tagged_at = excluded.tagged_at
        WHERE excluded.tagged_at > customer_tags.tagged_at
        """;

    // Shared by both dialects. A removal older than the current add is a late replay of an earlier removal: ignored.
    private const string UnfollowSql = """
        UPDATE customer_follows SET removed_at = @At
        WHERE external_user_id = @Customer AND user_id = @UserId AND removed_at IS NULL AND added_at <= @At
        """;

    private const string RemoveTagsSql = "DELETE FROM customer_tags WHERE external_user_id = @Customer AND tag IN @Tags";

    private const string LiveFollowsSql = """
        SELECT external_user_id AS Customer, user_id AS UserId, added_at AS AddedAt FROM customer_follows
        WHERE removed_at IS NULL AND external_user_id IN @Customers
        """;

    /// <summary>Records that <paramref name="userId"/> follows <paramref name="customer"/> from <paramref name="at"/>; a re-add clears an earlier removal.</summary>
    public async Task RecordFollowAsync(string customer, string userId, DateTimeOffset at, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(customer);
        ArgumentException.ThrowIfNullOrEmpty(userId);
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(
            _followUpsertSql, new { Customer = customer, UserId = userId, At = at.ToUnixTimeMilliseconds() }, cancellationToken: ct));
    }

    /// <summary>Records that <paramref name="userId"/> stopped following <paramref name="customer"/> (either side deleted the other).</summary>
    public async Task RecordUnfollowAsync(string customer, string userId, DateTimeOffset at, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(customer);
        ArgumentException.ThrowIfNullOrEmpty(userId);
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(
            UnfollowSql, new { Customer = customer, UserId = userId, At = at.ToUnixTimeMilliseconds() }, cancellationToken: ct));
    }

    /// <summary>Records corp tags ("group/tag") set on <paramref name="customer"/>; tags already recorded keep their row.</summary>
    public async Task RecordTagsAsync(string customer, IReadOnlyCollection<string> tags, DateTimeOffset at, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(customer);
        var distinct = ValidTags(tags).Distinct(StringComparer.Ordinal).ToList();
        if (distinct.Count == 0)
        {
            return;
        }
        var when = at.ToUnixTimeMilliseconds();
        await using var write = await database.OpenWriteAsync(ct);
        await using var transaction = await write.Connection.BeginTransactionAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(
            _tagUpsertSql, distinct.Select(tag => new { Customer = customer, Tag = tag, At = when }), transaction, cancellationToken: ct));
        await transaction.CommitAsync(ct);
    }

    /// <summary>Forgets corp tags removed from <paramref name="customer"/>.</summary>
    public async Task RemoveTagsAsync(string customer, IReadOnlyCollection<string> tags, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(customer);
        var distinct = ValidTags(tags).Distinct(StringComparer.Ordinal).ToList();
        if (distinct.Count == 0)
        {
            return;
        }
        await using var write = await database.OpenWriteAsync(ct);
        foreach (var chunk in distinct.Chunk(ChunkSize))
        {
            await write.Connection.ExecuteAsync(new CommandDefinition(RemoveTagsSql, new { Customer = customer, Tags = chunk }, cancellationToken: ct));
        }
    }

    /// <summary>
    /// For each customer, the one guide whose mass-message task should carry them: of the live follows, the latest
    /// added (the member the customer most recently chose), ties to the ordinally smallest userid so every instance
    /// picks the same. Customers nobody follows any more are absent.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> GuidesAsync(IReadOnlyCollection<string> customers, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(customers);
        var best = new Dictionary<string, FollowRow>(StringComparer.Ordinal);
        var unique = customers.Distinct(StringComparer.Ordinal).ToList();
        if (unique.Count == 0)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }
        await using var connection = await database.OpenAsync(ct);
        foreach (var chunk in unique.Chunk(ChunkSize))
        {
            var rows = await connection.QueryAsync<FollowRow>(new CommandDefinition(LiveFollowsSql, new { Customers = chunk }, cancellationToken: ct));
            foreach (var row in rows)
            {
                if (!best.TryGetValue(row.Customer, out var current) || Wins(row, current))
                {
                    best[row.Customer] = row;
                }
            }
        }
        return best.ToDictionary(pair => pair.Key, pair => pair.Value.UserId, StringComparer.Ordinal);
    }

    /// <summary>
    /// Customers still followed by someone who carry, for every tag group named in <paramref name="tags"/>, at least
    /// one of that group's tags: WeCom's tag_filter semantics, OR within a group and AND across groups ("A/x", "A/y",
    /// "B/z" is (A/x OR A/y) AND B/z). Ordered ordinally by external_user_id.
    /// </summary>
    /// <exception cref="ArgumentException">A tag is not a "group/tag" name.</exception>
    public async Task<IReadOnlyList<string>> FindCustomersAsync(IReadOnlyCollection<string> tags, CancellationToken ct)
    {
        var groups = ValidTags(tags)
            .Distinct(StringComparer.Ordinal)
            .GroupBy(tag => tag[..tag.IndexOf('/', StringComparison.Ordinal)], StringComparer.Ordinal)
            .Select(group => group.ToArray())
            .ToList();
        if (groups.Count == 0)
        {
            return [];
        }
        var (sql, parameters) = TagFilterQuery(groups);
        await using var connection = await database.OpenAsync(ct);
        var found = await connection.QueryAsync<string>(new CommandDefinition(sql, parameters, cancellationToken: ct));
        // Sorted here too: the order is part of the contract and must not depend on a collation.
        return found.Order(StringComparer.Ordinal).ToList();
    }

    // Each matching tag row is labelled with its group's index; a customer qualifies when the distinct labels cover
    // every group. One statement, dialect-free, parameters only (tag names never reach the SQL text).
    private static (string Sql, DynamicParameters Parameters) TagFilterQuery(List<string[]> groups)
    {
        var parameters = new DynamicParameters();
        var cases = new List<string>();
        for (var i = 0; i < groups.Count; i++)
        {
            parameters.Add($"G{i}", groups[i]);
            cases.Add($"WHEN t.tag IN @G{i} THEN {i}");
        }
        parameters.Add("All", groups.SelectMany(g => g).ToArray());
        parameters.Add("Groups", groups.Count);
        var sql = $"""
            SELECT t.external_user_id FROM customer_tags t
            WHERE t.tag IN @All
              AND EXISTS (SELECT 1 FROM customer_follows f WHERE f.external_user_id = t.external_user_id AND f.removed_at IS NULL)
            GROUP BY t.external_user_id
            HAVING COUNT(DISTINCT CASE {string.Join(' ', cases)} END) = @Groups
            ORDER BY t.external_user_id
            """;
        return (sql, parameters);
    }

    private static IEnumerable<string> ValidTags(IReadOnlyCollection<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        foreach (var tag in tags)
        {
            var slash = tag?.IndexOf('/', StringComparison.Ordinal) ?? -1;
            if (tag is null || slash <= 0 || slash == tag.Length - 1)
            {
                throw new ArgumentException(
                    $"Tag '{tag}' is not a \"group/tag\" name: a corp tag is named by its tag group and its tag, e.g. \"客户等级/VIP\".",
                    nameof(tags));
            }
            yield return tag;
        }
    }

    private static bool Wins(FollowRow candidate, FollowRow current) =>
        candidate.AddedAt > current.AddedAt
        || (candidate.AddedAt == current.AddedAt && string.CompareOrdinal(candidate.UserId, current.UserId) < 0);

    private sealed record FollowRow(string Customer, string UserId, long AddedAt);
}

[SqlServerStatements]
internal static class CustomerLedgerSqlServerStatements
{
    public const string FollowUpsert = """
        MERGE dbo.customer_follows WITH (HOLDLOCK) AS target
        USING (SELECT @Customer AS external_user_id, @UserId AS user_id) AS source
        ON target.external_user_id = source.external_user_id AND target.user_id = source.user_id
        WHEN MATCHED AND @At >= COALESCE(target.removed_at, target.added_at) THEN
            UPDATE SET added_at = @At, removed_at = NULL
        WHEN NOT MATCHED THEN
            INSERT (external_user_id, user_id, added_at, removed_at) VALUES (@Customer, @UserId, @At, NULL);
        """;

    public const string TagUpsert = """
        MERGE dbo.customer_tags WITH (HOLDLOCK) AS target
        USING (SELECT @Customer AS external_user_id, @Tag AS tag) AS source
        ON target.external_user_id = source.external_user_id AND target.tag = source.tag
        WHEN MATCHED AND @At > target.tagged_at THEN
            UPDATE SET tagged_at = @At
        WHEN NOT MATCHED THEN
            INSERT (external_user_id, tag, tagged_at) VALUES (@Customer, @Tag, @At);
        """;
}
