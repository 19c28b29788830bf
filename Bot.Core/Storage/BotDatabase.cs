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
        _sqliteWriteTurns = Provider == StorageProvider.Sqlite ? new WriteTurns() : null;
        _combined = new CombinedWrites(this);
    }

    public StorageProvider Provider { get; }

    /// <summary>
    /// Waits for this process's turn to write, for SQLite (a no-op for SQL Server, whose row locks need no queue).
    /// Take it before opening the connection of a write and hold it until that connection is disposed; never nest it.
    /// <paramref name="acknowledging"/> writers (the inbox's group commit, which WeCom's 200 waits for) go before the
    /// queued background writes of handlers and dispatchers.
    /// </summary>
    public async ValueTask<WriteTurn> WriteTurnAsync(CancellationToken cancellationToken, bool acknowledging = false)
    {
        if (_sqliteWriteTurns is null)
        {
            return default;
        }
        await _sqliteWriteTurns.EnterAsync(acknowledging, cancellationToken);
        return new WriteTurn(_sqliteWriteTurns);
    }

    /// <summary>
    /// Runs one short write (a fenced single-row UPDATE recording an outcome) in a transaction shared with the other
    /// such writes waiting at that moment; returns the rows it affected. Not cancellable: it records what already
    /// happened. Takes the write turn itself, so never call it while holding one.
    /// </summary>
    public Task<int> ExecuteCombinedAsync(string sql, object parameters) => _combined.ExecuteAsync(sql, parameters);

    /// <summary>One writer's turn; disposing it lets the next writer in.</summary>
    public readonly struct WriteTurn : IDisposable
    {
        private readonly WriteTurns? _turns;

        internal WriteTurn(WriteTurns turns) => _turns = turns;

        public void Dispose() => _turns?.Exit();
    }

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
