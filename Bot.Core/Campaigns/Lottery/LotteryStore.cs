using System.Data.Common;
using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Campaigns.Lottery;

internal static class LotteryState
{
    public const string Pending = "pending", Open = "open", Drawn = "drawn";
}

/// <summary>A row of `lottery`.</summary>
internal sealed class LotteryRow
{
    public string Name { get; init; } = "";
    public string Definition { get; init; } = "";
    public string Fingerprint { get; init; } = "";
    public long OpensUnixMs { get; init; }
    public long DrawsUnixMs { get; init; }
    public string State { get; init; } = "";
    public string? Seed { get; init; }
    public string? Commitment { get; init; }
    public long? CommittedUnixMs { get; init; }
    public long? DrawnUnixMs { get; init; }
    public bool? Late { get; init; }
    public int? EntryCount { get; init; }
    public string? EntryListHash { get; init; }
    public long? AnnouncedUnixMs { get; init; }

    public LotteryDefinition Parse() => LotteryDefinition.FromJson(Definition);
}

/// <summary>
/// Lotteries, entries and winners. Every state change is a conditional UPDATE on `lottery.state`, so when several
/// instances act on one lottery at once exactly one of them sees its row change and the others do nothing.
/// </summary>
internal sealed class LotteryStore(BotDatabase database)
{
    private const string Columns = """
        name AS Name, definition AS Definition, fingerprint AS Fingerprint, opens_unix_ms AS OpensUnixMs,
        draws_unix_ms AS DrawsUnixMs, state AS State, seed AS Seed, commitment AS Commitment,
        committed_unix_ms AS CommittedUnixMs, drawn_unix_ms AS DrawnUnixMs, late AS Late, entry_count AS EntryCount,
        entry_list_hash AS EntryListHash, announced_unix_ms AS AnnouncedUnixMs
        """;

    private readonly string _insertLotterySql = database.Dialect.Pick(SqliteInsertLottery, LotterySqlServerSql.InsertLottery);
    private readonly string _insertEntrySql = database.Dialect.Pick(SqliteInsertEntry, LotterySqlServerSql.InsertEntry);

    public async Task<LotteryRow?> FindAsync(string name, CancellationToken ct)
    {
        const string sql = $"SELECT {Columns} FROM lottery WHERE name = @name";
        await using var connection = await database.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<LotteryRow>(new CommandDefinition(sql, new { name }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<LotteryRow>> ListAsync(CancellationToken ct)
    {
        const string sql = $"SELECT {Columns} FROM lottery";
        await using var connection = await database.OpenAsync(ct);
        return [.. await connection.QueryAsync<LotteryRow>(new CommandDefinition(sql, cancellationToken: ct))];
    }

    private const string SqliteInsertLottery = """
        INSERT INTO lottery (name, definition, fingerprint, opens_unix_ms, draws_unix_ms, state, first_seen_unix_ms)
        VALUES (@Name, @Definition, @Fingerprint, @OpensUnixMs, @DrawsUnixMs, 'pending', @NowUnixMs)
        ON CONFLICT (name) DO NOTHING
        """;

    /// <summary>Stores a lottery seen for the first time; false when another instance stored it first.</summary>
    public async Task<bool> InsertAsync(LotteryDefinition definition, long nowUnixMs, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        var args = new
        {
            definition.Name,
            Definition = definition.ToJson(),
            Fingerprint = definition.Fingerprint(),
            OpensUnixMs = definition.Opens.ToUnixTimeMilliseconds(),
            DrawsUnixMs = definition.Draws.ToUnixTimeMilliseconds(),
            NowUnixMs = nowUnixMs,
        };
        return await write.Connection.ExecuteAsync(new CommandDefinition(_insertLotterySql, args, cancellationToken: ct)) == 1;
    }

    /// <summary>Replaces the definition of a lottery that has not opened; false when it opened meanwhile.</summary>
    public async Task<bool> ReplacePendingAsync(LotteryDefinition definition, CancellationToken ct)
    {
        const string sql = """
            UPDATE lottery
            SET definition = @Definition, fingerprint = @Fingerprint, opens_unix_ms = @OpensUnixMs, draws_unix_ms = @DrawsUnixMs
            WHERE name = @Name AND state = 'pending'
            """;
        await using var write = await database.OpenWriteAsync(ct);
        var args = new
        {
            definition.Name,
            Definition = definition.ToJson(),
            Fingerprint = definition.Fingerprint(),
            OpensUnixMs = definition.Opens.ToUnixTimeMilliseconds(),
            DrawsUnixMs = definition.Draws.ToUnixTimeMilliseconds(),
        };
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct)) == 1;
    }

    /// <summary>Stores a new wording (announcement, winner tag) of an opened lottery whose locked fields are unchanged.</summary>
    public async Task<bool> ReplaceUnlockedAsync(LotteryDefinition definition, CancellationToken ct)
    {
        const string sql = "UPDATE lottery SET definition = @Definition WHERE name = @Name AND fingerprint = @Fingerprint";
        await using var write = await database.OpenWriteAsync(ct);
        var args = new { definition.Name, Definition = definition.ToJson(), Fingerprint = definition.Fingerprint() };
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct)) == 1;
    }

    public async Task<bool> DeletePendingAsync(string name, CancellationToken ct)
    {
        const string sql = "DELETE FROM lottery WHERE name = @name AND state = 'pending'";
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { name }, cancellationToken: ct)) == 1;
    }

    /// <summary>Opens the lottery with this seed; false when another instance opened it first (its seed stands).</summary>
    public async Task<bool> CommitSeedAsync(string name, string seedHex, string commitment, long nowUnixMs, CancellationToken ct)
    {
        const string sql = """
            UPDATE lottery SET state = 'open', seed = @seedHex, commitment = @commitment, committed_unix_ms = @nowUnixMs
            WHERE name = @name AND state = 'pending'
            """;
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { name, seedHex, commitment, nowUnixMs }, cancellationToken: ct)) == 1;
    }

    private const string SqliteInsertEntry = """
        INSERT INTO lottery_entry (lottery, external_user_id, chat_id, source, entered_unix_ms)
        SELECT @lottery, @externalUserId, @chatId, @source, @nowUnixMs
        WHERE EXISTS (SELECT 1 FROM lottery WHERE name = @lottery AND state = 'open')
        ON CONFLICT (lottery, external_user_id) DO NOTHING
        """;

    /// <summary>
    /// Adds an entry while the lottery is open; false when it was already there or the lottery is no longer open.
    /// The state check and the insert are one statement, so an entry either lands before the draw's state change (and
    /// is drawn) or sees `drawn` and is refused; none slips in unseen.
    /// </summary>
    public async Task<bool> InsertEntryAsync(string lottery, string externalUserId, string? chatId, string source, long nowUnixMs, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        var args = new { lottery, externalUserId, chatId, source, nowUnixMs };
        return await write.Connection.ExecuteAsync(new CommandDefinition(_insertEntrySql, args, cancellationToken: ct)) == 1;
    }

    /// <summary>Every lottery the customer entered, newest first, for "explain".</summary>
    public async Task<IReadOnlyList<LotteryEntryRecord>> EntriesOfAsync(string externalUserId, CancellationToken ct)
    {
        const string sql = """
            SELECT lottery AS Lottery, chat_id AS ChatId, source AS Source, entered_unix_ms AS EnteredUnixMs
            FROM lottery_entry WHERE external_user_id = @externalUserId ORDER BY entered_unix_ms DESC
            """;
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<EntryRow>(new CommandDefinition(sql, new { externalUserId }, cancellationToken: ct));
        return rows.Select(r => new LotteryEntryRecord(r.Lottery, r.ChatId, r.Source, DateTimeOffset.FromUnixTimeMilliseconds(r.EnteredUnixMs))).ToList();
    }

    private sealed class EntryRow
    {
        public string Lottery { get; init; } = "";
        public string? ChatId { get; init; }
        public string Source { get; init; } = "";
        public long EnteredUnixMs { get; init; }
    }

    public async Task<bool> HasEntryAsync(string lottery, string externalUserId, CancellationToken ct)
    {
        const string sql = "SELECT COUNT(*) FROM lottery_entry WHERE lottery = @lottery AND external_user_id = @externalUserId";
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(sql, new { lottery, externalUserId }, cancellationToken: ct)) > 0;
    }

    public async Task<int> CountEntriesAsync(string lottery, CancellationToken ct)
    {
        const string sql = "SELECT COUNT(*) FROM lottery_entry WHERE lottery = @lottery";
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(sql, new { lottery }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<string>> EntrantsAsync(string lottery, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await EntrantsAsync(connection, null, lottery, ct);
    }

    private static async Task<IReadOnlyList<string>> EntrantsAsync(DbConnection connection, DbTransaction? tx, string lottery, CancellationToken ct)
    {
        const string sql = "SELECT external_user_id FROM lottery_entry WHERE lottery = @lottery";
        return [.. await connection.QueryAsync<string>(new CommandDefinition(sql, new { lottery }, tx, cancellationToken: ct))];
    }

    public async Task<IReadOnlyList<string>> EntryChatIdsAsync(string lottery, CancellationToken ct)
    {
        const string sql = "SELECT DISTINCT chat_id FROM lottery_entry WHERE lottery = @lottery AND chat_id IS NOT NULL";
        await using var connection = await database.OpenAsync(ct);
        return [.. await connection.QueryAsync<string>(new CommandDefinition(sql, new { lottery }, cancellationToken: ct))];
    }

    public async Task<IReadOnlyList<LotteryWinner>> WinnersAsync(string lottery, CancellationToken ct)
    {
        const string sql = "SELECT prize AS Prize, external_user_id AS ExternalUserId FROM lottery_winner WHERE lottery = @lottery ORDER BY rank";
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Prize, string ExternalUserId)>(new CommandDefinition(sql, new { lottery }, cancellationToken: ct));
        return [.. rows.Select(r => new LotteryWinner(r.Prize, r.ExternalUserId))];
    }

    /// <summary>
    /// Draws an open lottery exactly once: the conditional UPDATE open → drawn comes first in the transaction that
    /// writes the winners, so a second instance blocks on it and then updates no row. Returns false for that loser.
    /// <paramref name="pick"/> gets the seed and the entrants read inside the transaction.
    /// </summary>
    public async Task<bool> DrawAsync(
        string lottery,
        long nowUnixMs,
        bool late,
        long announceLeaseUntilUnixMs,
        Func<string, IReadOnlyList<string>, (IReadOnlyList<LotteryWinner> Winners, int EntryCount, string EntryListHash)> pick,
        CancellationToken ct)
    {
        const string claim = """
            UPDATE lottery SET state = 'drawn', drawn_unix_ms = @nowUnixMs, late = @late, announce_lease_unix_ms = @announceLeaseUntilUnixMs
            WHERE name = @lottery AND state = 'open'
            """;
        const string seedSql = "SELECT seed FROM lottery WHERE name = @lottery";
        const string insertWinner = """
            INSERT INTO lottery_winner (lottery, rank, prize, external_user_id) VALUES (@Lottery, @Rank, @Prize, @ExternalUserId)
            """;
        const string record = "UPDATE lottery SET entry_count = @EntryCount, entry_list_hash = @EntryListHash WHERE name = @lottery";

        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        if (await write.Connection.ExecuteAsync(new CommandDefinition(claim, new { lottery, nowUnixMs, late, announceLeaseUntilUnixMs }, tx, cancellationToken: ct)) != 1)
        {
            await tx.RollbackAsync(ct);
            return false;
        }
        var seed = await write.Connection.ExecuteScalarAsync<string>(new CommandDefinition(seedSql, new { lottery }, tx, cancellationToken: ct))
                   ?? throw new InvalidOperationException($"Lottery '{lottery}' is open but has no seed");
        var entrants = await EntrantsAsync(write.Connection, tx, lottery, ct);
        var (winners, entryCount, entryListHash) = pick(seed, entrants);
        // One command per winner inside one transaction: prizes are counted in tens, not thousands.
        var rows = winners.Select((w, i) => new { Lottery = lottery, Rank = i + 1, w.Prize, w.ExternalUserId });
        await write.Connection.ExecuteAsync(new CommandDefinition(insertWinner, rows, tx, cancellationToken: ct));
        await write.Connection.ExecuteAsync(new CommandDefinition(record, new { lottery, EntryCount = entryCount, EntryListHash = entryListHash }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Drawn lotteries not yet announced whose announcing instance's lease ran out (it crashed).</summary>
    public async Task<IReadOnlyList<string>> UnannouncedAsync(long nowUnixMs, CancellationToken ct)
    {
        const string sql = """
            SELECT name FROM lottery
            WHERE state = 'drawn' AND announced_unix_ms IS NULL AND (announce_lease_unix_ms IS NULL OR announce_lease_unix_ms <= @nowUnixMs)
            """;
        await using var connection = await database.OpenAsync(ct);
        return [.. await connection.QueryAsync<string>(new CommandDefinition(sql, new { nowUnixMs }, cancellationToken: ct))];
    }

    /// <summary>Takes over announcing a draw whose lease ran out; false when another instance took it.</summary>
    public async Task<bool> ClaimAnnouncementAsync(string lottery, long nowUnixMs, long leaseUntilUnixMs, CancellationToken ct)
    {
        const string sql = """
            UPDATE lottery SET announce_lease_unix_ms = @leaseUntilUnixMs
            WHERE name = @lottery AND state = 'drawn' AND announced_unix_ms IS NULL
              AND (announce_lease_unix_ms IS NULL OR announce_lease_unix_ms <= @nowUnixMs)
            """;
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { lottery, nowUnixMs, leaseUntilUnixMs }, cancellationToken: ct)) == 1;
    }

    public async Task MarkAnnouncedAsync(string lottery, long nowUnixMs, CancellationToken ct)
    {
        const string sql = "UPDATE lottery SET announced_unix_ms = @nowUnixMs WHERE name = @lottery";
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { lottery, nowUnixMs }, cancellationToken: ct));
    }
}

[SqlServerStatements]
internal static class LotterySqlServerSql
{
    // UPDLOCK + HOLDLOCK keep the key range locked from the check to the insert, so two instances cannot both insert.
    public const string InsertLottery = """
        INSERT INTO dbo.lottery (name, definition, fingerprint, opens_unix_ms, draws_unix_ms, state, first_seen_unix_ms)
        SELECT @Name, @Definition, @Fingerprint, @OpensUnixMs, @DrawsUnixMs, 'pending', @NowUnixMs
        WHERE NOT EXISTS (SELECT 1 FROM dbo.lottery WITH (UPDLOCK, HOLDLOCK) WHERE name = @Name);
        """;

    // The update lock on the lottery row is held until this entry commits, so the draw's UPDATE (which needs an
    // exclusive lock on that row) waits for it and then reads it, even under READ_COMMITTED_SNAPSHOT.
    public const string InsertEntry = """
        INSERT INTO dbo.lottery_entry (lottery, external_user_id, chat_id, source, entered_unix_ms)
        SELECT @lottery, @externalUserId, @chatId, @source, @nowUnixMs
        WHERE EXISTS (SELECT 1 FROM dbo.lottery WITH (UPDLOCK, HOLDLOCK) WHERE name = @lottery AND state = 'open')
          AND NOT EXISTS (SELECT 1 FROM dbo.lottery_entry WITH (UPDLOCK, HOLDLOCK) WHERE lottery = @lottery AND external_user_id = @externalUserId);
        """;
}
