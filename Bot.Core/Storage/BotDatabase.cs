using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Bot.Core.Storage;

/// <summary>
/// Opens connections to the configured database: for reads as they come, for writes one at a time on SQLite. Stores
/// pick their SQL through <see cref="Dialect"/> only where the dialects differ (upserts, locking, paging); everything
/// else is shared.
/// </summary>
public sealed class BotDatabase
{
    private readonly string _connectionString;

    // SQLite has one writer at a time. A writer that finds the lock taken sleeps in SQLite's busy handler (1 to 100 ms
    // steps, blocking its thread) and tries again, so dozens of in-process writers contending turn sub-millisecond
    // commits into tens of milliseconds each. Taking turns here first queues them without sleeping; busy_timeout still
    // arbitrates between processes sharing the file.
    private readonly WriteTurns? _sqliteWriteTurns;
    private readonly CombinedWrites _combined;

    public BotDatabase(IOptions<StorageOptions> options)
    {
        Provider = options.Value.Provider;
        _connectionString = Provider == StorageProvider.Sqlite
            ? PrepareSqlite(options.Value.ConnectionString)
            : options.Value.ConnectionString;
        Dialect = new SqlDialect(Provider);
        _sqliteWriteTurns = Provider == StorageProvider.Sqlite ? new WriteTurns() : null;
        _combined = new CombinedWrites(this);
    }

    public StorageProvider Provider { get; }

    /// <summary>Picks, once per store, the SQLite or the T-SQL text of the statements whose dialects differ.</summary>
    public SqlDialect Dialect { get; }

    private bool IsSqlite => Provider == StorageProvider.Sqlite;

    /// <summary>
    /// Opens a connection for a write, holding this process's turn to write until it is disposed: for SQLite, the
    /// writer waits here for the writers before it (SQL Server's row locks need no queue, so it opens at once).
    /// <paramref name="acknowledging"/> writers (the inbox's group commit, which WeCom's 200 waits for) go before the
    /// queued background writes of handlers and dispatchers. Never open a second one while holding one.
    /// </summary>
    public async ValueTask<WriteConnection> OpenWriteAsync(CancellationToken cancellationToken, bool acknowledging = false)
    {
        if (_sqliteWriteTurns is not null)
        {
            await _sqliteWriteTurns.EnterAsync(acknowledging, cancellationToken);
        }
        try
        {
            return new WriteConnection(await OpenAsync(cancellationToken), _sqliteWriteTurns);
        }
        catch
        {
            _sqliteWriteTurns?.Exit();
            throw;
        }
    }

    /// <summary>
    /// Runs one short write (a fenced single-row UPDATE recording an outcome) in a transaction shared with the other
    /// such writes waiting at that moment; returns the rows it affected. Not cancellable: it records what already
    /// happened. Takes the write turn itself, so never call it while holding a <see cref="WriteConnection"/>.
    /// </summary>
    public Task<int> ExecuteCombinedAsync(string sql, object parameters) => _combined.ExecuteAsync(sql, parameters);

    /// <summary>Opens a connection for reading; a write goes through <see cref="OpenWriteAsync"/>, which takes the write turn.</summary>
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
