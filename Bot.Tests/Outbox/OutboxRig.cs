using Bot.Tests.Fixtures;
using System.Collections.Concurrent;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Outbox;

/// <summary>A fresh, migrated SQLite file per test, and "instances" (store, signal, writer, dispatcher) over it.</summary>
internal sealed class OutboxRig : IAsyncDisposable
{
    private readonly string _directory;
    private readonly List<OutboxDispatcher> _dispatchers = [];

    private OutboxRig(string directory, TimeProvider time)
    {
        _directory = directory;
        Time = time;
        ConnectionString = $"Data Source={Path.Combine(directory, "bot.db")}";
        Instance = NewInstance();
    }

    public TimeProvider Time { get; }

    public string ConnectionString { get; }

    /// <summary>The default instance: its writer wakes its dispatchers.</summary>
    public RigInstance Instance { get; }

    public OutboxStore Store => Instance.Store;

    public OutboxWriter Writer => Instance.Writer;

    public static async Task<OutboxRig> CreateAsync(TimeProvider time)
    {
        var directory = Path.Combine(Path.GetTempPath(), "outbox-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var rig = new OutboxRig(directory, time);
        await new MigrationRunner(rig.Instance.Database, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        return rig;
    }

    /// <summary>Another process's view of the same file: its own connections, signal and writer.</summary>
    public RigInstance NewInstance()
    {
        var database = new BotDatabase(Options.Create(new StorageOptions { ConnectionString = ConnectionString }));
        var store = new OutboxStore(database);
        var signal = new OutboxSignal();
        return new RigInstance(database, store, signal, new OutboxWriter(store, signal, Time), new BroadcastService(database, new OutboxWriter(store, signal, Time), new BroadcastPlanner(new CustomerLedger(database), new CustomerGroupStore(database, Time)), Time));
    }

    public async Task<OutboxDispatcher> StartDispatcherAsync(
        IOutboxSender sender, IQuotaLimiter limiter, OutboxOptions? options = null, ILogger<OutboxDispatcher>? logger = null, RigInstance? instance = null,
        QuotaCatalog? catalog = null, ContactBudget? budget = null, ContactPreferenceStore? preferences = null)
    {
        instance ??= Instance;
        var dispatcher = new OutboxDispatcher(
            instance.Store, instance.Signal, sender, limiter, catalog ?? new QuotaCatalog(), Options.Create(options ?? new OutboxOptions()), Time,
            logger ?? NullLogger<OutboxDispatcher>.Instance, preferences: preferences, budget: budget);
        _dispatchers.Add(dispatcher);
        await dispatcher.StartAsync(CancellationToken.None);
        return dispatcher;
    }

    /// <summary>Moves fake time on and wakes the dispatchers, so a sleep computed before the move is recomputed.</summary>
    public void Advance(TimeSpan by)
    {
        ((Microsoft.Extensions.Time.Testing.FakeTimeProvider)Time).Advance(by);
        Instance.Signal.Pulse();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var dispatcher in _dispatchers)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await dispatcher.StopAsync(stop.Token);
            dispatcher.Dispose();
        }
        SqliteConnection.ClearPool(new SqliteConnection(ConnectionString));
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A crashed-dispatcher test may still hold the file; the temp folder is cleaned by the OS.
        }
    }

    /// <summary>Polls a condition with a deadline. Used only where no event marks the moment (a row's state after a send).</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(condition, "the condition", timeout ?? TimeSpan.FromSeconds(20));

    public static OutboxRequest Request(string kind, string target, string api, string? key = null, DateTimeOffset? deadline = null, string? customer = null) => new()
    {
        Kind = kind,
        Target = target,
        Payload = $$"""{"target":"{{target}}"}""",
        IdempotencyKey = key ?? $"{kind}:{target}",
        QuotaSubject = new QuotaSubject(api),
        Deadline = deadline,
        ExternalUserId = customer,
    };
}

internal sealed record RigInstance(BotDatabase Database, OutboxStore Store, OutboxSignal Signal, OutboxWriter Writer, BroadcastService Broadcasts);

/// <summary>
/// The WeCom stand-in: records every call with its time, answers through an optional behaviour, and lets tests
/// await calls instead of sleeping.
/// </summary>
internal sealed class RecordingSender(TimeProvider time, Func<OutboxItem, int, Task<OutboxSendOutcome>>? behaviour = null) : IOutboxSender
{
    private readonly Lock _gate = new();
    private readonly List<(Func<bool> Done, TaskCompletionSource Signal)> _waiters = [];
    private readonly ConcurrentDictionary<long, int> _calls = new();

    public ConcurrentQueue<(OutboxItem Item, DateTimeOffset At)> Calls { get; } = new();

    public int CallCount(long id) => _calls.GetValueOrDefault(id);

    public async Task<OutboxSendOutcome> SendAsync(OutboxItem item, CancellationToken ct)
    {
        var n = _calls.AddOrUpdate(item.Id, 1, (_, c) => c + 1);
        Calls.Enqueue((item, time.GetUtcNow()));
        Notify();
        if (behaviour is null)
        {
            return new OutboxSendOutcome.Sent($"msg-{item.Id}");
        }
        var outcome = await behaviour(item, n);
        // Again after the answer, for waits on what the behaviour itself records.
        Notify();
        return outcome;
    }

    /// <summary>Completes once <paramref name="done"/> holds after some call (or already holds).</summary>
    public Task WhenAsync(Func<RecordingSender, bool> done, TimeSpan? timeout = null)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (done(this))
            {
                return Task.CompletedTask;
            }
            _waiters.Add((() => done(this), tcs));
        }
        return tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    private void Notify()
    {
        lock (_gate)
        {
            foreach (var waiter in _waiters.Where(w => w.Done()).ToList())
            {
                waiter.Signal.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
    }
}

/// <summary>
/// Exact sliding-window limiter for tests (the real Redis and in-process limiters replace it when merged): counts
/// every acquisition per key, honours pauses, and can be switched to "unavailable". <paramref name="scale"/> maps
/// the catalog's limits to short test windows; <paramref name="guard"/> widens each window a little, as a real
/// limiter must to absorb the skew between acquiring and WeCom receiving the call.
/// </summary>
internal sealed class TestQuotaLimiter(TimeProvider time, Func<QuotaLimit, QuotaLimit>? scale = null, TimeSpan guard = default) : IQuotaLimiter
{
    private readonly Lock _gate = new();
    private readonly Dictionary<QuotaKey, Queue<DateTimeOffset>> _used = [];
    private readonly Dictionary<QuotaKey, DateTimeOffset> _pausedUntil = [];
    private volatile bool _available = true;
    private int _acquireCalls;

    public bool Available
    {
        get => _available;
        set => _available = value;
    }

    public int AcquireCalls => Volatile.Read(ref _acquireCalls);

    public ConcurrentQueue<(QuotaKey Key, TimeSpan Duration)> Pauses { get; } = new();

    public QuotaLimit Scale(QuotaLimit limit) => scale is null ? limit : scale(limit);

    // Every 45009 of the rig is a first one: the window rule is tested against the real limiters.
    public ValueTask<int> RecordRefusalAsync(QuotaKey key, DateTimeOffset admittedAt, TimeSpan pause, TimeSpan window, CancellationToken cancellationToken) =>
        ValueTask.FromResult(1);

    // The dispatcher never peeks; pre-flight runs against the real limiters.
    public ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _acquireCalls);
        if (!_available)
        {
            return ValueTask.FromResult(new QuotaDecision(QuotaDecisionKind.Unavailable, TimeSpan.FromSeconds(1)));
        }
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var wait = TimeSpan.Zero;
            QuotaKey? blockedBy = null;
            foreach (var limit in limits.Select(Scale))
            {
                var window = limit.Window + guard;
                var used = Used(limit.Key);
                while (used.Count > 0 && used.Peek() <= now - window)
                {
                    used.Dequeue();
                }
                var free = _pausedUntil.TryGetValue(limit.Key, out var paused) && paused > now ? paused - now : TimeSpan.Zero;
                if (used.Count >= limit.Limit)
                {
                    var oldestLeaves = used.Peek() + window - now;
                    free = oldestLeaves > free ? oldestLeaves : free;
                }
                if (free > wait)
                {
                    wait = free;
                    blockedBy = limit.Key;
                }
            }
            if (wait > TimeSpan.Zero)
            {
                return ValueTask.FromResult(new QuotaDecision(QuotaDecisionKind.Wait, wait, blockedBy));
            }
            foreach (var limit in limits)
            {
                Used(limit.Key).Enqueue(now);
            }
            return ValueTask.FromResult(QuotaDecision.Allow(now));
        }
    }

    public ConcurrentQueue<(QuotaKey Key, DateTimeOffset TakenAt)> Refunds { get; } = new();

    public ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var limit in limits)
            {
                var used = Used(limit.Key);
                var kept = used.ToList();
                if (kept.Remove(takenAt))
                {
                    _used[limit.Key] = new Queue<DateTimeOffset>(kept);
                }
                Refunds.Enqueue((limit.Key, takenAt));
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _pausedUntil[key] = time.GetUtcNow() + duration;
        }
        Pauses.Enqueue((key, duration));
        return ValueTask.CompletedTask;
    }

    private Queue<DateTimeOffset> Used(QuotaKey key)
    {
        if (!_used.TryGetValue(key, out var used))
        {
            used = new Queue<DateTimeOffset>();
            _used[key] = used;
        }
        return used;
    }
}
