using Bot.Core.Observability;
using Bot.Core.Handling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Inbox;

/// <summary>
/// Handles stored callbacks: leases a batch of due ones, runs every <see cref="ICallbackHandler"/> on each, and marks it
/// handled, or schedules a retry with exponential backoff and jitter, parking it after
/// <see cref="InboxOptions.MaxAttempts"/> failures. A worker that dies mid-batch leaves only leases behind: its
/// instance takes them back as soon as it starts again, and otherwise any worker on the same database takes the
/// callbacks over when they expire, so nothing is lost (at-least-once).
/// </summary>
internal sealed partial class InboxWorker : BackgroundService
{
    private readonly InboxStore _store;
    private readonly InboxSignal _signal;
    private readonly BotMetrics _metrics;
    private readonly ICallbackHandler[] _handlers;
    private readonly InboxOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<double> _random;
    private readonly ILogger<InboxWorker> _logger;
    private readonly InboxLeaseOwner _owner;
    private readonly TimeSpan _shortLease;
    private readonly string _shortLeaseKinds;

    /// <param name="random">Returns a value in [0, 1) for retry jitter; tests pass a fixed one.</param>
    public InboxWorker(
        InboxStore store,
        InboxSignal signal,
        BotMetrics metrics,
        IEnumerable<ICallbackHandler> handlers,
        IOptions<InboxOptions> options,
        TimeProvider time,
        Func<double> random,
        ILogger<InboxWorker> logger)
    {
        _store = store;
        _signal = signal;
        _metrics = metrics;
        _handlers = handlers.ToArray();
        _options = options.Value;
        _time = time;
        _random = random;
        _logger = logger;
        // Unique per worker, so that no process mistakes another's lease for its own, yet naming the instance, so that
        // a restart recognises what its dead predecessor held.
        _owner = InboxLeaseOwner.ForThisProcess(_options.InstanceId is { Length: > 0 } instance ? instance : Environment.MachineName);
        Owner = _owner.ToString();
        // A quarter of the tightest deadline: if this instance dies at once, three quarters are left to whoever takes over.
        var deadlines = _handlers.SelectMany(h => h.Deadlines).ToList();
        _shortLease = deadlines.Count == 0 ? _options.LeaseDuration : TimeSpan.FromTicks(Math.Min(_options.LeaseDuration.Ticks, deadlines.Min(d => d.Value.Ticks) / 4));
        _shortLeaseKinds = deadlines.Count == 0 ? "" : "|" + string.Join('|', deadlines.Select(d => d.Key).Distinct(StringComparer.Ordinal)) + "|";
    }

    internal string Owner { get; }

    /// <summary>Equal jitter: at least half of the capped exponential delay, so retries neither bunch up nor come too soon.</summary>
    internal static TimeSpan RetryDelay(int failedAttempts, TimeSpan baseDelay, TimeSpan maxDelay, double random)
    {
        var exponential = baseDelay.Ticks * Math.Pow(2, Math.Min(failedAttempts - 1, 40));
        var ceiling = Math.Min(exponential, maxDelay.Ticks);
        return TimeSpan.FromTicks((long)(ceiling / 2 + random * ceiling / 2));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_handlers.Length == 0)
        {
            Log.NoHandlers(_logger);
        }
        await TakeBackEarlierLeasesAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            var polledAt = _time.GetUtcNow();
            var claimed = 0;
            try
            {
                claimed = await HandleDueBatchAsync(polledAt, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The database is unreachable or locked out: try again on the next poll.
                Log.ClaimFailed(_logger, ex);
            }
            if (claimed < _options.BatchSize)
            {
                await WaitForWorkAsync(polledAt, stoppingToken);
            }
        }
    }

    /// <summary>
    /// Waits for a signal or for the next poll, counted from the start of the last one: when the clock has already
    /// moved past it (a long batch, or a test advancing a fake clock), polls again at once.
    /// </summary>
    private async Task WaitForWorkAsync(DateTimeOffset polledAt, CancellationToken stoppingToken)
    {
        var remaining = polledAt + _options.PollInterval - _time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return;
        }
        using var poll = new CancellationTokenSource(remaining, _time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, poll.Token);
        try
        {
            await _signal.WaitAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            // The poll interval elapsed without a signal.
        }
        catch (OperationCanceledException)
        {
            // Stopping: the loop condition ends the worker.
        }
    }

    /// <summary>
    /// Releases the leases that earlier processes of this instance held when they died (a crash, a kill, a restart
    /// without a clean stop), rather than leaving their callbacks waiting out leases nobody will use. Leases of processes
    /// still running, here or elsewhere, are left alone.
    /// </summary>
    private async Task TakeBackEarlierLeasesAsync(CancellationToken stoppingToken)
    {
        try
        {
            foreach (var owner in await _store.ListLeaseOwnersAsync(stoppingToken))
            {
                if (InboxLeaseOwner.Parse(owner) is { } earlier && _owner.IsEarlierLife(earlier))
                {
                    var released = await _store.ReleaseAllOfAsync(owner, stoppingToken);
                    Log.TookBackLeases(_logger, released, owner);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping before the first claim.
        }
        catch (Exception ex)
        {
            // The leases then run out as they would have without this.
            Log.TakeBackFailed(_logger, ex);
        }
    }

    private async Task<int> HandleDueBatchAsync(DateTimeOffset now, CancellationToken stoppingToken)
    {
        var items = await _store.ClaimAsync(
            Owner, now, now + _options.LeaseDuration, now + _shortLease, _shortLeaseKinds, _options.BatchSize, stoppingToken);
        // Lanes run side by side; each keeps its callbacks in claim order, and callbacks sharing an ordering key
        // always share a lane, so one customer's or one group's callbacks are never handled out of order.
        // Each handler prepares each item once: the key its lane is chosen by and the work it then does come from
        // the same reading of the body.
        var prepared = items.Select(claimed => new PreparedItem(claimed, _handlers.Select(h => h.Prepare(claimed.Item)).ToArray()));
        await Task.WhenAll(prepared.GroupBy(Lane).Select(lane => HandleLaneAsync(lane.ToList(), stoppingToken)));
        return items.Count;
    }

    private int Lane(PreparedItem item)
    {
        if (_options.HandlerConcurrency == 1 || _handlers.Length == 0)
        {
            return 0;
        }
        var key = item.Work.Length == 1
            ? item.Work[0].OrderingKey
            : string.Join('\n', item.Work.Select(work => work.OrderingKey));
        return (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)_options.HandlerConcurrency);
    }

    /// <summary>A claimed item with what each handler, in the handlers' order, prepared of it.</summary>
    private sealed record PreparedItem(ClaimedItem Claimed, PreparedCallback[] Work);

    private async Task HandleLaneAsync(List<PreparedItem> lane, CancellationToken stoppingToken)
    {
        // Off the claiming thread at once, so the lanes really run together.
        await Task.Yield();
        for (var i = 0; i < lane.Count; i++)
        {
            if (_time.GetUtcNow() >= lane[i].Claimed.LeaseUntil)
            {
                // This one may already be leased to another worker; handling it here could run it twice. The rest of
                // the lane waits for the next claim so that it stays in order behind it, and goes back now rather than
                // when its own (perhaps longer) lease runs out.
                Log.LeaseRanOut(_logger, lane.Count - i);
                foreach (var rest in lane[i..])
                {
                    await ReleaseQuietlyAsync(rest.Claimed.Item);
                }
                break;
            }
            await HandleItemAsync(lane[i].Claimed.Item, lane[i].Work, stoppingToken);
        }
    }

    private async Task HandleItemAsync(StoredCallback item, PreparedCallback[] work, CancellationToken stoppingToken)
    {
        using var scope = Log.ItemScope(_logger, item.Id, item.Kind);
        try
        {
            for (var i = 0; i < _handlers.Length; i++)
            {
                await _handlers[i].HandleAsync(work[i], stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down mid-item: give it back now so another instance need not wait for the lease to expire.
            await ReleaseQuietlyAsync(item);
            throw;
        }
        catch (Exception ex)
        {
            await RecordFailureAsync(item, ex, stoppingToken);
            return;
        }

        try
        {
            if (await _store.MarkHandledAsync(item.Id, Owner, _time.GetUtcNow(), stoppingToken))
            {
                _metrics.CallbackHandled();
            }
            else
            {
                Log.LeaseLost(_logger, item.Id);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // The lease expires and the callback is handled again, which idempotent handlers allow.
            Log.MarkFailed(_logger, item.Id, ex);
        }
    }

    private async Task RecordFailureAsync(StoredCallback item, Exception error, CancellationToken stoppingToken)
    {
        var attempts = item.Attempts + 1;
        var park = attempts >= _options.MaxAttempts;
        var nextAttemptAt = _time.GetUtcNow() + RetryDelay(attempts, _options.RetryBaseDelay, _options.MaxRetryDelay, _random());
        try
        {
            if (!await _store.RecordFailureAsync(item.Id, Owner, attempts, park, nextAttemptAt, $"{error.GetType().Name}: {error.Message}", stoppingToken))
            {
                Log.LeaseLost(_logger, item.Id);
                return;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            Log.MarkFailed(_logger, item.Id, ex);
            return;
        }
        _metrics.CallbackFailed(park);
        if (park)
        {
            Log.Parked(_logger, item.Id, attempts, error);
        }
        else
        {
            Log.WillRetry(_logger, item.Id, attempts, nextAttemptAt, error);
        }
    }

    private async Task ReleaseQuietlyAsync(StoredCallback item)
    {
        try
        {
            await _store.ReleaseAsync(item.Id, Owner, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The lease then simply runs out.
            Log.MarkFailed(_logger, item.Id, ex);
        }
    }

    private static partial class Log
    {
        private static readonly Func<ILogger, long, string, IDisposable?> Scope =
            LoggerMessage.DefineScope<long, string>("Inbox item {InboxId} ({Kind})");

        public static IDisposable? ItemScope(ILogger logger, long id, string kind) => Scope(logger, id, kind);

        [LoggerMessage(1, LogLevel.Warning, "No inbox handler is registered: stored callbacks are marked handled without processing")]
        public static partial void NoHandlers(ILogger logger);

        [LoggerMessage(2, LogLevel.Error, "Could not claim due inbox items; retrying on the next poll")]
        public static partial void ClaimFailed(ILogger logger, Exception exception);

        [LoggerMessage(3, LogLevel.Warning, "Inbox item {InboxId} failed (attempt {Attempts}); next attempt at {NextAttemptAt:O}")]
        public static partial void WillRetry(ILogger logger, long inboxId, int attempts, DateTimeOffset nextAttemptAt, Exception exception);

        [LoggerMessage(4, LogLevel.Error, "Inbox item {InboxId} failed {Attempts} times and is parked until replayed")]
        public static partial void Parked(ILogger logger, long inboxId, int attempts, Exception exception);

        [LoggerMessage(5, LogLevel.Warning, "The lease on inbox item {InboxId} expired before it was recorded; another worker owns it now")]
        public static partial void LeaseLost(ILogger logger, long inboxId);

        [LoggerMessage(6, LogLevel.Warning, "Could not record the outcome of inbox item {InboxId}; it runs again when its lease expires")]
        public static partial void MarkFailed(ILogger logger, long inboxId, Exception exception);

        [LoggerMessage(7, LogLevel.Warning, "The inbox lease ran out mid-batch; {Count} claimed items are left to the next claim")]
        public static partial void LeaseRanOut(ILogger logger, int count);

        [LoggerMessage(8, LogLevel.Information, "Took back {Count} inbox leases held by {Owner}, an earlier process of this instance")]
        public static partial void TookBackLeases(ILogger logger, int count, string owner);

        [LoggerMessage(9, LogLevel.Warning, "Could not look for leases of an earlier process of this instance; they run out instead")]
        public static partial void TakeBackFailed(ILogger logger, Exception exception);
    }
}
