using System.Diagnostics;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Bench;

/// <summary>
/// A broadcast to many groups under a per-window quota, through the real store and dispatcher on SQLite, with a
/// no-op sender. Reports the actual duration against the quota-bound minimum: with limit L per window W, N sends
/// need at least (ceil(N / L) - 1) × W. Options: --groups N (10000) --limit L (2000) --window-seconds W (10).
/// </summary>
public static class BroadcastBench
{
    public static async Task RunAsync(string[] args)
    {
        var groups = IntArg(args, "--groups", 10_000);
        var limit = IntArg(args, "--limit", 2_000);
        var window = TimeSpan.FromSeconds(IntArg(args, "--window-seconds", 10));
        var directory = Path.Combine(Path.GetTempPath(), "broadcast-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var connectionString = $"Data Source={Path.Combine(directory, "bot.db")}";
        try
        {
            var database = new BotDatabase(Options.Create(new StorageOptions { ConnectionString = connectionString }));
            await new MigrationRunner(database, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
            var time = TimeProvider.System;
            var store = new OutboxStore(database);
            var signal = new OutboxSignal();
            var writer = new OutboxWriter(store, signal, time);
            var broadcasts = new BroadcastService(database, writer, time);
            var sender = new CountingSender(groups);
            var limiter = new WindowLimiter(time, limit, window);

            var enqueue = Stopwatch.StartNew();
            var broadcast = await broadcasts.StartAsync(new BroadcastRequest
            {
                Name = "bench",
                Text = "hello",
                TargetKind = BroadcastTargetKind.Groups,
                Sender = "bench-sender",
                Targets = Enumerable.Range(0, groups).Select(i => $"wrBench{i:D6}").ToList(),
            }, CancellationToken.None);
            enqueue.Stop();

            using var dispatcher = new OutboxDispatcher(
                store, signal, sender, limiter, new QuotaCatalog(), Options.Create(new OutboxOptions()), time, NullLogger<OutboxDispatcher>.Instance);
            var run = Stopwatch.StartNew();
            await dispatcher.StartAsync(CancellationToken.None);
            await sender.AllSent;
            var sendTime = run.Elapsed;
            await dispatcher.StopAsync(CancellationToken.None);
            var progress = (await broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None))!;

            var minimum = window * (Math.Ceiling(groups / (double)limit) - 1);
            Console.WriteLine($"broadcast: {groups} groups, quota {limit} per {window.TotalSeconds:0} s, {new OutboxOptions().DispatcherConcurrency} in flight");
            Console.WriteLine($"enqueue (one transaction): {enqueue.Elapsed.TotalMilliseconds:0} ms ({groups / enqueue.Elapsed.TotalSeconds:0} items/s)");
            Console.WriteLine($"last send after {sendTime.TotalSeconds:0.00} s; quota-bound minimum {minimum.TotalSeconds:0.00} s; " +
                $"overhead {(sendTime - minimum).TotalSeconds:0.00} s ({(minimum > TimeSpan.Zero ? (sendTime / minimum - 1) * 100 : 0):0.0} %)");
            Console.WriteLine($"sends {sender.Calls}, sent {progress.ByState[OutboxState.Sent]}, limiter calls {limiter.Calls} " +
                $"({limiter.Calls - groups} quota waits released)");
        }
        finally
        {
            SqliteConnection.ClearPool(new SqliteConnection(connectionString));
            Directory.Delete(directory, recursive: true);
        }
    }

    private static int IntArg(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length && int.TryParse(args[at + 1], out var value) ? value : fallback;
    }

    private sealed class CountingSender(int expected) : IOutboxSender
    {
        private readonly TaskCompletionSource _allSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public Task AllSent => _allSent.Task;

        public int Calls => Volatile.Read(ref _calls);

        public Task<OutboxSendOutcome> SendAsync(OutboxItem item, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _calls) == expected)
            {
                _allSent.TrySetResult();
            }
            return Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.Sent(null));
        }
    }

    /// <summary>
    /// Stand-in for the in-process limiter until it is merged: one exact sliding window applied to every key the
    /// catalog names, with the limit and window of the run.
    /// </summary>
    private sealed class WindowLimiter(TimeProvider time, int limit, TimeSpan window) : IQuotaLimiter
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<QuotaKey, Queue<DateTimeOffset>> _used = [];
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            lock (_gate)
            {
                var now = time.GetUtcNow();
                foreach (var key in limits.Select(l => l.Key))
                {
                    var used = Used(key);
                    while (used.Count > 0 && used.Peek() <= now - window)
                    {
                        used.Dequeue();
                    }
                    if (used.Count >= limit)
                    {
                        return ValueTask.FromResult(new QuotaDecision(QuotaDecisionKind.Wait, used.Peek() + window - now, key));
                    }
                }
                foreach (var key in limits.Select(l => l.Key))
                {
                    Used(key).Enqueue(now);
                }
                return ValueTask.FromResult(QuotaDecision.Allow());
            }
        }

        public ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<int> RecordRefusalAsync(QuotaKey key, DateTimeOffset admittedAt, TimeSpan pause, TimeSpan window, CancellationToken cancellationToken) =>
            ValueTask.FromResult(1);

        // The bench's WeCom never refuses a send, so nothing is refunded.
        public ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        // The dispatcher never peeks; pre-flight runs against the real limiters.
        public ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

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
}
