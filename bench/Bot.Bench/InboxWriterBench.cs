using Bot.Core.Observability;
using System.Diagnostics;
using Bot.Core.Inbox;
using Bot.Core.Storage;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;

namespace Bot.Bench;

/// <summary>
/// Appends N callbacks from 64 concurrent tasks (as 64 concurrent WeCom requests would) into a fresh SQLite file,
/// once through the group-committing <see cref="InboxWriter"/> and once with one transaction per entry, and prints
/// entries/s for both. Usage: <c>InboxWriterBench [N=50000]</c>.
/// </summary>
public static class InboxWriterBench
{
    private const int Concurrency = 64;

    public static async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 50_000;
        var perTask = count / Concurrency;
        count = perTask * Concurrency;
        var folder = Path.Combine(Path.GetTempPath(), "wecombot-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var grouped = await MeasureAsync(Path.Combine(folder, "grouped.db"), perTask, GroupCommitAsync);
            var single = await MeasureAsync(Path.Combine(folder, "single.db"), perTask, TransactionPerEntryAsync);
            Console.WriteLine($"inbox append, {count} entries from {Concurrency} concurrent tasks, SQLite WAL, {Environment.ProcessorCount} cores");
            Console.WriteLine($"  group commit (InboxWriter):  {grouped,10:N0} entries/s");
            Console.WriteLine($"  one transaction per entry:   {single,10:N0} entries/s");
            Console.WriteLine($"  ratio:                       {grouped / single,10:N1}x");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<double> MeasureAsync(string file, int perTask, Func<BotDatabase, int, Task<TimeSpan>> run)
    {
        var database = new BotDatabase(Options.Create(new StorageOptions { ConnectionString = $"Data Source={file}" }));
        await new MigrationRunner(database, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        var elapsed = await run(database, perTask);
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var stored = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM inbox");
        if (stored != perTask * Concurrency)
        {
            throw new InvalidOperationException($"expected {perTask * Concurrency} rows, found {stored}");
        }
        return stored / elapsed.TotalSeconds;
    }

    private static async Task<TimeSpan> GroupCommitAsync(BotDatabase database, int perTask)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        await using var writer = new InboxWriter(
            database, Options.Create(new InboxOptions()), new InboxSignal(),
            new BotMetrics(services.GetRequiredService<IMeterFactory>()), TimeProvider.System, NullLogger<InboxWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < perTask; i++)
            {
                await writer.AppendAsync(Entry(t, i), CancellationToken.None);
            }
        })));
        return clock.Elapsed;
    }

    private static async Task<TimeSpan> TransactionPerEntryAsync(BotDatabase database, int perTask)
    {
        const string insert = """
            INSERT INTO inbox (dedupe_key, kind, received_at, body, state, attempts, next_attempt_at)
            VALUES (@DedupeKey, @Kind, @ReceivedAt, @Body, 'pending', 0, @ReceivedAt)
            ON CONFLICT (dedupe_key) DO NOTHING
            """;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < perTask; i++)
            {
                var entry = Entry(t, i);
                await using var connection = await database.OpenAsync(CancellationToken.None);
                // The same durability as the writer: the WAL is synced before the entry counts as stored.
                await connection.ExecuteAsync("PRAGMA synchronous = FULL");
                await using var transaction = await connection.BeginTransactionAsync();
                await connection.ExecuteAsync(new CommandDefinition(insert, new
                {
                    entry.DedupeKey,
                    entry.Kind,
                    ReceivedAt = entry.ReceivedAt.ToUnixTimeMilliseconds(),
                    entry.Body,
                }, transaction));
                await transaction.CommitAsync();
            }
        })));
        return clock.Elapsed;
    }

    private static InboxEntry Entry(int task, int i) => new(
        $"bench-{task}-{i}",
        "change_external_contact",
        DateTimeOffset.UnixEpoch.AddDays(20_000).AddMilliseconds(i),
        $"<xml><ToUserName><![CDATA[ww0000]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{1_700_000_000 + i}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[guide{task}]]></UserID><ExternalUserID><![CDATA[wm{task:D4}{i:D8}]]></ExternalUserID><State><![CDATA[store-sh-01]]></State><WelcomeCode><![CDATA[WELCOMECODE{i}]]></WelcomeCode></xml>");
}
