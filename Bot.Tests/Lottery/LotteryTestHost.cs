using Bot.Core.Campaigns.Lottery;
using Bot.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Lottery;

/// <summary>
/// One bot instance (its own DI container) over a SQLite file that several instances may share, with a fake clock,
/// a fake log collector and an announcer that records every draw it is handed.
/// </summary>
internal sealed class LotteryTestHost : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;

    private readonly SemaphoreSlim _sleeps;

    private LotteryTestHost(IHost host, FakeTimeProvider time, SemaphoreSlim sleeps)
    {
        _host = host;
        Time = time;
        _sleeps = sleeps;
    }

    internal LotteryDrawWorker Worker => _host.Services.GetRequiredService<LotteryDrawWorker>();

    /// <summary>Waits until the worker has finished a pass and set its timer (one call per pass).</summary>
    public async Task WorkerAsleepAsync()
    {
        if (!await _sleeps.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("the lottery worker did not go to sleep within 10 s");
        }
    }

    public FakeTimeProvider Time { get; }

    public LotteryService Service => _host.Services.GetRequiredService<LotteryService>();

    public LotteryCommands Commands => _host.Services.GetRequiredService<LotteryCommands>();

    public FakeLogCollector Logs => _host.Services.GetFakeLogCollector();

    /// <summary>Draws handed to the announcer, in order.</summary>
    public List<LotteryDrawResult> Announced { get; } = [];

    /// <summary>Completes with the first draw handed to the announcer.</summary>
    public TaskCompletionSource<LotteryDrawResult> FirstAnnounced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<LotteryTestHost> CreateAsync(
        string databaseFile,
        FakeTimeProvider time,
        IReadOnlyDictionary<string, string>? names = null,
        IDictionary<string, string?>? settings = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Bot"] = $"Data Source={databaseFile}",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        var sleeps = new SemaphoreSlim(0);
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddFakeLogging(o =>
        {
            // The worker logs this after its timer exists, so moving the fake clock from here on wakes it.
            o.OutputSink = line =>
            {
                if (line.Contains("Lottery worker sleeping", StringComparison.Ordinal))
                {
                    sleeps.Release();
                }
            };
        });
        builder.Services.AddSingleton<TimeProvider>(time);
        LotteryTestHost? self = null;
        builder.Services.AddSingleton<LotteryAnnouncer>((result, _) =>
        {
            lock (self!.Announced)
            {
                self.Announced.Add(result);
            }
            self.FirstAnnounced.TrySetResult(result);
            return Task.CompletedTask;
        });
        if (names is not null)
        {
            builder.Services.AddSingleton<LotteryWinnerNames>((ids, _) =>
                Task.FromResult<IReadOnlyDictionary<string, string>>(ids.Where(names.ContainsKey).ToDictionary(id => id, id => names[id])));
        }
        builder.AddStorage();
        builder.AddLottery();
        var host = builder.Build();
        self = new LotteryTestHost(host, time, sleeps);
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        return self;
    }

    /// <summary>Starts the hosted services, i.e. the draw worker (and the migration service, a no-op by now).</summary>
    public async Task StartAsync()
    {
        await _host.StartAsync();
        _started = true;
    }

    /// <summary>Stops the host as a shutdown would; the database file stays for the next instance.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            await _host.StopAsync();
        }
        _host.Dispose();
    }

    public async Task<SqliteConnection> OpenRawAsync()
    {
        var connection = new SqliteConnection(_host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<StorageOptions>>().Value.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }
}

/// <summary>A fresh SQLite file per test, removed afterwards.</summary>
internal sealed class TempDatabase : IDisposable
{
    public string File { get; } = Path.Combine(Path.GetTempPath(), $"wecombot-lottery-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        SqliteConnection.ClearPool(new SqliteConnection($"Data Source={File};Pooling=True"));
        foreach (var path in new[] { File, File + "-wal", File + "-shm" })
        {
            System.IO.File.Delete(path);
        }
    }
}
