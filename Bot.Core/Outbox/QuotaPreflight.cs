using System.Text.Json.Serialization;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

[JsonConverter(typeof(JsonStringEnumConverter<PreflightStatus>))]
public enum PreflightStatus
{
    /// <summary>Every counter has room: the item goes out as soon as the dispatcher reaches it.</summary>
    Allowed,

    /// <summary>A sliding quota (API per minute, a pause after 45009) holds it until <see cref="PreflightTarget.At"/>.</summary>
    Delayed,

    /// <summary>
    /// A calendar cap (the tenant's receiving rule, one message per sender and target a day) is used up for the period:
    /// WeCom would skip the target, so the bot holds the item until the period ends at <see cref="PreflightTarget.At"/>.
    /// </summary>
    Skipped,
}

/// <summary>One target's outlook: when it would go out, and the rule that holds it back, if any.</summary>
public sealed record PreflightTarget(string Target, PreflightStatus Status, DateTimeOffset At, string? BlockedBy);

/// <summary>
/// The whole run's outlook. <see cref="EstimatedFinishAt"/> is when the last allowed or delayed target would go out
/// (null when every target is skipped); skipped targets wait for their next period and are not in it.
/// </summary>
public sealed record PreflightReport(
    DateTimeOffset At,
    string ReceivingRule,
    IReadOnlyList<PreflightTarget> Targets,
    int Allowed,
    int Delayed,
    int Skipped,
    DateTimeOffset? EstimatedFinishAt);

/// <summary>
/// Before a broadcast starts: reads (never takes) every quota counter its items would pass and plays the run forward
/// in target order. It peeks the limiter rather than counting outbox rows because the limiter's counters are what the
/// dispatcher obeys, shared with every instance and every kind of send (seeding, lottery, welcome messages), and they
/// reset with the same calendar. Items already queued but not yet sent are not counted; the report is an outlook, the
/// dispatcher still decides.
/// </summary>
public sealed class QuotaPreflight
{
    // One Redis script call reads this many counters; a run of thousands of groups is a few calls, not thousands.
    private const int PeekBatch = 512;

    private readonly IQuotaLimiter _limiter;
    private readonly QuotaCatalog _catalog;
    private readonly QuotaCalendarClock _clock;
    private readonly MassMessageReceivingRule _receivingRule;
    private readonly TimeProvider _time;

    public QuotaPreflight(IQuotaLimiter limiter, QuotaCatalog catalog, IOptions<QuotaOptions> options, TimeProvider time)
    {
        _limiter = limiter;
        _catalog = catalog;
        _clock = QuotaCalendarClock.From(options.Value);
        _receivingRule = options.Value.MassMessageReceivingRule;
        _time = time;
    }

    /// <summary>The outlook for <paramref name="request"/>'s targets and sender; null when the shared limiter cannot be reached.</summary>
    public Task<PreflightReport?> CheckAsync(BroadcastRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        return CheckAsync(request.TargetKind, request.Sender, request.Targets, ct);
    }

    public async Task<PreflightReport?> CheckAsync(BroadcastTargetKind kind, string sender, IReadOnlyList<string> targets, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sender);
        ArgumentNullException.ThrowIfNull(targets);
        var now = _time.GetUtcNow();
        var distinct = BroadcastService.DistinctTargets(targets);
        var limitsPerTarget = distinct
            .Select(target => _catalog.LimitsFor(BroadcastService.QuotaSubjectFor(kind, sender, target)))
            .ToList();

        var unique = new Dictionary<QuotaKey, QuotaLimit>();
        foreach (var limit in limitsPerTarget.SelectMany(l => l))
        {
            unique.TryAdd(limit.Key, limit);
        }
        var counters = new Dictionary<QuotaKey, Counter>(unique.Count);
        foreach (var batch in unique.Values.Chunk(PeekBatch))
        {
            if (await _limiter.PeekAsync(batch, ct) is not { } usages)
            {
                return null;
            }
            for (var i = 0; i < batch.Length; i++)
            {
                counters[batch[i].Key] = new Counter(batch[i], usages[i]);
            }
        }

        var results = new List<PreflightTarget>(distinct.Count);
        for (var t = 0; t < distinct.Count; t++)
        {
            results.Add(Place(distinct[t], limitsPerTarget[t], counters, now));
        }
        var sent = results.Where(r => r.Status != PreflightStatus.Skipped).ToList();
        return new PreflightReport(
            now,
            _receivingRule.ToString(),
            results,
            results.Count(r => r.Status == PreflightStatus.Allowed),
            results.Count(r => r.Status == PreflightStatus.Delayed),
            results.Count(r => r.Status == PreflightStatus.Skipped),
            sent.Count == 0 ? null : sent.Max(r => r.At));
    }

    /// <summary>
    /// The earliest time every counter of one target has a unit for it, given the units earlier targets of this run
    /// have already been given; takes the units when the target goes out in this run.
    /// </summary>
    private PreflightTarget Place(string target, IReadOnlyList<QuotaLimit> limits, Dictionary<QuotaKey, Counter> counters, DateTimeOffset now)
    {
        var at = now;
        string? blockedBy = null;
        foreach (var limit in limits)
        {
            var counter = counters[limit.Key];
            if (limit.Calendar != QuotaCalendar.None && counter.Planned >= counter.Usage.Remaining)
            {
                // Full for the whole period: held until it ends, whatever the other counters say.
                var (_, endMs) = _clock.PeriodOf(limit.Calendar, now.ToUnixTimeMilliseconds());
                var end = DateTimeOffset.FromUnixTimeMilliseconds(endMs);
                return new PreflightTarget(target, PreflightStatus.Skipped, end > now + counter.Usage.RetryAfter ? end : now + counter.Usage.RetryAfter, limit.Key.Rule);
            }
            var ready = counter.NextFree(now);
            if (ready > at)
            {
                at = ready;
                blockedBy = limit.Key.Rule;
            }
        }
        foreach (var limit in limits)
        {
            counters[limit.Key].Planned++;
        }
        return new PreflightTarget(target, at > now ? PreflightStatus.Delayed : PreflightStatus.Allowed, at, blockedBy);
    }

    /// <summary>A counter as peeked, plus the units this run would take from it.</summary>
    private sealed class Counter(QuotaLimit limit, QuotaUsage usage)
    {
        public QuotaUsage Usage { get; } = usage;

        public long Planned { get; set; }

        /// <summary>When the next unit (after <see cref="Planned"/> ones) is free.</summary>
        public DateTimeOffset NextFree(DateTimeOffset now)
        {
            var remaining = Usage.Remaining;
            if (Planned < remaining)
            {
                // Room now; a wait then can only be a pause (45009 / 45033).
                return now + Usage.RetryAfter;
            }
            // A sliding counter full of this run's own units frees one window (plus its one bucket of slack, see
            // SlidingWindow) after they were taken; units taken before now free by RetryAfter at the latest. Both
            // bounds are conservative: the run's units actually spread over the window.
            var window = TimeSpan.FromMilliseconds(SlidingWindow.BucketMs(limit.Window) * (SlidingWindow.Buckets + 1));
            return remaining > 0
                ? now + window * ((Planned - remaining) / limit.Limit + 1)
                : now + Usage.RetryAfter + window * (Planned / limit.Limit);
        }
    }
}
