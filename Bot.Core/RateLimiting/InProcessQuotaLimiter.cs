using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Bot.Core.RateLimiting;

/// <summary>
/// Single-instance limiter with the same semantics as <see cref="RedisQuotaLimiter"/>. Each counter has its own lock;
/// a decision over several counters takes their locks in creation order, so decisions never deadlock and a decision
/// sees and changes all its counters at once. Idle counters are swept every minute.
/// </summary>
internal sealed class InProcessQuotaLimiter : IQuotaLimiter, IDisposable
{
    private static readonly TimeSpan SweepPeriod = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<QuotaKey, Counter> _counters = new();
    private readonly InProcessRefusals _refusals = new();
    private readonly TimeProvider _time;
    private readonly QuotaCalendarClock _clock;
    private readonly ITimer _sweeper;
    private long _nextOrder;

    public InProcessQuotaLimiter(IOptions<QuotaOptions> options, TimeProvider time)
    {
        _time = time;
        _clock = QuotaCalendarClock.From(options.Value);
        _sweeper = time.CreateTimer(static state => ((InProcessQuotaLimiter)state!).Sweep(), this, SweepPeriod, SweepPeriod);
    }

    internal int CounterCount => _counters.Count;

    public ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        return limits.Count switch
        {
            0 => ValueTask.FromResult(QuotaDecision.Allow()),
            1 => ValueTask.FromResult(AcquireOne(limits[0])),
            _ => ValueTask.FromResult(AcquireMany(limits)),
        };
    }

    public ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (duration <= TimeSpan.Zero)
        {
            return ValueTask.CompletedTask;
        }
        var until = Now() + (long)Math.Ceiling(duration.TotalMilliseconds);
        while (true)
        {
            var counter = CounterFor(key);
            lock (counter)
            {
                if (counter.Retired)
                {
                    continue;
                }
                counter.PausedUntilMs = Math.Max(counter.PausedUntilMs, until);
                return ValueTask.CompletedTask;
            }
        }
    }

    public ValueTask<int> RecordRefusalAsync(QuotaKey key, DateTimeOffset admittedAt, TimeSpan pause, TimeSpan window, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_refusals.Record(key, Now(), admittedAt.ToUnixTimeMilliseconds(), pause, window));
    }

    public ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        var at = takenAt.ToUnixTimeMilliseconds();
        foreach (var limit in limits)
        {
            Validate(limit);
            // A missing or retired counter was idle: the unit has already left its window or period.
            if (_counters.TryGetValue(limit.Key, out var counter))
            {
                lock (counter)
                {
                    if (!counter.Retired)
                    {
                        counter.Refund(limit, at, _clock);
                    }
                }
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        var usages = new QuotaUsage[limits.Count];
        var now = Now();
        for (var i = 0; i < limits.Count; i++)
        {
            var limit = limits[i];
            Validate(limit);
            // A missing counter is an empty one; looking it up must not create it, or peeks would keep it alive.
            if (!_counters.TryGetValue(limit.Key, out var counter))
            {
                usages[i] = new QuotaUsage(limit.Key, 0, limit.Limit, TimeSpan.Zero);
                continue;
            }
            lock (counter)
            {
                // WaitMs only rolls the window forward to now, which every later decision would do anyway.
                var wait = counter.WaitMs(limit, now, _clock);
                usages[i] = new QuotaUsage(limit.Key, counter.Used, limit.Limit, TimeSpan.FromMilliseconds(wait));
            }
        }
        return ValueTask.FromResult<IReadOnlyList<QuotaUsage>?>(usages);
    }

    public void Dispose() => _sweeper.Dispose();

    private QuotaDecision AcquireOne(QuotaLimit limit)
    {
        Validate(limit);
        while (true)
        {
            var counter = CounterFor(limit.Key);
            lock (counter)
            {
                if (counter.Retired)
                {
                    continue;
                }
                var now = Now();
                var wait = counter.WaitMs(limit, now, _clock);
                if (wait > 0)
                {
                    return new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromMilliseconds(wait), limit.Key);
                }
                counter.Take();
                return QuotaDecision.Allow(DateTimeOffset.FromUnixTimeMilliseconds(now));
            }
        }
    }

    private QuotaDecision AcquireMany(IReadOnlyList<QuotaLimit> limits)
    {
        var n = limits.Count;
        for (var i = 0; i < n; i++)
        {
            Validate(limits[i]);
        }
        var counters = ArrayPool<Counter>.Shared.Rent(n);
        var orders = ArrayPool<long>.Shared.Rent(n);
        var lockOrder = ArrayPool<int>.Shared.Rent(n);
        try
        {
            while (true)
            {
                for (var i = 0; i < n; i++)
                {
                    counters[i] = CounterFor(limits[i].Key);
                    orders[i] = counters[i].Order;
                    lockOrder[i] = i;
                }
                Array.Sort(orders, lockOrder, 0, n);
                var entered = 0;
                try
                {
                    var retired = false;
                    for (; entered < n; entered++)
                    {
                        var counter = counters[lockOrder[entered]];
                        Monitor.Enter(counter);
                        retired |= counter.Retired;
                    }
                    if (retired)
                    {
                        continue;
                    }
                    return Decide(limits, counters, n);
                }
                finally
                {
                    for (var j = entered - 1; j >= 0; j--)
                    {
                        Monitor.Exit(counters[lockOrder[j]]);
                    }
                }
            }
        }
        finally
        {
            Array.Clear(counters, 0, n);
            ArrayPool<Counter>.Shared.Return(counters);
            ArrayPool<long>.Shared.Return(orders);
            ArrayPool<int>.Shared.Return(lockOrder);
        }
    }

    private QuotaDecision Decide(IReadOnlyList<QuotaLimit> limits, Counter[] counters, int n)
    {
        var now = Now();
        long worst = 0;
        var worstAt = -1;
        for (var i = 0; i < n; i++)
        {
            var wait = counters[i].WaitMs(limits[i], now, _clock);
            if (wait > worst)
            {
                worst = wait;
                worstAt = i;
            }
        }
        if (worstAt >= 0)
        {
            // The longest wait, since every counter must have room at once.
            return new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromMilliseconds(worst), limits[worstAt].Key);
        }
        for (var i = 0; i < n; i++)
        {
            counters[i].Take();
        }
        return QuotaDecision.Allow(DateTimeOffset.FromUnixTimeMilliseconds(now));
    }

    private Counter CounterFor(QuotaKey key) =>
        _counters.TryGetValue(key, out var counter)
            ? counter
            : _counters.GetOrAdd(key, static (_, self) => new Counter(Interlocked.Increment(ref self._nextOrder)), this);

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static void Validate(QuotaLimit limit)
    {
        ArgumentNullException.ThrowIfNull(limit);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Limit, 1, nameof(limit));
        if (limit.Calendar == QuotaCalendar.None && limit.Window <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit.Window, "A sliding window must be positive.");
        }
    }

    private void Sweep()
    {
        var now = Now();
        _refusals.Sweep(now);
        foreach (var pair in _counters)
        {
            var counter = pair.Value;
            lock (counter)
            {
                if (!counter.IsIdle(now))
                {
                    continue;
                }
                // Retired under its lock: a decision holding a reference sees the flag and looks the key up again.
                counter.Retired = true;
            }
            _counters.TryRemove(pair);
        }
    }

    /// <summary>One key's state. Guarded by its own monitor.</summary>
    private sealed class Counter(long order)
    {
        public readonly long Order = order;
        public bool Retired;
        public long PausedUntilMs;

        // Shape: the window it was created for; a different window for the same key starts it afresh.
        private QuotaCalendar _calendar;
        private long _bucketMs;

        // Sliding: a ring of Buckets + 1 counts for bucket indices (_head - Buckets .. _head], and their sum.
        private long[]? _ring;
        private long _head;
        private long _sum;

        // Calendar: the current period and its count.
        private long _periodStart;
        private long _periodEnd;

        /// <summary>0 when a unit can be taken now, else milliseconds until one can.</summary>
        public long WaitMs(QuotaLimit limit, long now, QuotaCalendarClock clock)
        {
            long wait = PausedUntilMs > now ? PausedUntilMs - now : 0;
            if (limit.Calendar != QuotaCalendar.None)
            {
                if (_calendar != limit.Calendar || _ring is not null || now >= _periodEnd || now < _periodStart)
                {
                    var (start, end) = clock.PeriodOf(limit.Calendar, now);
                    if (_calendar != limit.Calendar || _ring is not null || start != _periodStart)
                    {
                        _sum = 0;
                    }
                    _calendar = limit.Calendar;
                    _ring = null;
                    _periodStart = start;
                    _periodEnd = end;
                }
                return _sum >= limit.Limit ? Math.Max(wait, _periodEnd - now) : wait;
            }

            var bucketMs = SlidingWindow.BucketMs(limit.Window);
            var current = now / bucketMs;
            if (_ring is null || _bucketMs != bucketMs || current - _head > SlidingWindow.Buckets)
            {
                _ring ??= new long[SlidingWindow.Buckets + 1];
                Array.Clear(_ring);
                _calendar = QuotaCalendar.None;
                _bucketMs = bucketMs;
                _sum = 0;
                _head = current;
            }
            while (_head < current)
            {
                _head++;
                ref var slot = ref _ring[Slot(_head)];
                _sum -= slot;
                slot = 0;
            }
            if (_sum < limit.Limit)
            {
                return wait;
            }
            // Free the oldest units first: the wait ends when enough of them have left the window.
            var excess = _sum - limit.Limit + 1;
            for (var index = _head - SlidingWindow.Buckets; index <= _head; index++)
            {
                excess -= _ring[Slot(index)];
                if (excess <= 0)
                {
                    return Math.Max(wait, SlidingWindow.ExpiresAtMs(index, bucketMs) - now);
                }
            }
            return wait;
        }

        /// <summary>Units in the window or period; current only right after <see cref="WaitMs"/>.</summary>
        public long Used => _sum;

        /// <summary>Takes one unit; only after <see cref="WaitMs"/> answered 0 for the same instant.</summary>
        public void Take()
        {
            _sum++;
            if (_ring is not null)
            {
                _ring[Slot(_head)]++;
            }
        }

        /// <summary>
        /// Gives back one unit taken at <paramref name="takenAt"/> if it still counts: its period is the current one,
        /// or its bucket is still in the ring. A unit that has aged out is gone already.
        /// </summary>
        public void Refund(QuotaLimit limit, long takenAt, QuotaCalendarClock clock)
        {
            if (limit.Calendar != QuotaCalendar.None)
            {
                if (_ring is null && _calendar == limit.Calendar && _sum > 0 && clock.PeriodOf(limit.Calendar, takenAt).StartMs == _periodStart)
                {
                    _sum--;
                }
                return;
            }
            var index = takenAt / SlidingWindow.BucketMs(limit.Window);
            if (_ring is null || _bucketMs != SlidingWindow.BucketMs(limit.Window) || index > _head || index < _head - SlidingWindow.Buckets)
            {
                return;
            }
            ref var slot = ref _ring[Slot(index)];
            if (slot > 0)
            {
                slot--;
                _sum--;
            }
        }

        public bool IsIdle(long now)
        {
            if (PausedUntilMs > now)
            {
                return false;
            }
            if (_ring is null)
            {
                return _sum == 0 || now >= _periodEnd;
            }
            return _sum == 0 || now / _bucketMs - _head > SlidingWindow.Buckets;
        }

        private static int Slot(long index)
        {
            const int size = SlidingWindow.Buckets + 1;
            return (int)(((index % size) + size) % size);
        }
    }
}
