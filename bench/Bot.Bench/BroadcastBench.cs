using System.Diagnostics;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Bench;

/// <summary>
/// A broadcast to many groups under a per-window quota, through the real planner, store and dispatcher on SQLite, with
/// a no-op sender. The groups belong to K owners, so the broadcast is one add_msg_template task per owner and 2,000
/// groups (WeCom's limit). Reports the actual duration against the quota-bound minimum: with limit L per window W, T
/// task calls need at least (ceil(T / L) - 1) × W, and each group's own allowance is taken once.
/// Options: --groups N (10000) --owners K (4) --limit L (2000) --window-seconds W (10).
/// </summary>
public static class BroadcastBench
{
    public static async Task RunAsync(string[] args)
    {
        var groups = IntArg(args, "--groups", 10_000);
        var limit = IntArg(args, "--limit", 2_000);
        var owners = IntArg(args, "--owners", 4);
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
            var groupStore = new CustomerGroupStore(database, time);
            var broadcasts = new BroadcastService(database, writer, new BroadcastPlanner(new CustomerLedger(database), groupStore), time);
            var chats = Enumerable.Range(0, groups).Select(i => $"wrBench{i:D6}").ToList();
            for (var i = 0; i < chats.Count; i++)
            {
                await groupStore.UpsertAsync(chats[i], $"bench {i}", $"owner{i % owners}", CancellationToken.None);
            }
            var sender = new CountingSender(groups);
            var limiter = new WindowLimiter(time, limit, window);

            var enqueue = Stopwatch.StartNew();
            var broadcast = await broadcasts.StartAsync(new BroadcastRequest
            {
                Name = "bench",
                Text = "hello",
                TargetKind = BroadcastTargetKind.Groups,
                Targets = chats,
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

            var minimum = window * (Math.Ceiling(sender.Calls / (double)limit) - 1);
            Console.WriteLine($"broadcast: {groups} groups of {owners} owners as {broadcast.Tasks} tasks, quota {limit} per {window.TotalSeconds:0} s, {new OutboxOptions().DispatcherConcurrency} in flight");
            Console.WriteLine($"enqueue (one transaction): {enqueue.Elapsed.TotalMilliseconds:0} ms ({groups / enqueue.Elapsed.TotalSeconds:0} items/s)");
            Console.WriteLine($"last send after {sendTime.TotalSeconds:0.00} s; quota-bound minimum {minimum.TotalSeconds:0.00} s; " +
                $"overhead {(sendTime - minimum).TotalSeconds:0.00} s ({(minimum > TimeSpan.Zero ? (sendTime / minimum - 1) * 100 : 0):0.0} %)");
            Console.WriteLine($"task calls {sender.Calls}, recipients sent {progress.ByState[OutboxState.Sent]}, limiter calls {limiter.Calls} " +
                $"(one per task and one per recipient; {limiter.Calls - sender.Calls - groups} quota waits released)");
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

    /// <summary>Counts task calls, and completes once the tasks have carried <paramref name="expected"/> recipients.</summary>
    private sealed class CountingSender(int expected) : IOutboxSender
    {
        private readonly TaskCompletionSource _allSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;
        private int _recipients;

        public Task AllSent => _allSent.Task;

        public int Calls => Volatile.Read(ref _calls);

        public Task<OutboxSendOutcome> SendAsync(OutboxItem item, CancellationToken ct)
        {
            Interlocked.Increment(ref _calls);
            var carried = System.Text.Json.Nodes.JsonNode.Parse(item.Payload)?["chat_id_list"]?.AsArray().Count ?? 1;
            if (Interlocked.Add(ref _recipients, carried) == expected)
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
