using Bot.Core.Contacts;
using Bot.Core.Observability;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Outbox;

/// <summary>
/// Decides whether a claimed item may be sent now: its deadline, its customer's opt-out, and its quotas and contact
/// budget in one all-or-nothing limiter decision. An item that may not go is put where it belongs (expired, failed,
/// back in line) through <see cref="OutboxOutcomes"/>, and the caller is told there is nothing to send.
/// </summary>
internal sealed partial class OutboxAdmission(
    IQuotaLimiter limiter,
    QuotaCatalog catalog,
    OutboxOutcomes outcomes,
    OutboxOptions options,
    TimeProvider time,
    ILogger logger,
    BotMetrics? metrics,
    ContactPreferenceStore? preferences,
    ContactBudget? budget)
{
    private readonly QuotaWaitSlots _waitSlots = new();
    private long _limiterUnavailableUntilMs;

    /// <summary>
    /// The checks before the item's call is marked as starting; its counters when it may go on, null when it was
    /// settled or put back.
    /// </summary>
    public async Task<IReadOnlyList<QuotaLimit>?> BeforeCallAsync(OutboxItem item, DateTimeOffset now, CancellationToken ct)
    {
        if (OutboxOutcomes.IsPast(item.Deadline, now))
        {
            await outcomes.ExpireAsync(item, now, "deadline passed before sending", item.CallStartedAt);
            return null;
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
                Log.PreferenceLookupFailed(logger, ex, item.Id);
            }
            await outcomes.ReleaseAsync(item, ct.IsCancellationRequested ? now : now + options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        if (optedOut)
        {
            Log.OptedOut(logger, item.Id, item.Kind);
            await outcomes.CompleteAsync(item, OutboxState.Failed, now, item.Attempts, item.CallStartedAt, error: OutboxDispatcher.CustomerOptedOut);
            return null;
        }
        var limits = LimitsFor(item);
        if (ct.IsCancellationRequested)
        {
            await outcomes.ReleaseAsync(item, now, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        var unavailableUntil = DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _limiterUnavailableUntilMs));
        if (unavailableUntil > now)
        {
            await outcomes.ReleaseAsync(item, unavailableUntil, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        return limits;
    }

    /// <summary>The limiter's decision when it allows the call; null when the item waits, was dropped or expired.</summary>
    public async Task<QuotaDecision?> AcquireAsync(OutboxItem item, IReadOnlyList<QuotaLimit> limits, DateTimeOffset now, CancellationToken ct)
    {
        QuotaDecision decision;
        try
        {
            decision = await limiter.TryAcquireAsync(limits, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await outcomes.ReleaseAsync(item, now, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        catch (Exception ex)
        {
            // Nothing was sent yet, so a limiter fault must not leave the item to the lease-expiry rules.
            Log.LimiterFaulted(logger, ex, item.Id);
            decision = new QuotaDecision(QuotaDecisionKind.Unavailable, options.UnavailableRetryDelay);
        }
        switch (decision.Kind)
        {
            case QuotaDecisionKind.Wait when decision.BlockedBy is { } budgetKey && ContactBudget.IsBudgetRule(budgetKey.Rule)
                && budget?.PolicyFor(item.Kind) == OverBudget.Drop:
                metrics?.QuotaWait(budgetKey.Rule);
                Log.OverBudgetDropped(logger, item.Id, item.Kind, budgetKey.ToString());
                await outcomes.CompleteAsync(item, OutboxState.Failed, now, item.Attempts, item.CallStartedAt,
                    error: $"{OutboxDispatcher.OverContactBudget} ({budgetKey})");
                return null;
            case QuotaDecisionKind.Wait:
                // Waiting for quota is not an attempt: the item goes back with its due time moved.
                metrics?.QuotaWait(decision.BlockedBy?.Rule ?? "unknown");
                var at = time.GetUtcNow() + decision.RetryAfter;
                if (OutboxOutcomes.IsPast(item.Deadline, at))
                {
                    await outcomes.ExpireAsync(item, time.GetUtcNow(), $"quota {decision.BlockedBy} frees only after the deadline", item.CallStartedAt);
                }
                else
                {
                    // An item with a deadline retries as soon as a unit frees: a slot is a guess and must not expire it.
                    await outcomes.ReleaseAsync(item, item.Deadline is null ? _waitSlots.Next(decision, limits, at) : at, item.Attempts, null, null, item.CallStartedAt);
                }
                return null;
            case QuotaDecisionKind.Unavailable:
                // Fail closed: without the shared counters nothing quota-limited is sent; items wait, none is lost.
                var pause = decision.RetryAfter > options.UnavailableRetryDelay ? decision.RetryAfter : options.UnavailableRetryDelay;
                var until = time.GetUtcNow() + pause;
                if (Interlocked.Exchange(ref _limiterUnavailableUntilMs, until.ToUnixTimeMilliseconds()) <= now.ToUnixTimeMilliseconds())
                {
                    Log.LimiterUnavailable(logger, pause);
                }
                await outcomes.ReleaseAsync(item, until, item.Attempts, null, null, item.CallStartedAt);
                return null;
        }
        return decision;
    }

    /// <summary>The item's API quotas and, for a budgeted kind, its contact budget: one all-or-nothing decision.</summary>
    private IReadOnlyList<QuotaLimit> LimitsFor(OutboxItem item)
    {
        if (OutboxKinds.Find(item.Kind) is { CarriesRecipients: true })
        {
            // The call's own counters only: each recipient's allowances and budget are taken apiece (OutboxRecipients).
            // Rows stored before tasks carried many recipients name theirs in the subject, hence the API alone here.
            return catalog.LimitsFor(new QuotaSubject(item.QuotaSubject.Api, Sender: item.QuotaSubject.Sender));
        }
        var limits = catalog.LimitsFor(item.QuotaSubject);
        return budget?.AddTo(limits, item.Kind, item.Target, OutboxKinds.TargetsGroup(item.Kind), item.ExternalUserId, item.QuotaSubject) ?? limits;
    }

    // The one place opt-out is enforced, before the limiter so a refused item spends no quota. Every kind addressed
    // to the customer honours it, the welcome on a later re-add included: 退订 means no bot message at all; only the
    // confirmation of 退订/订阅 goes, since it answers the customer's own request and tells them how to resume.
    private async Task<bool> IsOptedOutAsync(OutboxItem item, CancellationToken ct) =>
        preferences is not null
        && item.ExternalUserId is { } customer
        && (OutboxKinds.Find(item.Kind)?.HonoursOptOut ?? true)
        && await preferences.IsOptedOutAsync(customer, ct);

    private static partial class Log
    {
        [LoggerMessage(5, LogLevel.Warning, "Quota limiter unavailable; quota-limited sends pause for {Pause}")]
        public static partial void LimiterUnavailable(ILogger logger, TimeSpan pause);

        [LoggerMessage(13, LogLevel.Error, "Quota limiter threw for outbox item {Id}; treating it as unavailable")]
        public static partial void LimiterFaulted(ILogger logger, Exception exception, long id);

        [LoggerMessage(14, LogLevel.Information, "Outbox item {Id} ({Kind}) not sent: the customer opted out")]
        public static partial void OptedOut(ILogger logger, long id, string kind);

        [LoggerMessage(15, LogLevel.Information, "Outbox item {Id} ({Kind}) dropped: contact budget {Key} is spent for this week")]
        public static partial void OverBudgetDropped(ILogger logger, long id, string kind, string key);

        [LoggerMessage(16, LogLevel.Warning, "Could not read the opt-out of outbox item {Id}'s customer; it goes back in line")]
        public static partial void PreferenceLookupFailed(ILogger logger, Exception exception, long id);
    }
}
