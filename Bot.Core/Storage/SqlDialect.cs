namespace Bot.Core.Storage;

/// <summary>
/// The SQL dialect of the configured database. Where SQLite and T-SQL differ (upserts and insert-if-absent, LIMIT and
/// TOP, RETURNING and OUTPUT, locking hints), a store declares each statement once as a pair and picks its text here
/// when it is built, so no call branches on the provider. T-SQL twins live in <see cref="SqlServerStatementsAttribute"/>
/// classes, which a test parses.
/// </summary>
public sealed class SqlDialect
{
    internal SqlDialect(StorageProvider provider) => Provider = provider;

    public StorageProvider Provider { get; }

    /// <summary>The SQLite or the SQL Server form of one thing (a statement, or code that differs by dialect).</summary>
    public T Pick<T>(T sqlite, T sqlServer) => Provider == StorageProvider.Sqlite ? sqlite : sqlServer;
}
