using Bot.Core.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Fixtures;

/// <summary>A fresh, migrated SQLite file per test, deleted afterwards.</summary>
public sealed class TempDatabase : IAsyncDisposable
{
    private TempDatabase(string directory, BotDatabase database)
    {
        Directory = directory;
        Database = database;
    }

    public string Directory { get; }

    public string ConnectionString => $"Data Source={System.IO.Path.Combine(Directory, "bot.db")}";

    public BotDatabase Database { get; }

    public static async Task<TempDatabase> CreateAsync()
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wecombot-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var database = new BotDatabase(Options.Create(new StorageOptions { ConnectionString = $"Data Source={System.IO.Path.Combine(directory, "bot.db")}" }));
        await new MigrationRunner(database, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        return new TempDatabase(directory, database);
    }

    /// <summary>A second handle on the same file, as another host process would have.</summary>
    public BotDatabase OpenAnother() =>
        new(Options.Create(new StorageOptions { ConnectionString = ConnectionString }));

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A lingering handle on Linux does not block deletion; elsewhere the temp folder is cleaned later.
        }
        return ValueTask.CompletedTask;
    }
}
