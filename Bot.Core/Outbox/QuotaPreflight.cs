using System.Text.Json.Serialization;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

[JsonConverter(typeof(JsonStringEnumConverter<PreflightStatus>))]
public enum PreflightStatus
{
    /// <summary>Every counter has room: the item goes out as soon as the dispatcher reaches it.</summary>
    Allowed,

    /// <summary>
    /// A sliding quota (API per minute, a pause after 45009) or a pause that ends within the period holds it until
    /// <see cref="PreflightTarget.At"/>.
    /// </summary>
    Delayed,

    /// <summary>
    /// A calendar cap (the tenant's receiving rule, one message per sender and target a day) is used up for the period,
    /// or paused to its end: WeCom would skip the target, so the bot holds the item until <see cref="PreflightTarget.At"/>.
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

/// <summary>One send to play forward: what it counts against (the same subject its outbox item will carry) and when it is planned.</summary>
public sealed record PreflightItem(string Target, QuotaSubject Subject, DateTimeOffset PlannedAt);

/// <summary>
/// Before a broadcast, seeding run or lottery announcement starts: reads (never takes) every quota counter its items
/// would pass and plays the run forward in planned order. It peeks the limiter rather than counting outbox rows
/// because the limiter's counters are what the dispatcher obeys, shared with every instance and every kind of send
/// (seeding, lottery, welcome messages), and they reset with the same calendar. Items already queued but not yet sent
/// are not counted; the report is an outlook, the dispatcher still decides.
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

    public Task<PreflightReport?> CheckAsync(BroadcastTargetKind kind, string sender, IReadOnlyList<string> targets, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sender);
        ArgumentNullException.ThrowIfNull(targets);
        var now = _time.GetUtcNow();
        var items = BroadcastService.DistinctTargets(targets)
            .Select(target => new PreflightItem(target, BroadcastService.QuotaSubjectFor(kind, sender, target), now))
            .ToList();
        return CheckAsync(items, ct);
    }

    /// <summary>
    /// The outlook for items planned at given times (a time in the past means now), one <see cref="PreflightTarget"/>
    /// per item in the order given; null when the shared limiter cannot be reached.
    /// </summary>
    public async Task<PreflightReport?> CheckAsync(IReadOnlyList<PreflightItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var now = _time.GetUtcNow();
        var limitsPerItem = items.Select(item => _catalog.LimitsFor(item.Subject)).ToList();

        var unique = new Dictionary<QuotaKey, QuotaLimit>();
        foreach (var limit in limitsPerItem.SelectMany(l => l))
        {
            unique.TryAdd(limit.Key, limit);
        }
        var nowMs = now.ToUnixTimeMilliseconds();
        var counters = new Dictionary<QuotaKey, Counter>(unique.Count);
        foreach (var batch in unique.Values.Chunk(PeekBatch))
        {
            if (await _limiter.PeekAsync(batch, ct) is not { } usages)
            {
                return null;
            }
            for (var i = 0; i < batch.Length; i++)
            {
                counters[batch[i].Key] = new Counter(batch[i], usages[i], nowMs, _clock);
            }
        }

        // Played in planned order, as the dispatcher takes due items oldest first; OrderBy is stable, so items planned
        // for the same moment (a broadcast's targets) keep the caller's order.
        var results = new PreflightTarget[items.Count];
        foreach (var i in Enumerable.Range(0, items.Count).OrderBy(i => items[i].PlannedAt))
        {
            results[i] = Place(items[i], limitsPerItem[i], counters, nowMs);
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
    /// The earliest time at or after the item's planned time at which every counter has a unit for it, given the
    /// units earlier items of this run were given; takes the units when the item goes out in this run.
    /// </summary>
    private static PreflightTarget Place(PreflightItem item, IReadOnlyList<QuotaLimit> limits, Dictionary<QuotaKey, Counter> counters, long nowMs)
    {
        var planned = Math.Max(item.PlannedAt.ToUnixTimeMilliseconds(), nowMs);
        var at = planned;
        string? blockedBy = null;
        // A move past one counter's wait can only meet later waits of the others, so the passes settle; the guard
        // only bounds a pathological configuration.
        for (var pass = 0; pass < 1_000; pass++)
        {
            var moved = false;
            foreach (var limit in limits)
            {
                var (readyAt, skippedUntil) = counters[limit.Key].Check(at);
                if (skippedUntil is { } until)
                {
                    return new PreflightTarget(item.Target, PreflightStatus.Skipped, DateTimeOffset.FromUnixTimeMilliseconds(until), limit.Key.Rule);
                }
                if (readyAt > at)
                {
                    at = readyAt;
                    blockedBy = limit.Key.Rule;
                    moved = true;
                }
            }
            if (!moved)
            {
                break;
            }
        }
        foreach (var limit in limits)
        {
            counters[limit.Key].Take(at);
        }
        return new PreflightTarget(item.Target, at > planned ? PreflightStatus.Delayed : PreflightStatus.Allowed,
            DateTimeOffset.FromUnixTimeMilliseconds(at), at > planned ? blockedBy : null);
    }

    /// <summary>A counter as peeked, plus the units this run would take from it.</summary>
    private sealed class Counter
    {
        private readonly QuotaLimit _limit;
        private readonly QuotaUsage _usage;
        private readonly QuotaCalendarClock _clock;
        private readonly long _pauseEndMs;
        private readonly long _currentPeriodStartMs;
        private readonly long _windowMs;

        // Sliding windows: when each counted unit stops counting (Unix ms → units).
        private readonly SortedDictionary<long, long> _expiries = [];

        // Calendar periods: units this run takes in each period (period start → units).
        private readonly Dictionary<long, long> _takenPerPeriod = [];

        public Counter(QuotaLimit limit, QuotaUsage usage, long nowMs, QuotaCalendarClock clock)
        {
            _limit = limit;
            _usage = usage;
            _clock = clock;
            var retryAt = nowMs + (long)Math.Ceiling(usage.RetryAfter.TotalMilliseconds);
            if (limit.Calendar != QuotaCalendar.None)
            {
                // Full or not, nothing passes this counter before RetryAfter: a full one waits for its period to end,
                // one with room can only be waiting out a pause.
                _pauseEndMs = retryAt;
                _currentPeriodStartMs = clock.PeriodOf(limit.Calendar, nowMs).StartMs;
                return;
            }
            // A sliding counter frees a unit one window (plus its one bucket of slack, see SlidingWindow) after it was
            // taken. When of the peeked units were taken is unknown: a full counter frees by RetryAfter, and then all
            // of them are assumed gone; one with room keeps them for a whole window. Both are conservative bounds.
            _windowMs = SlidingWindow.BucketMs(limit.Window) * (SlidingWindow.Buckets + 1);
            if (usage.Remaining == 0)
            {
                _expiries[retryAt] = usage.Used;
            }
            else
            {
                _pauseEndMs = retryAt;
                if (usage.Used > 0)
                {
                    _expiries[nowMs + _windowMs] = usage.Used;
                }
            }
        }

        /// <summary>When a unit is free at or after <paramref name="atMs"/>, or, for a calendar cap, until when the item is held for the period.</summary>
        public (long ReadyAt, long? SkippedUntil) Check(long atMs)
        {
            if (_limit.Calendar != QuotaCalendar.None)
            {
                var (start, end) = _clock.PeriodOf(_limit.Calendar, atMs);
                // Counters peeked now apply to items in the current calendar period; an item planned in a later
                // period starts from an empty counter there, plus what this run takes in that period.
                var (used, limit) = start == _currentPeriodStartMs ? (_usage.Used, _usage.Limit) : (0L, _limit.Limit);
                if (used + _takenPerPeriod.GetValueOrDefault(start) >= limit)
                {
                    return (atMs, Math.Max(end, _pauseEndMs));
                }
                if (_pauseEndMs > atMs)
                {
                    // A pause that lasts to the end of the period (WeCom said the recipient already got another mass
                    // message) holds the item for the period, like a full counter: skipped, not delayed.
                    return _pauseEndMs >= end ? (atMs, _pauseEndMs) : (_pauseEndMs, null);
                }
                return (atMs, null);
            }
            var at = Math.Max(atMs, _pauseEndMs);
            long active = 0;
            foreach (var (expiry, units) in _expiries)
            {
                if (expiry > at)
                {
                    active += units;
                }
            }
            if (active < _limit.Limit)
            {
                return (at, null);
            }
            // The earliest moment enough of the counted units have expired to leave one free.
            var needed = active - _limit.Limit + 1;
            foreach (var (expiry, units) in _expiries)
            {
                if (expiry <= at)
                {
                    continue;
                }
                needed -= units;
                if (needed <= 0)
                {
                    return (expiry, null);
                }
            }
            return (at, null);
        }

        public void Take(long atMs)
        {
            if (_limit.Calendar != QuotaCalendar.None)
            {
                var start = _clock.PeriodOf(_limit.Calendar, atMs).StartMs;
                _takenPerPeriod[start] = _takenPerPeriod.GetValueOrDefault(start) + 1;
                return;
            }
            var expiry = atMs + _windowMs;
            _expiries[expiry] = _expiries.GetValueOrDefault(expiry) + 1;
        }
    }
}
