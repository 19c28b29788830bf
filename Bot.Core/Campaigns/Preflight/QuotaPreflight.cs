using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Outbox;
using System.Text.Json.Serialization;
using Bot.Core.Contacts;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Preflight;

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

/// <summary>
/// One target's outlook: when it would go out, and the rule that holds it back, if any.
/// <see cref="ReceivingRuleRemaining"/> is how many more mass messages the customer or group may receive, from anyone,
/// in the period this one would go out in, once it and the run's earlier sends are counted (the tenant's receiving
/// rule); null when it does not apply.
/// </summary>
public sealed record PreflightTarget(string Target, PreflightStatus Status, DateTimeOffset At, string? BlockedBy)
{
    public long? ReceivingRuleRemaining { get; init; }
}

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
    DateTimeOffset? EstimatedFinishAt)
{
    /// <summary>For a broadcast: the mass-message tasks it would be sent as (a member and how many recipients each).</summary>
    public IReadOnlyList<PreflightTask>? Tasks { get; init; }

    /// <summary>For a broadcast: recipients no member's task could carry, and why; they would be recorded failed.</summary>
    public IReadOnlyList<UnassignedRecipient>? Unassigned { get; init; }
}

/// <summary>One planned add_msg_template task: its sender and how many recipients it carries.</summary>
public sealed record PreflightTask(string Sender, int Recipients);

/// <summary>
/// One send to play forward: its outbox kind, target and quota subject (the same its outbox item will carry, so it
/// meets the same counters, the contact budget included) and when it is planned.
/// </summary>
public sealed record PreflightItem(string Kind, string Target, QuotaSubject Subject, DateTimeOffset PlannedAt);

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
    private readonly ContactBudget? _budget;

    private readonly BroadcastPlanner? _planner;

    public QuotaPreflight(
        IQuotaLimiter limiter, QuotaCatalog catalog, IOptions<QuotaOptions> options, TimeProvider time, ContactBudget? budget = null,
        BroadcastPlanner? planner = null)
    {
        _planner = planner;
        _limiter = limiter;
        _catalog = catalog;
        _budget = budget;
        _clock = QuotaCalendarClock.From(options.Value);
        _receivingRule = options.Value.MassMessageReceivingRule;
        _time = time;
    }

    /// <summary>
    /// The outlook for <paramref name="request"/>'s recipients, grouped into tasks exactly as a start would group them;
    /// null when the shared limiter cannot be reached.
    /// </summary>
    public async Task<PreflightReport?> CheckAsync(BroadcastRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var plan = _planner is not null
            ? await _planner.PlanAsync(request, ct)
            : new BroadcastPlan(request.TargetKind,
                [new PlannedTask(request.Sender ?? throw new ArgumentException("a sender is needed without the planner", nameof(request)),
                    BroadcastService.DistinctTargets(request.Targets ?? []))], []);
        var now = _time.GetUtcNow();
        var items = plan.Tasks
            .SelectMany(task => task.Recipients.Select(r =>
                new PreflightItem(OutboxKinds.Broadcast, r, BroadcastService.QuotaSubjectFor(request.TargetKind, task.Sender, r), now)))
            .ToList();
        return await CheckAsync(items, ct) is { } report
            ? report with
            {
                Tasks = plan.Tasks.Select(t => new PreflightTask(t.Sender, t.Recipients.Count)).ToList(),
                Unassigned = plan.Unassigned,
            }
            : null;
    }

    /// <summary>The outlook for <paramref name="targets"/>; <paramref name="sender"/> null groups customers by their guide.</summary>
    public Task<PreflightReport?> CheckAsync(BroadcastTargetKind kind, string? sender, IReadOnlyList<string> targets, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return CheckAsync(new BroadcastRequest { Name = "preflight", Text = "", TargetKind = kind, Sender = sender, Targets = targets }, ct);
    }

    /// <summary>
    /// The outlook for items planned at given times (a time in the past means now), one <see cref="PreflightTarget"/>
    /// per item in the order given; null when the shared limiter cannot be reached.
    /// </summary>
    public async Task<PreflightReport?> CheckAsync(IReadOnlyList<PreflightItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var now = _time.GetUtcNow();
        var limitsPerItem = items.Select(LimitsFor).ToList();

        var unique = new Dictionary<QuotaKey, QuotaLimit>();
        foreach (var limit in limitsPerItem.SelectMany(l => l))
        {
            unique.TryAdd(limit.Key, limit);
        }
        // Times are UTC ticks: milliseconds would round away the sub-millisecond part of now and of planned times.
        var nowTicks = now.UtcTicks;
        var counters = new Dictionary<QuotaKey, Counter>(unique.Count);
        foreach (var batch in unique.Values.Chunk(PeekBatch))
        {
            if (await _limiter.PeekAsync(batch, ct) is not { } usages)
            {
                return null;
            }
            for (var i = 0; i < batch.Length; i++)
            {
                counters[batch[i].Key] = new Counter(batch[i], usages[i], nowTicks, _clock);
            }
        }

        // Played in planned order, as the dispatcher takes due items oldest first; OrderBy is stable, so items planned
        // for the same moment (a broadcast's targets) keep the caller's order.
        var results = new PreflightTarget[items.Count];
        foreach (var i in Enumerable.Range(0, items.Count).OrderBy(i => items[i].PlannedAt))
        {
            results[i] = Place(items[i], limitsPerItem[i], counters, nowTicks);
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
    private static PreflightTarget Place(PreflightItem item, IReadOnlyList<QuotaLimit> limits, Dictionary<QuotaKey, Counter> counters, long nowTicks)
    {
        var planned = Math.Max(item.PlannedAt.UtcTicks, nowTicks);
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
                    return new PreflightTarget(item.Target, PreflightStatus.Skipped, FromTicks(until), limit.Key.Rule)
                    {
                        ReceivingRuleRemaining = ReceivingRuleRemaining(limits, counters, at),
                    };
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
            FromTicks(at), at > planned ? blockedBy : null) { ReceivingRuleRemaining = ReceivingRuleRemaining(limits, counters, at) };
    }

    /// <summary>The counters the dispatcher will pass the item's outbox item through: its quotas and its contact budget.</summary>
    private IReadOnlyList<QuotaLimit> LimitsFor(PreflightItem item)
    {
        var limits = _catalog.LimitsFor(item.Subject);
        return _budget?.AddTo(limits, item.Kind, item.Target, OutboxKinds.TargetsGroup(item.Kind), null, item.Subject) ?? limits;
    }

    private static long? ReceivingRuleRemaining(IReadOnlyList<QuotaLimit> limits, Dictionary<QuotaKey, Counter> counters, long at)
    {
        long? remaining = null;
        foreach (var limit in limits)
        {
            if (limit.IsReceivingRule && counters[limit.Key].RemainingInPeriod(at) is { } left)
            {
                remaining = Math.Min(remaining ?? long.MaxValue, left);
            }
        }
        return remaining;
    }

    private static DateTimeOffset FromTicks(long utcTicks) => new(utcTicks, TimeSpan.Zero);

    /// <summary>A counter as peeked, plus the units this run would take from it.</summary>
    private sealed class Counter
    {
        private readonly QuotaLimit _limit;
        private readonly QuotaUsage _usage;
        private readonly QuotaCalendarClock _clock;
        private readonly long _pauseEnd;
        private readonly long _currentPeriodStart;
        private readonly long _window;

        // Sliding windows: when each counted unit stops counting (UTC ticks → units).
        private readonly SortedDictionary<long, long> _expiries = [];

        // Calendar periods: units this run takes in each period (period start → units).
        private readonly Dictionary<long, long> _takenPerPeriod = [];

        public Counter(QuotaLimit limit, QuotaUsage usage, long now, QuotaCalendarClock clock)
        {
            _limit = limit;
            _usage = usage;
            _clock = clock;
            // The limiters count whole milliseconds from their own reading of the clock, taken after ours: RetryAfter
            // runs from the millisecond, not from our sub-millisecond now (or a full day would end 0.8 ms late).
            var retryAt = now - now % TimeSpan.TicksPerMillisecond + usage.RetryAfter.Ticks;
            if (limit.Calendar != QuotaCalendar.None)
            {
                // Full or not, nothing passes this counter before RetryAfter: a full one waits for its period to end,
                // one with room can only be waiting out a pause.
                _pauseEnd = retryAt;
                _currentPeriodStart = Period(now).Start;
                return;
            }
            // A sliding counter frees a unit one window (plus its one bucket of slack, see SlidingWindow) after it was
            // taken. When the peeked units were taken is unknown: a full counter frees one by RetryAfter and is assumed
            // to free all of them then (optimistic for a run far larger than the limit); one with room is assumed to
            // keep them a whole window (conservative).
            _window = SlidingWindow.BucketMs(limit.Window) * (SlidingWindow.Buckets + 1) * TimeSpan.TicksPerMillisecond;
            if (usage.Remaining == 0)
            {
                _expiries[retryAt] = usage.Used;
            }
            else
            {
                _pauseEnd = retryAt;
                if (usage.Used > 0)
                {
                    _expiries[now + _window] = usage.Used;
                }
            }
        }

        /// <summary>When a unit is free at or after <paramref name="at"/>, or, for a calendar cap, until when the item is held for the period.</summary>
        public (long ReadyAt, long? SkippedUntil) Check(long at)
        {
            if (_limit.Calendar != QuotaCalendar.None)
            {
                var (start, end) = Period(at);
                // Counters peeked now apply to items in the current calendar period; an item planned in a later
                // period starts from an empty counter there, plus what this run takes in that period.
                var (used, limit) = start == _currentPeriodStart ? (_usage.Used, _usage.Limit) : (0L, LimitIn(start));
                if (used + _takenPerPeriod.GetValueOrDefault(start) >= limit)
                {
                    return (at, Math.Max(end, _pauseEnd));
                }
                if (_pauseEnd > at)
                {
                    // A pause that lasts to the end of the period (WeCom said the recipient already got another mass
                    // message) holds the item for the period, like a full counter: skipped, not delayed.
                    return _pauseEnd >= end ? (at, _pauseEnd) : (_pauseEnd, null);
                }
                return (at, null);
            }
            at = Math.Max(at, _pauseEnd);
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

        public void Take(long at)
        {
            if (_limit.Calendar != QuotaCalendar.None)
            {
                var start = Period(at).Start;
                _takenPerPeriod[start] = _takenPerPeriod.GetValueOrDefault(start) + 1;
                return;
            }
            var expiry = at + _window;
            _expiries[expiry] = _expiries.GetValueOrDefault(expiry) + 1;
        }

        /// <summary>
        /// The limit of a later period: the same, except that a days-in-month receiving rule allows that month's days.
        /// </summary>
        private long LimitIn(long periodStart) =>
            _limit is { IsReceivingRule: true, Calendar: QuotaCalendar.Month }
                ? _clock.DaysInMonth(FromTicks(periodStart))
                : _limit.Limit;

        /// <summary>Units left in the calendar period holding <paramref name="at"/>, after this run's; null for sliding windows.</summary>
        public long? RemainingInPeriod(long at)
        {
            if (_limit.Calendar == QuotaCalendar.None)
            {
                return null;
            }
            var start = Period(at).Start;
            var (used, limit) = start == _currentPeriodStart ? (_usage.Used, _usage.Limit) : (0L, LimitIn(start));
            return Math.Max(0, limit - used - _takenPerPeriod.GetValueOrDefault(start));
        }

        /// <summary>The calendar period holding <paramref name="at"/>, in UTC ticks.</summary>
        private (long Start, long End) Period(long at)
        {
            var (startMs, endMs) = _clock.PeriodOf(_limit.Calendar, FromTicks(at).ToUnixTimeMilliseconds());
            return (DateTimeOffset.FromUnixTimeMilliseconds(startMs).UtcTicks, DateTimeOffset.FromUnixTimeMilliseconds(endMs).UtcTicks);
        }
    }
}
