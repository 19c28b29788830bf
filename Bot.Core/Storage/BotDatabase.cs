using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Bot.Core.Storage;

/// <summary>
/// Opens connections to the configured database. Stores pick their SQL by <see cref="Provider"/> only where the
/// dialects differ (upserts, locking, paging); everything else is shared.
/// </summary>
public sealed class BotDatabase
{
    private readonly string _connectionString;

    public BotDatabase(IOptions<StorageOptions> options)
    {
        Provider = options.Value.Provider;
        _connectionString = Provider == StorageProvider.Sqlite
            ? PrepareSqlite(options.Value.ConnectionString)
            : options.Value.ConnectionString;
    }

    public StorageProvider Provider { get; }

    public bool IsSqlite => Provider == StorageProvider.Sqlite;

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = IsSqlite ? new SqliteConnection(_connectionString) : new SqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (IsSqlite)
            {
                // Several hosts may share one file (scale-out test, CLI verbs beside a running host): WAL lets
                // readers run beside the writer, and busy_timeout makes writers queue instead of failing.
                await using var pragma = connection.CreateCommand();
                pragma.CommandText = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
                await pragma.ExecuteNonQueryAsync(cancellationToken);
            }
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static string PrepareSqlite(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            // Pooling keeps the WAL-mode file open between commands; shared cache would serialize us in-process.
            Pooling = true,
        };
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory) && builder.DataSource != ":memory:")
        {
            Directory.CreateDirectory(directory);
        }
        return builder.ToString();
    }
}
