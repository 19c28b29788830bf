using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Groups;

public sealed record CustomerGroup
{
    public string ChatId { get; init; } = "";
    public string? Name { get; init; }
    public string? Owner { get; init; }
    public bool Dismissed { get; init; }
}

/// <summary>
/// The customer groups this bot has seen (external chat events, groupchat/get), so scheduled work can find the
/// groups a rule's name glob selects. WeCom offers no push of group names, so names are refreshed as events arrive.
/// </summary>
public sealed class CustomerGroupStore(BotDatabase database, TimeProvider time)
{
    private readonly string _upsertSql = database.Dialect.Pick(SqliteUpsert, CustomerGroupSqlServerSql.Upsert);

    public async Task UpsertAsync(string chatId, string? name, string? owner, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(
            _upsertSql,
            new { ChatId = chatId, Name = name, Owner = owner, At = time.GetUtcNow().ToUnixTimeMilliseconds() },
            cancellationToken: ct));
    }

    public async Task MarkDismissedAsync(string chatId, CancellationToken ct)
    {
        const string sql = "UPDATE customer_groups SET dismissed = 1, updated_at = @At WHERE chat_id = @ChatId";
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { ChatId = chatId, At = time.GetUtcNow().ToUnixTimeMilliseconds() }, cancellationToken: ct));
    }

    public async Task<CustomerGroup?> GetAsync(string chatId, CancellationToken ct)
    {
        const string sql = "SELECT chat_id AS ChatId, name AS Name, owner AS Owner, dismissed AS Dismissed FROM customer_groups WHERE chat_id = @ChatId";
        await using var connection = await database.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<CustomerGroup>(new CommandDefinition(sql, new { ChatId = chatId }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<CustomerGroup>> ListLiveAsync(CancellationToken ct)
    {
        const string sql = "SELECT chat_id AS ChatId, name AS Name, owner AS Owner, dismissed AS Dismissed FROM customer_groups WHERE dismissed = 0 ORDER BY chat_id";
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<CustomerGroup>(new CommandDefinition(sql, cancellationToken: ct))).ToList();
    }

    private const string SqliteUpsert = """
        INSERT INTO customer_groups (chat_id, name, owner, dismissed, updated_at) VALUES (@ChatId, @Name, @Owner, 0, @At)
        ON CONFLICT (chat_id) DO UPDATE SET
            name = COALESCE(excluded.name, customer_groups.name),
            owner = COALESCE(excluded.owner, customer_groups.owner),
            updated_at = excluded.updated_at
        """;
}

[Bot.Core.Storage.SqlServerStatements]
internal static class CustomerGroupSqlServerSql
{
    public const string Upsert = """
        MERGE dbo.customer_groups WITH (HOLDLOCK) AS target
        USING (SELECT @ChatId AS chat_id) AS source ON target.chat_id = source.chat_id
        WHEN MATCHED THEN UPDATE SET name = COALESCE(@Name, target.name), owner = COALESCE(@Owner, target.owner), updated_at = @At
        WHEN NOT MATCHED THEN INSERT (chat_id, name, owner, dismissed, updated_at) VALUES (@ChatId, @Name, @Owner, 0, @At);
        """;
}
