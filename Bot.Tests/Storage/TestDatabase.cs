using Bot.Core.Storage;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bot.Tests.Storage;

/// <summary>Which database a parameterized storage fixture runs against.</summary>
public enum TestStorage
{
    Sqlite,

    /// <summary>A live SQL Server named by BOT_TEST_SQLSERVER; each test gets a database of its own.</summary>
    LiveSqlServer,
}

/// <summary>A fresh, empty database owned by one test: a temporary SQLite file, or a new database on a live SQL Server.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public const string SqlServerVariable = "BOT_TEST_SQLSERVER";
    public const string NotSetMessage = "BOT_TEST_SQLSERVER is not set: live SQL Server tests did not run";

    private readonly string? _sqliteFolder;
    private readonly string? _sqlServerName;
    private readonly string? _sqlServerMaster;

    private TestDatabase(StorageOptions options, string? sqliteFolder, string? sqlServerName, string? sqlServerMaster)
    {
        Options = options;
        _sqliteFolder = sqliteFolder;
        _sqlServerName = sqlServerName;
        _sqlServerMaster = sqlServerMaster;
    }

    public StorageOptions Options { get; }

    public StorageProvider Provider => Options.Provider;

    public static string? LiveSqlServerConnectionString =>
        Environment.GetEnvironmentVariable(SqlServerVariable) is { Length: > 0 } value ? value : null;

    /// <summary>Makes a live SQL Server fixture inconclusive, saying so plainly, when no server is configured.</summary>
    public static void RequireAvailable(TestStorage storage)
    {
        if (storage == TestStorage.LiveSqlServer && LiveSqlServerConnectionString is null)
        {
            TestContext.Progress.WriteLine(NotSetMessage);
            TestContext.Out.WriteLine(NotSetMessage);
            Assert.Inconclusive(NotSetMessage);
        }
    }

    public static async Task<TestDatabase> CreateAsync(TestStorage storage)
    {
        if (storage == TestStorage.Sqlite)
        {
            var folder = Path.Combine(Path.GetTempPath(), "wecombot-tests", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            var options = new StorageOptions
            {
                Provider = StorageProvider.Sqlite,
                ConnectionString = $"Data Source={Path.Combine(folder, "bot.db")}",
            };
            return new TestDatabase(options, folder, null, null);
        }

        var master = LiveSqlServerConnectionString ?? throw new InvalidOperationException(NotSetMessage);
        var name = "wecombot_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new SqlConnection(master))
        {
            await connection.OpenAsync();
            await using var create = connection.CreateCommand();
            create.CommandText = $"CREATE DATABASE [{name}]";
            await create.ExecuteNonQueryAsync();
        }
        var builder = new SqlConnectionStringBuilder(master) { InitialCatalog = name };
        return new TestDatabase(
            new StorageOptions { Provider = StorageProvider.SqlServer, ConnectionString = builder.ConnectionString }, null, name, master);
    }

    public BotDatabase Open() => new(Microsoft.Extensions.Options.Options.Create(Options));

    public async Task<BotDatabase> MigratedAsync()
    {
        var database = Open();
        await new MigrationRunner(database, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        if (_sqliteFolder is not null)
        {
            // Pooled connections keep the file open; release them so the folder can go.
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_sqliteFolder, recursive: true);
            }
            catch (IOException)
            {
                // Another fixture's pooled connection may still hold a file; the temp folder is cleaned by the OS.
            }
        }
        if (_sqlServerName is not null)
        {
            SqlConnection.ClearAllPools();
            await using var connection = new SqlConnection(_sqlServerMaster);
            await connection.OpenAsync();
            await using var drop = connection.CreateCommand();
            drop.CommandText = $"ALTER DATABASE [{_sqlServerName}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{_sqlServerName}];";
            await drop.ExecuteNonQueryAsync();
        }
    }
}
