using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Contacts;

/// <summary>Whether a customer opted out of bot messages (退订), and when; the outbox dispatcher reads it before every send.</summary>
public sealed class ContactPreferenceStore(BotDatabase database)
{
    private readonly string _upsertSql = database.Dialect.Pick(SqliteUpsert, ContactPreferenceSqlServerStatements.Upsert);

    private const string SqliteUpsert = """
        INSERT INTO contact_preferences (external_user_id, opted_out, changed_at, callback_id)
        VALUES (@ExternalUserId, @OptedOut, @At, @CallbackId)
        ON CONFLICT (external_user_id) DO UPDATE SET
            opted_out = excluded.opted_out, changed_at = excluded.changed_at, callback_id = excluded.callback_id
        WHERE excluded.changed_at >= contact_preferences.changed_at
        """;

    /// <summary>
    /// Records the customer's choice as of <paramref name="at"/> (the callback's arrival). An older choice never
    /// overwrites a newer one, so a WeCom retry or a replay of an old 退订 cannot undo a later 订阅.
    /// </summary>
    public async Task SetOptedOutAsync(string externalUserId, bool optedOut, DateTimeOffset at, long? callbackId, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(
            _upsertSql,
            new { ExternalUserId = externalUserId, OptedOut = optedOut ? 1 : 0, At = at.ToUnixTimeMilliseconds(), CallbackId = callbackId },
            cancellationToken: ct));
    }

    public async Task<bool> IsOptedOutAsync(string externalUserId, CancellationToken ct)
    {
        const string sql = "SELECT opted_out FROM contact_preferences WHERE external_user_id = @ExternalUserId";
        await using var connection = await database.OpenAsync(ct);
        var value = await connection.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(sql, new { ExternalUserId = externalUserId }, cancellationToken: ct));
        return value == 1;
    }

    /// <summary>Which of <paramref name="externalUserIds"/> have opted out: one query per 500, for a task of thousands.</summary>
    public async Task<IReadOnlySet<string>> OptedOutAmongAsync(IReadOnlyCollection<string> externalUserIds, CancellationToken ct)
    {
        const string sql = "SELECT external_user_id FROM contact_preferences WHERE opted_out = 1 AND external_user_id IN @Ids";
        var optedOut = new HashSet<string>(StringComparer.Ordinal);
        if (externalUserIds.Count == 0)
        {
            return optedOut;
        }
        await using var connection = await database.OpenAsync(ct);
        foreach (var chunk in externalUserIds.Chunk(500))
        {
            optedOut.UnionWith(await connection.QueryAsync<string>(new CommandDefinition(sql, new { Ids = chunk }, cancellationToken: ct)));
        }
        return optedOut;
    }
}

[SqlServerStatements]
internal static class ContactPreferenceSqlServerStatements
{
    public const string Upsert = """
        MERGE dbo.contact_preferences WITH (HOLDLOCK) AS target
        USING (SELECT @ExternalUserId AS external_user_id) AS source
        ON target.external_user_id = source.external_user_id
        WHEN MATCHED AND @At >= target.changed_at THEN
            UPDATE SET opted_out = @OptedOut, changed_at = @At, callback_id = @CallbackId
        WHEN NOT MATCHED THEN
            INSERT (external_user_id, opted_out, changed_at, callback_id) VALUES (@ExternalUserId, @OptedOut, @At, @CallbackId);
        """;
}
