using System.Collections.Concurrent;
using Bot.Core.Contacts;
using Bot.Core.Observability;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

/// <summary>
/// Claims due outbox items (lowest lane first) under a lease, passes each through the quota limiter and the
/// <see cref="IOutboxSender"/>, and records the outcome. Any number of instances may run against one database:
/// claims are atomic and every write after a claim is fenced on its claim token.
/// </summary>
public sealed partial class OutboxDispatcher : BackgroundService
{
    private readonly OutboxStore _store;
    private readonly OutboxSignal _signal;
    private readonly IOutboxSender _sender;
    private readonly OutboxOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<OutboxDispatcher> _logger;
    private readonly BotMetrics? _metrics;
    private readonly OutboxAdmission _admission;
    private readonly OutboxOutcomes _outcomes;
    private readonly OutboxRecipients _recipients;
    private readonly ConcurrentDictionary<long, Task> _running = new();
    private long _taskSequence;
    private int _inFlight;
    private DateTimeOffset _nextRecoveryAt;

    private static readonly TimeSpan RecoveryInterval = TimeSpan.FromSeconds(1);

    internal OutboxDispatcher(
        OutboxStore store,
        OutboxSignal signal,
        IOutboxSender sender,
        IQuotaLimiter limiter,
        QuotaCatalog catalog,
        IOptions<OutboxOptions> options,
        TimeProvider time,
        ILogger<OutboxDispatcher> logger,
        BotMetrics? metrics = null,
        ContactPreferenceStore? preferences = null,
        ContactBudget? budget = null)
    {
        _store = store;
        _signal = signal;
        _sender = sender;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        // Both log as the dispatcher: operators know the outbox's messages by that one category.
        _outcomes = new OutboxOutcomes(store, limiter, _options, time, logger, metrics);
        _admission = new OutboxAdmission(limiter, catalog, _outcomes, _options, time, logger, metrics, preferences, budget);
        _recipients = new OutboxRecipients(store.Database, store, limiter, catalog, _options, _outcomes, time, logger, metrics, preferences, budget);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Taken before looking for work, so a pulse that lands while we look is not lost.
                var wake = _signal.Next;
                TimeSpan? sleep;
                try
                {
                    sleep = await DispatchDueAsync(stoppingToken);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    Log.DispatchFailed(_logger, ex);
                    sleep = _options.RetryBaseDelay;
                }
                if (sleep != TimeSpan.Zero)
                {
                    await OutboxSignal.WaitAsync(wake, sleep, _time, stoppingToken);
                }
            }
        }
        finally
        {
            // Sends already handed to WeCom are not cancelled: each finishes and records its outcome, so a normal
            // shutdown leaves no item to be declared unknown. The host's shutdown timeout bounds this wait.
            await Task.WhenAll(_running.Values);
        }
    }

    /// <summary>Claims and starts what fits in the free send slots; returns how long to sleep (null: until woken).</summary>
    private async Task<TimeSpan?> DispatchDueAsync(CancellationToken ct)
    {
        var free = _options.DispatcherConcurrency - Volatile.Read(ref _inFlight);
        if (free <= 0)
        {
            return null;
        }
        var now = _time.GetUtcNow();
        // Leases last tens of seconds, so looking for expired ones once a second is prompt enough; doing it every round
        // (after every send) would add two write statements per item and contend with the inbox for the writer lock.
        if (now >= _nextRecoveryAt)
        {
            _nextRecoveryAt = now + RecoveryInterval;
            foreach (var unknown in await _store.RecoverExpiredLeasesAsync(now, _options.MaxAttempts, ct))
            {
                Log.LeaseExpiredOutcomeUnknown(_logger, unknown.Id, unknown.Kind, unknown.Target);
                _metrics?.OutboxFinal(unknown.Kind, OutboxStore.ToText(OutboxState.Unknown));
            }
        }
        var want = Math.Min(free, _options.ClaimBatchSize);
        // Not cancellable: a claim cut off after its commit would strand items as 'sending' until their lease expired.
        var claimed = await _store.ClaimAsync(want, now, now + _options.LeaseDuration, CancellationToken.None);
        foreach (var item in claimed)
        {
            Start(item, ct);
        }
        if (claimed.Count == want)
        {
            return TimeSpan.Zero;
        }
        var next = await _store.NextWakeAsync(ct);
        if (next is null)
        {
            return null;
        }
        var wait = next.Value - _time.GetUtcNow();
        // An item due now that we did not get belongs to another dispatcher; look again shortly rather than spin.
        return wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(claimed.Count == 0 ? 50 : 0);
    }

    private void Start(OutboxItem item, CancellationToken ct)
    {
        Interlocked.Increment(ref _inFlight);
        var key = Interlocked.Increment(ref _taskSequence);
        _running[key] = RunAsync(key, item, ct);
    }

    private async Task RunAsync(long key, OutboxItem item, CancellationToken ct)
    {
        // Yield so the claim loop starts the whole batch before any send runs on its thread.
        await Task.Yield();
        try
        {
            await ProcessAsync(item, ct);
        }
        catch (Exception ex)
        {
            // The item stays 'sending' and its lease expiry applies the recovery rules.
            Log.ProcessFailed(_logger, ex, item.Id, item.Kind);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _running.TryRemove(key, out _);
            _signal.Pulse();
        }
    }

    private async Task ProcessAsync(OutboxItem item, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (await _admission.BeforeCallAsync(item, now, ct) is not { } limits)
        {
            return;
        }

        // Durable before the call, so that after a crash lease recovery can tell "may have reached WeCom" from "never
        // started". Written before the limiter decides, not between the decision and the call: a write there would
        // delay calls past the instant the limiter counted them at, and WeCom would see more in a window than allowed.
        // Without the mark (claim lost, or the write failed) nothing is called; every exit before the call puts the
        // claim's own mark back (item.CallStartedAt), since this one then started nothing.
        var callStartedAt = item.CallStartedAt ?? _time.GetUtcNow();
        bool marked;
        try
        {
            marked = await _store.MarkCallStartedAsync(item, callStartedAt);
        }
        catch (Exception ex)
        {
            Log.CallMarkFailed(_logger, ex, item.Id);
            await _outcomes.ReleaseAsync(item, now + _options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return;
        }
        if (!marked)
        {
            Log.ClaimLost(_logger, item.Id, "call started");
            return;
        }

        // A task for many recipients admits each on its own and goes with those that may receive now. That takes its
        // database write, so it comes before the call's own counters are decided, for the reason above (not cancellable:
        // the call is marked as starting, and an admission cut off would leave the item to be called unknown).
        RecipientBatch? batch = null;
        if (OutboxKinds.Find(item.Kind) is { CarriesRecipients: true } kind && kind.Read(item) is BroadcastMessage task)
        {
            if (await _recipients.AdmitAsync(item, task, CancellationToken.None) is not { } admitted)
            {
                return;
            }
            (batch, item) = (admitted, admitted.Item);
        }

        if (await _admission.AcquireAsync(item, limits, now, ct) is not { } decision)
        {
            // Nothing was called: the recipients' allowances go back with the item.
            if (batch is not null)
            {
                await _recipients.GiveBackAsync(batch);
            }
            return;
        }

        // From here the call may reach WeCom, so it runs to completion and is recorded even during shutdown.
        OutboxSendOutcome outcome;
        DateTimeOffset? inDoubt;
        try
        {
            outcome = await _sender.SendAsync(item, CancellationToken.None);
            // An answer settles this call; only an unknown outcome leaves it in doubt.
            inDoubt = outcome is OutboxSendOutcome.OutcomeUnknown ? callStartedAt : item.CallStartedAt;
        }
        catch (Exception ex)
        {
            Log.SenderThrew(_logger, ex, item.Id, item.Kind);
            outcome = item.IsIdempotent
                ? new OutboxSendOutcome.RetryLater(TimeSpan.Zero, null, $"sender threw {ex.GetType().Name}")
                : new OutboxSendOutcome.OutcomeUnknown($"sender threw {ex.GetType().Name}");
            inDoubt = callStartedAt;
        }
        await _outcomes.RecordAsync(item, limits, decision.TakenAt, outcome, inDoubt);
        if (batch is not null)
        {
            await _recipients.RecordOutcomeAsync(batch, outcome);
        }
    }

    /// <summary>The recorded reason (before the counter's key) of an item dropped by a contact budget whose kind drops.</summary>
    public const string OverContactBudget = "over contact budget";

    /// <summary>The recorded reason of an item not sent because its customer sent the opt-out keyword.</summary>
    public const string CustomerOptedOut = "customer opted out";

    /// <summary>The reason recorded for an item that ends with a call in doubt.</summary>
    public const string CallInDoubt = "in doubt: a call may have reached WeCom without its answer being recorded";

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Outbox dispatch round failed; retrying")]
        public static partial void DispatchFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Outbox item {Id} ({Kind}) could not be processed; its lease expiry will recover it")]
        public static partial void ProcessFailed(ILogger logger, Exception exception, long id, string kind);

        [LoggerMessage(3, LogLevel.Warning, "Outbox item {Id} ({Kind} to {Target}) was being sent when its dispatcher vanished; outcome unknown, not resent")]
        public static partial void LeaseExpiredOutcomeUnknown(ILogger logger, long id, string kind, string target);

        [LoggerMessage(6, LogLevel.Error, "Outbox sender threw for item {Id} ({Kind})")]
        public static partial void SenderThrew(ILogger logger, Exception exception, long id, string kind);

        [LoggerMessage(12, LogLevel.Warning, "Outbox item {Id}: claim lost before recording '{State}' (its lease expired and another dispatcher took it)")]
        public static partial void ClaimLost(ILogger logger, long id, string state);

        [LoggerMessage(19, LogLevel.Warning, "Could not record that outbox item {Id}'s call starts; it was not sent and goes back in line")]
        public static partial void CallMarkFailed(ILogger logger, Exception exception, long id);
    }
}
