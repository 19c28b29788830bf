using Bot.Core.Observability;
using Bot.Core.Handling;
using Bot.Core.Inbox;
using Bot.Core.Storage;
using Bot.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using System.Diagnostics.Metrics;

namespace Bot.Tests.Inbox;

/// <summary>One migrated test database with the inbox pieces wired by hand over a fake clock and a private meter.</summary>
internal sealed class InboxHarness : IAsyncDisposable
{
    private readonly ServiceProvider _metricsServices;
    private readonly List<IAsyncDisposable> _owned = [];

    private InboxHarness(TestDatabase db, BotDatabase database, InboxOptions options)
    {
        Db = db;
        Database = database;
        Options = options;
        _metricsServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
        MeterFactory = _metricsServices.GetRequiredService<IMeterFactory>();
        Metrics = new BotMetrics(MeterFactory);
        Store = new InboxStore(Database, Signal, Time);
    }

    public TestDatabase Db { get; }

    public BotDatabase Database { get; }

    public InboxOptions Options { get; }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));

    public InboxSignal Signal { get; } = new();

    public IMeterFactory MeterFactory { get; }

    public BotMetrics Metrics { get; }

    public InboxStore Store { get; }

    public FakeLogCollector Logs { get; } = new();

    public static async Task<InboxHarness> CreateAsync(TestStorage storage, Action<InboxOptions>? configure = null)
    {
        var options = new InboxOptions();
        configure?.Invoke(options);
        var db = await TestDatabase.CreateAsync(storage);
        return new InboxHarness(db, await db.MigratedAsync(), options);
    }

    public MetricCollector<long> Collect(string instrument) => new(MeterFactory, BotMetrics.MeterName, instrument);

    public MetricCollector<int> CollectBatchSizes() => new(MeterFactory, BotMetrics.MeterName, BotMetrics.InboxWriteBatchSize);

    public async Task<InboxWriter> StartWriterAsync()
    {
        var writer = new InboxWriter(Database, Microsoft.Extensions.Options.Options.Create(Options), Signal, Metrics, Time, NullLogger<InboxWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        _owned.Add(writer);
        return writer;
    }

    /// <summary>A worker on the same database; give each extra worker its own signal, as separate processes have.</summary>
    public InboxWorker Worker(ICallbackHandler handler, InboxSignal? signal = null, double jitter = 1.0)
    {
        var logger = new FakeLogger<InboxWorker>(Logs);
        var store = signal is null ? Store : new InboxStore(Database, signal, Time);
        return new InboxWorker(store, signal ?? Signal, Metrics, [handler], Microsoft.Extensions.Options.Options.Create(Options), Time, () => jitter, logger);
    }

    public static InboxEntry Entry(string key, string kind = "change_external_contact") =>
        new(key, kind, new DateTimeOffset(2026, 11, 23, 7, 59, 0, TimeSpan.Zero), $"<xml><Key>{key}</Key></xml>");

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
        await _metricsServices.DisposeAsync();
        await Db.DisposeAsync();
    }
}

/// <summary>Records every call; tests await a count of calls instead of sleeping.</summary>
internal sealed class RecordingHandler(Func<StoredCallback, int, CancellationToken, Task>? behaviour = null) : ICallbackHandler
{
    private readonly Lock _gate = new();
    private readonly List<(StoredCallback Item, DateTimeOffset At)> _calls = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public IReadOnlyDictionary<string, TimeSpan> Deadlines { get; init; } = new Dictionary<string, TimeSpan>();

    public IReadOnlyList<(StoredCallback Item, DateTimeOffset At)> Calls
    {
        get
        {
            lock (_gate)
            {
                return _calls.ToList();
            }
        }
    }

    public async Task HandleAsync(PreparedCallback callback, CancellationToken ct)
    {
        var item = callback.Item;
        int count;
        lock (_gate)
        {
            _calls.Add((item, Clock.GetUtcNow()));
            count = _calls.Count;
            foreach (var waiter in _waiters.Where(w => w.Count <= count))
            {
                waiter.Reached.TrySetResult();
            }
        }
        if (behaviour is not null)
        {
            await behaviour(item, count, ct);
        }
    }

    public Task CalledAsync(int count)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_calls.Count >= count)
            {
                return Task.CompletedTask;
            }
            _waiters.Add((count, reached));
        }
        return reached.Task.WaitAsync(TimeSpan.FromSeconds(20));
    }
}
