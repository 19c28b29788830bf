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
    private readonly IQuotaLimiter _limiter;
    private readonly QuotaCatalog _catalog;
    private readonly OutboxOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<OutboxDispatcher> _logger;
    private readonly BotMetrics? _metrics;
    private readonly ContactPreferenceStore? _preferences;
    private readonly ContactBudget? _budget;
    private readonly ConcurrentDictionary<long, Task> _running = new();
    private readonly QuotaWaitSlots _waitSlots = new();
    private long _taskSequence;
    private int _inFlight;
    private long _limiterUnavailableUntilMs;
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
        _metrics = metrics;
        _preferences = preferences;
        _budget = budget;
        _store = store;
        _signal = signal;
        _sender = sender;
        _limiter = limiter;
        _catalog = catalog;
        _options = options.Value;
        _time = time;
        _logger = logger;
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
        if (IsPast(item.Deadline, now))
        {
            await ExpireAsync(item, now, "deadline passed before sending", item.CallStartedAt);
            return;
        }
        bool optedOut;
        try
        {
            optedOut = await IsOptedOutAsync(item, ct);
        }
        catch (Exception ex)
        {
            // Nothing was sent: the item goes back rather than being left 'sending' for lease expiry to call unknown.
            if (!ct.IsCancellationRequested)
            {
                Log.PreferenceLookupFailed(_logger, ex, item.Id);
            }
            await ReleaseAsync(item, ct.IsCancellationRequested ? now : now + _options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return;
        }
        if (optedOut)
        {
            Log.OptedOut(_logger, item.Id, item.Kind);
            await CompleteAsync(item, OutboxState.Failed, now, item.Attempts, item.CallStartedAt, error: CustomerOptedOut);
            return;
        }
        var limits = LimitsFor(item);
        if (ct.IsCancellationRequested)
        {
            await ReleaseAsync(item, now, item.Attempts, null, null, item.CallStartedAt);
            return;
        }
        var unavailableUntil = DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _limiterUnavailableUntilMs));
        if (unavailableUntil > now)
        {
            await ReleaseAsync(item, unavailableUntil, item.Attempts, null, null, item.CallStartedAt);
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
            await ReleaseAsync(item, now + _options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return;
        }
        if (!marked)
        {
            Log.ClaimLost(_logger, item.Id, "call started");
            return;
        }

        QuotaDecision decision;
        try
        {
            decision = await _limiter.TryAcquireAsync(limits, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await ReleaseAsync(item, now, item.Attempts, null, null, item.CallStartedAt);
            return;
        }
        catch (Exception ex)
        {
            // Nothing was sent yet, so a limiter fault must not leave the item to the lease-expiry rules.
            Log.LimiterFaulted(_logger, ex, item.Id);
            decision = new QuotaDecision(QuotaDecisionKind.Unavailable, _options.UnavailableRetryDelay);
        }
        switch (decision.Kind)
        {
            case QuotaDecisionKind.Wait when decision.BlockedBy is { } budgetKey && ContactBudget.IsBudgetRule(budgetKey.Rule)
                && _budget?.PolicyFor(item.Kind) == OverBudget.Drop:
                _metrics?.QuotaWait(budgetKey.Rule);
                Log.OverBudgetDropped(_logger, item.Id, item.Kind, budgetKey.ToString());
                await CompleteAsync(item, OutboxState.Failed, now, item.Attempts, item.CallStartedAt, error: $"{OverContactBudget} ({budgetKey})");
                return;
            case QuotaDecisionKind.Wait:
                // Waiting for quota is not an attempt: the item goes back with its due time moved.
                _metrics?.QuotaWait(decision.BlockedBy?.Rule ?? "unknown");
                var at = _time.GetUtcNow() + decision.RetryAfter;
                if (IsPast(item.Deadline, at))
                {
                    await ExpireAsync(item, _time.GetUtcNow(), $"quota {decision.BlockedBy} frees only after the deadline", item.CallStartedAt);
                }
                else
                {
                    // An item with a deadline retries as soon as a unit frees: a slot is a guess and must not expire it.
                    await ReleaseAsync(item, item.Deadline is null ? _waitSlots.Next(decision, limits, at) : at, item.Attempts, null, null, item.CallStartedAt);
                }
                return;
            case QuotaDecisionKind.Unavailable:
                // Fail closed: without the shared counters nothing quota-limited is sent; items wait, none is lost.
                var pause = decision.RetryAfter > _options.UnavailableRetryDelay ? decision.RetryAfter : _options.UnavailableRetryDelay;
                var until = _time.GetUtcNow() + pause;
                if (Interlocked.Exchange(ref _limiterUnavailableUntilMs, until.ToUnixTimeMilliseconds()) <= now.ToUnixTimeMilliseconds())
                {
                    Log.LimiterUnavailable(_logger, pause);
                }
                await ReleaseAsync(item, until, item.Attempts, null, null, item.CallStartedAt);
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
        await RecordAsync(item, limits, decision.TakenAt, outcome, inDoubt);
    }

    /// <summary>The recorded reason (before the counter's key) of an item dropped by a contact budget whose kind drops.</summary>
    public const string OverContactBudget = "over contact budget";

    /// <summary>The item's API quotas and, for a budgeted kind, its contact budget: one all-or-nothing decision.</summary>
    private IReadOnlyList<QuotaLimit> LimitsFor(OutboxItem item)
    {
        var limits = _catalog.LimitsFor(item.QuotaSubject);
        return _budget?.AddTo(limits, item.Kind, item.Target, item.ExternalUserId, item.QuotaSubject) ?? limits;
    }

    /// <summary>The recorded reason of an item not sent because its customer sent the opt-out keyword.</summary>
    public const string CustomerOptedOut = "customer opted out";

    // The one place opt-out is enforced, before the limiter so a refused item spends no quota. Every kind addressed
    // to the customer honours it, the welcome on a later re-add included: 退订 means no bot message at all; only the
    // confirmation of 退订/订阅 goes, since it answers the customer's own request and tells them how to resume.
    private async Task<bool> IsOptedOutAsync(OutboxItem item, CancellationToken ct) =>
        _preferences is not null
        && item.ExternalUserId is { } customer
        && item.Kind is not OutboxKinds.PreferenceReply
        && await _preferences.IsOptedOutAsync(customer, ct);

    /// <summary>
    /// Records <paramref name="outcome"/>. <paramref name="inDoubt"/> is the call that may have been applied without an
    /// answer (this one, or an earlier attempt's), if any: it turns an expiry or a give-up into unknown.
    /// </summary>
    private async Task RecordAsync(
        OutboxItem item, IReadOnlyList<QuotaLimit> limits, DateTimeOffset? takenAt, OutboxSendOutcome outcome, DateTimeOffset? inDoubt)
    {
        // Before the item is released: a retry claimed right after must find its allowances back.
        if (outcome.NotApplied)
        {
            await RefundAllowancesAsync(item, limits, takenAt);
        }
        var now = _time.GetUtcNow();
        var attempts = item.Attempts + 1;
        switch (outcome)
        {
            case OutboxSendOutcome.Sent sent:
                await CompleteAsync(item, OutboxState.Sent, now, attempts, inDoubt, remoteIds: sent.RemoteIds);
                break;
            case OutboxSendOutcome.Failed failed:
                Log.SendFailed(_logger, item.Id, item.Kind, failed.Errcode);
                await CompleteAsync(item, OutboxState.Failed, now, attempts, inDoubt, failed.Errcode, failed.Message);
                break;
            case OutboxSendOutcome.RetryLater retry when attempts >= _options.MaxAttempts:
                var gaveUp = $"gave up after {attempts} attempts: {retry.Reason}";
                Log.GaveUp(_logger, item.Id, item.Kind, attempts, retry.Errcode);
                await (inDoubt is null
                    ? CompleteAsync(item, OutboxState.Failed, now, attempts, null, retry.Errcode, gaveUp)
                    : InDoubtAsync(item, now, gaveUp, inDoubt, attempts, retry.Errcode));
                break;
            case OutboxSendOutcome.RetryLater retry:
                var backoff = _options.RetryBaseDelay * Math.Pow(2, attempts - 1);
                var retryAt = now + (retry.After > backoff ? retry.After : backoff);
                if (IsPast(item.Deadline, retryAt))
                {
                    await ExpireAsync(item, now, $"retry after {retry.Reason} would pass the deadline", inDoubt, attempts, retry.Errcode);
                }
                else
                {
                    await ReleaseAsync(item, retryAt, attempts, retry.Errcode, retry.Reason, inDoubt);
                }
                break;
            case OutboxSendOutcome.RateLimited limited:
                await PauseAsync(item, limits, limited);
                var resumeAt = now + limited.Pause;
                if (IsPast(item.Deadline, resumeAt))
                {
                    await ExpireAsync(item, now, $"rate limited ({limited.Errcode}) past the deadline", inDoubt, attempts, limited.Errcode);
                }
                else
                {
                    // WeCom refused the call before applying it, so this does not count as an attempt.
                    await ReleaseAsync(item, resumeAt, item.Attempts, limited.Errcode, $"rate limited ({limited.Errcode})", inDoubt);
                }
                break;
            case OutboxSendOutcome.OutcomeUnknown unknown:
                Log.OutcomeUnknown(_logger, item.Id, item.Kind, item.Target, unknown.Reason);
                await CompleteAsync(item, OutboxState.Unknown, now, attempts, inDoubt, error: unknown.Reason);
                break;
            default:
                throw new InvalidOperationException($"Unhandled outbox outcome {outcome.GetType().Name}");
        }
    }

    /// <summary>
    /// Gives back what a call WeCom did not apply spent of the recipient's allowances: the calendar counters (receiving
    /// rule, sender cap, contact budget), or the recipient would be held to the next day, week or month having received
    /// nothing. The sliding counters keep their unit: they pace calls, WeCom saw this one, and they free within their
    /// window anyway (a 45009 pauses them besides).
    /// </summary>
    private async Task RefundAllowancesAsync(OutboxItem item, IReadOnlyList<QuotaLimit> limits, DateTimeOffset? takenAt)
    {
        var allowances = limits.Where(l => l.Calendar != QuotaCalendar.None).ToList();
        if (takenAt is null || allowances.Count == 0)
        {
            return;
        }
        try
        {
            await _limiter.RefundAsync(allowances, takenAt.Value, CancellationToken.None);
            Log.AllowancesRefunded(_logger, item.Id, item.Kind, allowances.Count);
        }
        catch (Exception ex)
        {
            // The allowances stay spent: the recipient waits for the next period, which sends less, never more.
            Log.RefundFailed(_logger, ex, item.Id);
        }
    }

    private async Task PauseAsync(OutboxItem item, IReadOnlyList<QuotaLimit> limits, OutboxSendOutcome.RateLimited limited)
    {
        // WeCom's refusal is about its quotas, never about our own contact budget, so that is not paused.
        IEnumerable<QuotaKey> keys = limited.Key is { } key ? [key] : limits.Select(l => l.Key).Where(k => !ContactBudget.IsBudgetRule(k.Rule));
        foreach (var k in keys)
        {
            try
            {
                await _limiter.PauseAsync(k, limited.Pause, CancellationToken.None);
                Log.QuotaPaused(_logger, k.ToString(), limited.Pause, limited.Errcode, item.Id);
            }
            catch (Exception ex)
            {
                // The item is still rescheduled past the pause; other instances may hit WeCom's limit once more.
                Log.PauseFailed(_logger, ex, k.ToString());
            }
        }
    }

    private static bool IsPast(DateTimeOffset? deadline, DateTimeOffset at) => deadline is { } d && at > d;

    /// <summary>
    /// Expires an item, unless a call of it may have reached WeCom without an answer (<paramref name="inDoubt"/>): then
    /// it may have been applied and is unknown, never "expired before sending".
    /// </summary>
    private Task ExpireAsync(OutboxItem item, DateTimeOffset now, string reason, DateTimeOffset? inDoubt, int? attempts = null, int? errcode = null)
    {
        if (inDoubt is not null)
        {
            return InDoubtAsync(item, now, reason, inDoubt, attempts ?? item.Attempts, errcode);
        }
        Log.Expired(_logger, item.Id, item.Kind, reason);
        return CompleteAsync(item, OutboxState.Expired, now, attempts ?? item.Attempts, null, errcode, reason);
    }

    /// <summary>The reason recorded for an item that ends with a call in doubt.</summary>
    public const string CallInDoubt = "in doubt: a call may have reached WeCom without its answer being recorded";

    private Task InDoubtAsync(OutboxItem item, DateTimeOffset now, string reason, DateTimeOffset? inDoubt, int attempts, int? errcode)
    {
        var error = $"{CallInDoubt} ({reason})";
        Log.OutcomeUnknown(_logger, item.Id, item.Kind, item.Target, error);
        return CompleteAsync(item, OutboxState.Unknown, now, attempts, inDoubt, errcode, error);
    }

    // Writes after a claim are not cancellable: an item left 'sending' would be treated as possibly sent.
    // callStartedAt: the call still in doubt (see OutboxItem.CallStartedAt), recorded with the final state.
    private async Task CompleteAsync(
        OutboxItem item, OutboxState state, DateTimeOffset now, int attempts, DateTimeOffset? callStartedAt,
        int? errcode = null, string? error = null, string? remoteIds = null)
    {
        if (!await _store.CompleteAsync(item, state, now, attempts, callStartedAt, errcode, error, remoteIds))
        {
            Log.ClaimLost(_logger, item.Id, OutboxStore.ToText(state));
        }
    }

    private async Task ReleaseAsync(OutboxItem item, DateTimeOffset at, int attempts, int? errcode, string? error, DateTimeOffset? callStartedAt)
    {
        if (!await _store.ReleaseAsync(item, at, attempts, errcode, error, callStartedAt))
        {
            Log.ClaimLost(_logger, item.Id, "pending");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Outbox dispatch round failed; retrying")]
        public static partial void DispatchFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Outbox item {Id} ({Kind}) could not be processed; its lease expiry will recover it")]
        public static partial void ProcessFailed(ILogger logger, Exception exception, long id, string kind);

        [LoggerMessage(3, LogLevel.Warning, "Outbox item {Id} ({Kind} to {Target}) was being sent when its dispatcher vanished; outcome unknown, not resent")]
        public static partial void LeaseExpiredOutcomeUnknown(ILogger logger, long id, string kind, string target);

        [LoggerMessage(4, LogLevel.Warning, "Outbox item {Id} ({Kind} to {Target}) has an unknown outcome and will not be resent: {Reason}")]
        public static partial void OutcomeUnknown(ILogger logger, long id, string kind, string target, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Quota limiter unavailable; quota-limited sends pause for {Pause}")]
        public static partial void LimiterUnavailable(ILogger logger, TimeSpan pause);

        [LoggerMessage(6, LogLevel.Error, "Outbox sender threw for item {Id} ({Kind})")]
        public static partial void SenderThrew(ILogger logger, Exception exception, long id, string kind);

        [LoggerMessage(7, LogLevel.Information, "Outbox item {Id} ({Kind}) failed with errcode {Errcode}")]
        public static partial void SendFailed(ILogger logger, long id, string kind, int errcode);

        [LoggerMessage(8, LogLevel.Warning, "Outbox item {Id} ({Kind}) failed after {Attempts} attempts (last errcode {Errcode})")]
        public static partial void GaveUp(ILogger logger, long id, string kind, int attempts, int? errcode);

        [LoggerMessage(9, LogLevel.Information, "Outbox item {Id} ({Kind}) expired: {Reason}")]
        public static partial void Expired(ILogger logger, long id, string kind, string reason);

        [LoggerMessage(10, LogLevel.Warning, "Quota {Key} paused for {Pause} after errcode {Errcode} on outbox item {Id}")]
        public static partial void QuotaPaused(ILogger logger, string key, TimeSpan pause, int errcode, long id);

        [LoggerMessage(11, LogLevel.Error, "Could not pause quota {Key}")]
        public static partial void PauseFailed(ILogger logger, Exception exception, string key);

        [LoggerMessage(12, LogLevel.Warning, "Outbox item {Id}: claim lost before recording '{State}' (its lease expired and another dispatcher took it)")]
        public static partial void ClaimLost(ILogger logger, long id, string state);

        [LoggerMessage(13, LogLevel.Error, "Quota limiter threw for outbox item {Id}; treating it as unavailable")]
        public static partial void LimiterFaulted(ILogger logger, Exception exception, long id);

        [LoggerMessage(14, LogLevel.Information, "Outbox item {Id} ({Kind}) not sent: the customer opted out")]
        public static partial void OptedOut(ILogger logger, long id, string kind);

        [LoggerMessage(16, LogLevel.Warning, "Could not read the opt-out of outbox item {Id}'s customer; it goes back in line")]
        public static partial void PreferenceLookupFailed(ILogger logger, Exception exception, long id);

        [LoggerMessage(15, LogLevel.Information, "Outbox item {Id} ({Kind}) dropped: contact budget {Key} is spent for this week")]
        public static partial void OverBudgetDropped(ILogger logger, long id, string kind, string key);

        [LoggerMessage(17, LogLevel.Information, "Outbox item {Id} ({Kind}) was not applied by WeCom; {Count} allowances it reserved are given back")]
        public static partial void AllowancesRefunded(ILogger logger, long id, string kind, int count);

        [LoggerMessage(18, LogLevel.Error, "Could not give back the allowances of outbox item {Id}; they stay spent for their period")]
        public static partial void RefundFailed(ILogger logger, Exception exception, long id);

        [LoggerMessage(19, LogLevel.Warning, "Could not record that outbox item {Id}'s call starts; it was not sent and goes back in line")]
        public static partial void CallMarkFailed(ILogger logger, Exception exception, long id);
    }
}
