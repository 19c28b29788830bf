namespace Bot.Core.RateLimiting;

/// <summary>
/// One quota counter: a rule name (from the `Quotas` configuration) and the subject it counts for, e.g.
/// ("api-per-minute", "externalcontact/add_msg_template") or ("group-mass-per-day", "wrCHAT1").
/// </summary>
public readonly record struct QuotaKey(string Rule, string Subject)
{
    public override string ToString() => $"{Rule}:{Subject}";
}

/// <summary>
/// A counter with its limit: at most <see cref="Limit"/> acquisitions per <see cref="Window"/> (a sliding window), or,
/// when <see cref="Calendar"/> is set, per calendar day, week (Monday first) or month in the configured
/// `Quotas:TimeZone`, and then <see cref="Window"/> is ignored. One rule name always has the same window.
/// </summary>
public sealed record QuotaLimit(QuotaKey Key, int Limit, TimeSpan Window)
{
    public QuotaCalendar Calendar { get; init; }

    /// <summary>
    /// Whether this counter follows the tenant's mass-message receiving rule (a rule with <c>Window: ReceivingRule</c>):
    /// a recipient's receiving cap, or a sender's cap per recipient, which the same 群发 setting relaxes (doc 96997).
    /// </summary>
    public bool IsReceivingRule { get; init; }

    /// <summary>At most <paramref name="limit"/> per calendar <paramref name="period"/> in the configured time zone.</summary>
    public static QuotaLimit PerCalendar(QuotaKey key, int limit, QuotaCalendar period) =>
        new(key, limit, period switch
        {
            QuotaCalendar.Day => TimeSpan.FromDays(1),
            QuotaCalendar.Week => TimeSpan.FromDays(7),
            QuotaCalendar.Month => TimeSpan.FromDays(31),
            _ => throw new ArgumentOutOfRangeException(nameof(period), period, "A calendar period is required."),
        })
        { Calendar = period };
}

/// <summary>Calendar periods WeCom counts in (自然日/自然周/自然月); <see cref="None"/> means a sliding window.</summary>
public enum QuotaCalendar
{
    None,
    Day,
    Week,
    Month,
}

public enum QuotaDecisionKind
{
    /// <summary>Every counter had room; one unit was taken from each.</summary>
    Allowed,

    /// <summary>Some counter is full or paused; nothing was taken. Try again after <see cref="QuotaDecision.RetryAfter"/>.</summary>
    Wait,

    /// <summary>The shared limiter cannot be reached (Redis down): fail closed, try again after <see cref="QuotaDecision.RetryAfter"/>.</summary>
    Unavailable,
}

public readonly record struct QuotaDecision(QuotaDecisionKind Kind, TimeSpan RetryAfter, QuotaKey? BlockedBy = null)
{
    public bool IsAllowed => Kind == QuotaDecisionKind.Allowed;

    /// <summary>For an allowed decision that took units, the instant it counted them at: what a refund names.</summary>
    public DateTimeOffset? TakenAt { get; init; }

    /// <summary>Allowed without taking anything (no limits).</summary>
    public static QuotaDecision Allow() => new(QuotaDecisionKind.Allowed, TimeSpan.Zero);

    /// <summary>Allowed, one unit taken from every counter at <paramref name="takenAt"/>.</summary>
    public static QuotaDecision Allow(DateTimeOffset takenAt) => new(QuotaDecisionKind.Allowed, TimeSpan.Zero) { TakenAt = takenAt };
}

/// <summary>
/// One counter as a decision at this instant would see it: units counted in its window or period, its limit, and how
/// long a decision over this counter alone would wait (zero when it has room and is not paused).
/// </summary>
public readonly record struct QuotaUsage(QuotaKey Key, long Used, int Limit, TimeSpan RetryAfter)
{
    public long Remaining => Math.Max(0, Limit - Used);
}

/// <summary>
/// Quota enforcement shared by every sender. Two implementations with identical semantics: Redis (all instances
/// share the counters) and in-process (single-instance mode). Acquisition is all-or-nothing across the given limits,
/// so a send that would break any one quota takes nothing from the others.
/// </summary>
public interface IQuotaLimiter
{
    ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken);

    /// <summary>
    /// Gives back the unit each of <paramref name="limits"/> gave the decision allowed at <paramref name="takenAt"/>
    /// (<see cref="QuotaDecision.TakenAt"/>), for a call refused before WeCom applied it. A counter whose window or
    /// period has since moved past that unit is left alone: the unit no longer counts there. Best effort: while the
    /// shared limiter cannot be reached the units stay taken, which errs on the side of sending less.
    /// </summary>
    ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken);

    /// <summary>Blocks a counter for everyone until <paramref name="duration"/> has passed (WeCom answered 45009 or 45033).</summary>
    ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken);

    /// <summary>
    /// Records that WeCom refused a call on <paramref name="key"/> with its frequency error (45009) and answers how many
    /// distinct refusals the key has had, this one included. A refusal is distinct only when its call was admitted at or
    /// after <paramref name="pause"/> past the previous distinct one (that refusal's pause had ended): calls already in
    /// flight when WeCom first refused only repeat it. The record is forgotten <paramref name="window"/> after that
    /// pause ends. Answers 0 when the shared limiter cannot be reached. See <see cref="FrequencyPenalty"/>.
    /// </summary>
    ValueTask<int> RecordRefusalAsync(QuotaKey key, DateTimeOffset admittedAt, TimeSpan pause, TimeSpan window, CancellationToken cancellationToken);

    /// <summary>
    /// Reads each counter, in the order given, without taking anything (for pre-flight reports); null when the shared
    /// limiter cannot be reached.
    /// </summary>
    ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken);
}

/// <summary>
/// What one outbound call touches, for quota purposes: the WeCom API path and whichever of sender, customer groups,
/// customers, robot webhook key and app-message recipient it involves.
/// </summary>
public sealed record QuotaSubject(
    string Api,
    string? Sender = null,
    IReadOnlyList<string>? ChatIds = null,
    IReadOnlyList<string>? ExternalUserIds = null,
    string? RobotKey = null,
    string? AppRecipient = null);
