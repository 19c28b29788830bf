using Bot.Core.Observability;
using Bot.Core.Contacts;
using Bot.Core.RateLimiting;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Outbox;

/// <summary>
/// Writes where a claimed item goes next: what a send's outcome means for it (sent, failed, retried, paused, unknown),
/// and the expiries and releases the dispatcher decides before sending. Every write is fenced on the item's claim.
/// </summary>
internal sealed partial class OutboxOutcomes(
    OutboxStore store, IQuotaLimiter limiter, OutboxOptions options, TimeProvider time, ILogger logger, BotMetrics? metrics = null)
{
    private readonly FrequencyPenalty _penalty = new(limiter);

    /// <summary>
    /// Records <paramref name="outcome"/>. <paramref name="inDoubt"/> is the call that may have been applied without an
    /// answer (this one, or an earlier attempt's), if any: it turns an expiry or a give-up into unknown.
    /// </summary>
    public async Task RecordAsync(
        OutboxItem item, IReadOnlyList<QuotaLimit> limits, DateTimeOffset? takenAt, OutboxSendOutcome outcome, DateTimeOffset? inDoubt)
    {
        // Before the item is released: a retry claimed right after must find its allowances back.
        if (outcome.NotApplied)
        {
            await RefundAllowancesAsync(item, limits, takenAt);
        }
        var now = time.GetUtcNow();
        var attempts = item.Attempts + 1;
        switch (outcome)
        {
            case OutboxSendOutcome.Sent sent:
                await CompleteAsync(item, OutboxState.Sent, now, attempts, inDoubt, error: sent.RefusedReason, remoteIds: sent.RemoteIds);
                break;
            case OutboxSendOutcome.Failed failed:
                Log.SendFailed(logger, item.Id, item.Kind, failed.Errcode);
                await CompleteAsync(item, OutboxState.Failed, now, attempts, inDoubt, failed.Errcode, failed.Message);
                break;
            case OutboxSendOutcome.RetryLater retry when attempts >= options.MaxAttempts:
                var gaveUp = $"gave up after {attempts} attempts: {retry.Reason}";
                Log.GaveUp(logger, item.Id, item.Kind, attempts, retry.Errcode);
                await (inDoubt is null
                    ? CompleteAsync(item, OutboxState.Failed, now, attempts, null, retry.Errcode, gaveUp)
                    : InDoubtAsync(item, now, gaveUp, inDoubt, attempts, retry.Errcode));
                break;
            case OutboxSendOutcome.RetryLater retry:
                var backoff = options.RetryBaseDelay * Math.Pow(2, attempts - 1);
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
                var pause = await PauseAsync(item, limits, takenAt ?? now, limited);
                var resumeAt = now + pause;
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
                Log.OutcomeUnknown(logger, item.Id, item.Kind, item.Target, unknown.Reason);
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
            await limiter.RefundAsync(allowances, takenAt.Value, CancellationToken.None);
            Log.AllowancesRefunded(logger, item.Id, item.Kind, allowances.Count);
        }
        catch (Exception ex)
        {
            // The allowances stay spent: the recipient waits for the next period, which sends less, never more.
            Log.RefundFailed(logger, ex, item.Id);
        }
    }

    /// <summary>Pauses what WeCom's refusal is about and answers for how long the item waits.</summary>
    private async Task<TimeSpan> PauseAsync(
        OutboxItem item, IReadOnlyList<QuotaLimit> limits, DateTimeOffset admittedAt, OutboxSendOutcome.RateLimited limited)
    {
        // WeCom's refusal is about its quotas, never about our own contact budget, so that is not paused.
        IEnumerable<QuotaKey> keys = limited.Key is { } key ? [key] : limits.Select(l => l.Key).Where(k => !ContactBudget.IsBudgetRule(k.Rule));
        var duration = limited.Pause;
        if (limited.Key is null && limited.Errcode == WeComErrorCodes.FrequencyLimited)
        {
            // 45009 blocks the API for the window of the limit that was hit (a minute or an hour): pause that counter
            // for that window, not every counter of the item for a fixed minute (FrequencyPenalty says how it is told).
            var decided = await DecideAsync(limits, admittedAt);
            if (decided is { } d)
            {
                (keys, duration) = (d.Keys, d.Pause);
                if (d.HourLimit)
                {
                    Log.HourLimitHit(logger, item.Id, item.Kind, d.Pause);
                }
            }
        }
        foreach (var k in keys)
        {
            try
            {
                await limiter.PauseAsync(k, duration, CancellationToken.None);
                Log.QuotaPaused(logger, k.ToString(), duration, limited.Errcode, item.Id);
            }
            catch (Exception ex)
            {
                // The item is still rescheduled past the pause; other instances may hit WeCom's limit once more.
                Log.PauseFailed(logger, ex, k.ToString());
            }
        }
        return duration;
    }

    private async Task<(IReadOnlyList<QuotaKey> Keys, TimeSpan Pause, bool HourLimit)?> DecideAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset admittedAt)
    {
        try
        {
            return await _penalty.DecideAsync(limits, admittedAt, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Without the record the fixed minute pause of every counter still holds the item back.
            Log.PenaltyFailed(logger, ex, item: admittedAt);
            return null;
        }
    }

    public static bool IsPast(DateTimeOffset? deadline, DateTimeOffset at) => deadline is { } d && at > d;

    /// <summary>
    /// Expires an item, unless a call of it may have reached WeCom without an answer (<paramref name="inDoubt"/>): then
    /// it may have been applied and is unknown, never "expired before sending".
    /// </summary>
    public Task ExpireAsync(OutboxItem item, DateTimeOffset now, string reason, DateTimeOffset? inDoubt, int? attempts = null, int? errcode = null)
    {
        if (inDoubt is not null)
        {
            return InDoubtAsync(item, now, reason, inDoubt, attempts ?? item.Attempts, errcode);
        }
        Log.Expired(logger, item.Id, item.Kind, reason);
        return CompleteAsync(item, OutboxState.Expired, now, attempts ?? item.Attempts, null, errcode, reason);
    }

    private Task InDoubtAsync(OutboxItem item, DateTimeOffset now, string reason, DateTimeOffset? inDoubt, int attempts, int? errcode)
    {
        var error = $"{OutboxDispatcher.CallInDoubt} ({reason})";
        Log.OutcomeUnknown(logger, item.Id, item.Kind, item.Target, error);
        return CompleteAsync(item, OutboxState.Unknown, now, attempts, inDoubt, errcode, error);
    }

    // Writes after a claim are not cancellable: an item left 'sending' would be treated as possibly sent.
    // callStartedAt: the call still in doubt (see OutboxItem.CallStartedAt), recorded with the final state.
    public async Task CompleteAsync(
        OutboxItem item, OutboxState state, DateTimeOffset now, int attempts, DateTimeOffset? callStartedAt,
        int? errcode = null, string? error = null, string? remoteIds = null)
    {
        if (!await store.CompleteAsync(item, state, now, attempts, callStartedAt, errcode, error, remoteIds))
        {
            Log.ClaimLost(logger, item.Id, OutboxStore.ToText(state));
            return;
        }
        // Counted once, by the claim that wrote the final state (a lost claim's owner counts it, or recovery does).
        metrics?.OutboxFinal(item.Kind, OutboxStore.ToText(state));
    }

    public async Task ReleaseAsync(OutboxItem item, DateTimeOffset at, int attempts, int? errcode, string? error, DateTimeOffset? callStartedAt)
    {
        if (!await store.ReleaseAsync(item, at, attempts, errcode, error, callStartedAt))
        {
            Log.ClaimLost(logger, item.Id, "pending");
        }
    }


    private static partial class Log
    {
        [LoggerMessage(4, LogLevel.Warning, "Outbox item {Id} ({Kind} to {Target}) has an unknown outcome and will not be resent: {Reason}")]
        public static partial void OutcomeUnknown(ILogger logger, long id, string kind, string target, string reason);

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

        [LoggerMessage(30, LogLevel.Warning, "Outbox item {Id} ({Kind}): WeCom's hour limit was hit (45009 again after the minute block, or our own hour counter nearly full); the API is paused for {Pause}")]
        public static partial void HourLimitHit(ILogger logger, long id, string kind, TimeSpan pause);

        [LoggerMessage(31, LogLevel.Error, "Could not tell the window of a 45009 refusal of a call admitted at {Item}; pausing every counter of the item")]
        public static partial void PenaltyFailed(ILogger logger, Exception exception, DateTimeOffset item);

        [LoggerMessage(17, LogLevel.Information, "Outbox item {Id} ({Kind}) was not applied by WeCom; {Count} allowances it reserved are given back")]
        public static partial void AllowancesRefunded(ILogger logger, long id, string kind, int count);

        [LoggerMessage(18, LogLevel.Error, "Could not give back the allowances of outbox item {Id}; they stay spent for their period")]
        public static partial void RefundFailed(ILogger logger, Exception exception, long id);
    }
}
