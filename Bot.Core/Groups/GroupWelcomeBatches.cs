using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Groups;

/// <summary>
/// Collects joiners for batched group welcomes in the database, so every instance adds to the same batch and a
/// restart loses no joiner. A batch opens at the first join and closes `batch` later; its one outbox item is due then.
/// </summary>
public sealed class GroupWelcomeBatches(BotDatabase database)
{
    private readonly string _insertBatchSql = database.Dialect.Pick(SqliteInsertBatch, GroupWelcomeSqlServerSql.InsertBatch);
    private readonly string _insertMemberSql = database.Dialect.Pick(SqliteInsertMember, GroupWelcomeSqlServerSql.InsertMember);

    /// <summary>Adds joiners to the open batch of (rule, chat), opening one if none is open; returns its key and end.</summary>
    public async Task<(string BatchKey, DateTimeOffset WindowEnd)> AddAsync(
        string rule, string chatId, IReadOnlyList<string> members, DateTimeOffset joinedAt, TimeSpan window, CancellationToken ct)
    {
        const string findOpen = """
            SELECT batch_key AS BatchKey, window_end AS WindowEnd FROM group_welcome_batches
            WHERE rule_name = @Rule AND chat_id = @ChatId AND window_end > @At
            ORDER BY window_end
            """;
        var at = joinedAt.ToUnixTimeMilliseconds();
        // The turn also keeps this read-then-write transaction from meeting another in-process commit in between.
        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        var open = await write.Connection.QueryFirstOrDefaultAsync<OpenBatch>(new CommandDefinition(findOpen, new { Rule = rule, ChatId = chatId, At = at }, tx, cancellationToken: ct));
        if (open is null)
        {
            open = new OpenBatch { BatchKey = $"gw:{rule}:{chatId}:{at}", WindowEnd = (joinedAt + window).ToUnixTimeMilliseconds() };
            await write.Connection.ExecuteAsync(new CommandDefinition(
                _insertBatchSql,
                new { open.BatchKey, Rule = rule, ChatId = chatId, open.WindowEnd }, tx, cancellationToken: ct));
        }
        foreach (var member in members)
        {
            await write.Connection.ExecuteAsync(new CommandDefinition(
                _insertMemberSql,
                new { open.BatchKey, MemberId = member, At = at }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        return (open.BatchKey, DateTimeOffset.FromUnixTimeMilliseconds(open.WindowEnd));
    }

    /// <summary>
    /// The joiners to name in the batch's greeting, read when it is sent: a joiner who has opted out (退订) by then is
    /// left out, since naming them in the group is a message about them.
    /// </summary>
    public async Task<IReadOnlyList<string>> MembersAsync(string batchKey, CancellationToken ct)
    {
        const string sql = """
            SELECT m.member_id FROM group_welcome_members m
            LEFT JOIN contact_preferences p ON p.external_user_id = m.member_id
            WHERE m.batch_key = @BatchKey AND (p.opted_out IS NULL OR p.opted_out = 0)
            ORDER BY m.joined_at, m.member_id
            """;
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<string>(new CommandDefinition(sql, new { BatchKey = batchKey }, cancellationToken: ct))).ToList();
    }

    private sealed class OpenBatch
    {
        public string BatchKey { get; init; } = "";
        public long WindowEnd { get; init; }
    }

    private const string SqliteInsertBatch = """
        INSERT INTO group_welcome_batches (batch_key, rule_name, chat_id, window_end) VALUES (@BatchKey, @Rule, @ChatId, @WindowEnd)
        ON CONFLICT (batch_key) DO NOTHING
        """;

    private const string SqliteInsertMember = """
        INSERT INTO group_welcome_members (batch_key, member_id, joined_at) VALUES (@BatchKey, @MemberId, @At)
        ON CONFLICT (batch_key, member_id) DO NOTHING
        """;
}

[SqlServerStatements]
internal static class GroupWelcomeSqlServerSql
{
    public const string InsertBatch = """
        INSERT INTO dbo.group_welcome_batches (batch_key, rule_name, chat_id, window_end)
        SELECT @BatchKey, @Rule, @ChatId, @WindowEnd
        WHERE NOT EXISTS (SELECT 1 FROM dbo.group_welcome_batches WITH (UPDLOCK, HOLDLOCK) WHERE batch_key = @BatchKey);
        """;

    public const string InsertMember = """
        INSERT INTO dbo.group_welcome_members (batch_key, member_id, joined_at)
        SELECT @BatchKey, @MemberId, @At
        WHERE NOT EXISTS (SELECT 1 FROM dbo.group_welcome_members WITH (UPDLOCK, HOLDLOCK) WHERE batch_key = @BatchKey AND member_id = @MemberId);
        """;
}
