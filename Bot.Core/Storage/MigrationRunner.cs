using System.Data.Common;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Storage;

/// <summary>
/// Applies the embedded, versioned migrations of the configured dialect in order, once each. Two instances
/// starting together serialize on a database-level lock (SQLite: BEGIN IMMEDIATE; SQL Server: sp_getapplock), and
/// the second sees the first one's versions as applied.
/// </summary>
public sealed partial class MigrationRunner(BotDatabase database, ILogger<MigrationRunner> logger)
{
    public sealed record Migration(int Version, string Name, string Sql);

    public static IReadOnlyList<Migration> Load(StorageProvider provider)
    {
        var assembly = typeof(MigrationRunner).Assembly;
        var folder = $"{assembly.GetName().Name}.Storage.Migrations.{provider}.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(folder, StringComparison.Ordinal)))
        {
            var fileName = resource[folder.Length..];
            var match = VersionPattern().Match(fileName);
            if (!match.Success)
            {
                throw new InvalidOperationException($"Migration resource '{fileName}' is not named NNNN_name.sql");
            }
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(int.Parse(match.Groups[1].Value), fileName, reader.ReadToEnd()));
        }
        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                throw new InvalidOperationException($"Two migrations share version {migrations[i].Version}");
            }
        }
        return migrations;
    }

    /// <summary>Splits a T-SQL script into batches on lines holding only GO, as sqlcmd does.</summary>
    public static IEnumerable<string> SqlServerBatches(string script) =>
        GoSeparator().Split(script).Select(b => b.Trim()).Where(b => b.Length > 0);

    public async Task<int> ApplyAsync(CancellationToken cancellationToken)
    {
        var migrations = Load(database.Provider);
        await using var connection = await database.OpenAsync(cancellationToken);
        return database.Provider == StorageProvider.Sqlite
            ? await ApplySqliteAsync(connection, migrations, cancellationToken)
            : await ApplySqlServerAsync(connection, migrations, cancellationToken);
    }

    private async Task<int> ApplySqliteAsync(DbConnection connection, IReadOnlyList<Migration> migrations, CancellationToken ct)
    {
        // WAL is a property of the file; setting it here (outside a transaction) makes every later connection use it.
        await connection.ExecuteAsync(new CommandDefinition("PRAGMA journal_mode = WAL;", cancellationToken: ct));
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Microsoft.Data.Sqlite begins BEGIN IMMEDIATE unless asked for a deferred transaction: it takes the file's
        // write lock now, so a second instance waits here (busy_timeout) instead of applying the same migration.
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);",
            transaction: tx, cancellationToken: ct));
        var applied = 0;
        var done = (await connection.QueryAsync<int>(new CommandDefinition("SELECT version FROM schema_migrations", transaction: tx, cancellationToken: ct))).ToHashSet();
        foreach (var migration in migrations.Where(m => !done.Contains(m.Version)))
        {
            await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @AppliedAt)",
                new { migration.Version, migration.Name, AppliedAt = DateTimeOffset.UtcNow.ToString("O") }, tx, cancellationToken: ct));
            Log.Applied(logger, migration.Version, migration.Name);
            applied++;
        }
        await tx.CommitAsync(ct);
        return applied;
    }

    private async Task<int> ApplySqlServerAsync(DbConnection connection, IReadOnlyList<Migration> migrations, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(SqlServerMigrationSql.Lock, transaction: tx, cancellationToken: ct, commandTimeout: 120));
        await connection.ExecuteAsync(new CommandDefinition(SqlServerMigrationSql.CreateHistory, transaction: tx, cancellationToken: ct));
        var done = (await connection.QueryAsync<int>(new CommandDefinition(SqlServerMigrationSql.Applied, transaction: tx, cancellationToken: ct))).ToHashSet();
        var applied = 0;
        foreach (var migration in migrations.Where(m => !done.Contains(m.Version)))
        {
            foreach (var batch in SqlServerBatches(migration.Sql))
            {
                await connection.ExecuteAsync(new CommandDefinition(batch, transaction: tx, cancellationToken: ct));
            }
            await connection.ExecuteAsync(new CommandDefinition(
                SqlServerMigrationSql.Record,
                new { migration.Version, migration.Name, AppliedAt = DateTimeOffset.UtcNow }, tx, cancellationToken: ct));
            Log.Applied(logger, migration.Version, migration.Name);
            applied++;
        }
        await tx.CommitAsync(ct);
        return applied;
    }

    [GeneratedRegex(@"^(\d{4})_[a-z0-9_]+\.sql$")]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"^\s*GO\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex GoSeparator();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Applied migration {Version} ({Name})")]
        public static partial void Applied(ILogger logger, int version, string name);
    }
}

[SqlServerStatements]
internal static class SqlServerMigrationSql
{
    // Transaction-owned application lock: released on commit or rollback, and by the server if we die.
    public const string Lock = """
        DECLARE @result int;
        EXEC @result = sp_getapplock @Resource = N'wecombot-migrations', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = 120000;
        IF @result < 0 THROW 50001, N'Could not take the migration lock', 1;
        """;

    public const string CreateHistory = """
        IF OBJECT_ID(N'dbo.schema_migrations', N'U') IS NULL
            CREATE TABLE dbo.schema_migrations (version int NOT NULL PRIMARY KEY, name nvarchar(200) NOT NULL, applied_at datetimeoffset NOT NULL);
        """;

    public const string Applied = "SELECT version FROM dbo.schema_migrations";

    public const string Record = "INSERT INTO dbo.schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @AppliedAt)";
}
