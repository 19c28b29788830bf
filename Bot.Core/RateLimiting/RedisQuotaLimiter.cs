using Bot.Core.Redis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Core.RateLimiting;

/// <summary>
/// The limiter shared by every instance: one Lua script checks and takes all the counters of a decision atomically.
/// The time is passed in from <see cref="TimeProvider"/> rather than read with TIME: both limiters then run one test
/// suite on a fake clock, and hosts are NTP-synchronised to well under the one-bucket slack of every window.
/// Redis trouble answers <see cref="QuotaDecisionKind.Unavailable"/> (fail closed), never an exception.
/// </summary>
internal sealed partial class RedisQuotaLimiter : IQuotaLimiter
{
    // Reads one limit's counter and pause without changing them: units used in the current window or period, how long
    // a decision would have to wait, and (sliding windows) the bucket fields that have aged out. Shared by the acquire
    // and peek scripts, so a peek answers exactly what a decision at that instant would.
    private const string MeasureFunction = """
        local function measure(i, now)
          local base = 2 + (i - 1) * 4
          local kind, limit = ARGV[base], tonumber(ARGV[base + 1])
          local a, b = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
          local wait, used, old = 0, 0, {}
          local paused = tonumber(redis.call('GET', KEYS[2 * i]) or 0)
          if paused > now then wait = paused - now end
          if kind == 's' then
            local lo = math.floor(now / a) - b
            local fields = redis.call('HGETALL', KEYS[2 * i - 1])
            local live = {}
            for j = 1, #fields, 2 do
              local index = tonumber(fields[j])
              if index >= lo then
                local count = tonumber(fields[j + 1])
                used = used + count
                live[#live + 1] = {index, count}
              else
                old[#old + 1] = fields[j]
              end
            end
            if used >= limit then
              table.sort(live, function(x, y) return x[1] < y[1] end)
              local excess = used - limit + 1
              for _, bucket in ipairs(live) do
                excess = excess - bucket[2]
                if excess <= 0 then
                  local free = (bucket[1] + b + 1) * a - now
                  if free > wait then wait = free end
                  break
                end
              end
            end
          else
            local state = redis.call('HMGET', KEYS[2 * i - 1], 'p', 'n')
            if tonumber(state[1]) == a then used = tonumber(state[2]) or 0 end
            if used >= limit and b - now > wait then wait = b - now end
          end
          return used, wait, old
        end

        """;

    // KEYS: per limit i, KEYS[2i-1] its counter hash and KEYS[2i] its pause key (value: paused-until, Unix ms).
    // ARGV[1]: now (Unix ms). Per limit i, from ARGV[2 + 4(i-1)]: kind, limit, a, b where
    //   kind 's' (sliding): a = bucket ms, b = bucket count; hash fields are bucket indices, values counts;
    //   kind 'c' (calendar): a = period start, b = period end (Unix ms); hash fields p = period start, n = count.
    // Returns {1} when every counter took one unit, else {0, wait ms, 1-based index of the longest-waiting limit}.
    internal const string AcquireSource = MeasureFunction + """
        local now = tonumber(ARGV[1])
        local n = #KEYS / 2
        local worst, worstAt = 0, 0
        local stale = {}
        for i = 1, n do
          local _, wait, old = measure(i, now)
          stale[i] = old
          if wait > worst then worst, worstAt = wait, i end
        end
        if worstAt > 0 then return {0, worst, worstAt} end
        for i = 1, n do
          local base = 2 + (i - 1) * 4
          local key = KEYS[2 * i - 1]
          local a, b = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
          if ARGV[base] == 's' then
            redis.call('HINCRBY', key, math.floor(now / a), 1)
            if #stale[i] > 0 then redis.call('HDEL', key, unpack(stale[i])) end
            redis.call('PEXPIRE', key, (b + 2) * a)
          else
            if tonumber(redis.call('HGET', key, 'p')) == a then
              redis.call('HINCRBY', key, 'n', 1)
            else
              redis.call('HSET', key, 'p', a, 'n', 1)
            end
            redis.call('PEXPIRE', key, b - now + 60000)
          end
        end
        return {1}
        """;

    // KEYS[1]: pause key. ARGV: paused-until (Unix ms), TTL ms. A shorter pause never shortens a longer one.
    internal const string PauseSource = """
        local untilMs = tonumber(ARGV[1])
        if untilMs > tonumber(redis.call('GET', KEYS[1]) or 0) then
          redis.call('SET', KEYS[1], untilMs, 'PX', ARGV[2])
        end
        return 0
        """;

    // Same KEYS and ARGV as AcquireSource; reads only. Returns {used, wait ms} per limit, in order, with the same
    // arithmetic as the acquire script so a peek answers what a decision at that instant would.
    internal const string PeekSource = MeasureFunction + """
        local now = tonumber(ARGV[1])
        local out = {}
        for i = 1, #KEYS / 2 do
          local used, wait = measure(i, now)
          out[2 * i - 1] = used
          out[2 * i] = wait
        end
        return out
        """;

    // Same KEYS and ARGV as AcquireSource, with ARGV[1] the instant the units were taken, so each limit's bucket or
    // period is the one that unit went to. Takes one unit back from each counter where it still counts; a bucket field
    // or period that has moved on is left alone, and a count never goes below zero.
    internal const string RefundSource = """
        for i = 1, #KEYS / 2 do
          local base = 2 + (i - 1) * 4
          local key = KEYS[2 * i - 1]
          local a = tonumber(ARGV[base + 2])
          if ARGV[base] == 's' then
            local field = math.floor(tonumber(ARGV[1]) / a)
            local n = tonumber(redis.call('HGET', key, field) or 0)
            if n > 1 then redis.call('HINCRBY', key, field, -1) elseif n == 1 then redis.call('HDEL', key, field) end
          else
            local state = redis.call('HMGET', key, 'p', 'n')
            if tonumber(state[1]) == a and (tonumber(state[2]) or 0) > 0 then redis.call('HINCRBY', key, 'n', -1) end
          end
        end
        return 0
        """;

    // KEYS[1]: refusal record (hash: e = end of the last distinct refusal's pause, f = when the record is forgotten,
    // n = distinct refusals). ARGV: now and admitted-at (Unix ms), pause and window (ms). A refusal of a call admitted
    // before e repeats the last one. f is kept besides the TTL because the time comes from TimeProvider (see above).
    internal const string RefusalSource = """
        local now, admitted = tonumber(ARGV[1]), tonumber(ARGV[2])
        local pause, window = tonumber(ARGV[3]), tonumber(ARGV[4])
        local state = redis.call('HMGET', KEYS[1], 'e', 'f', 'n')
        local e, f, n = tonumber(state[1]), tonumber(state[2]), tonumber(state[3]) or 0
        if f ~= nil and now >= f then n = 0 end
        if n > 0 and admitted < e then return n end
        n = n + 1
        redis.call('HSET', KEYS[1], 'e', now + pause, 'f', now + pause + window, 'n', n)
        redis.call('PEXPIRE', KEYS[1], pause + window)
        return n
        """;

    // Prepared once; SE.Redis sends EVALSHA and reloads the script by itself after a NOSCRIPT (e.g. a restarted Redis).
    internal static readonly LuaScript AcquireScript = LuaScript.Prepare(AcquireSource);
    private static readonly LuaScript PauseScript = LuaScript.Prepare(PauseSource);
    private static readonly LuaScript PeekScript = LuaScript.Prepare(PeekSource);
    private static readonly LuaScript RefundScript = LuaScript.Prepare(RefundSource);
    private static readonly LuaScript RefusalScript = LuaScript.Prepare(RefusalSource);

    private static readonly RedisValue Sliding = "s";
    private static readonly RedisValue Calendar = "c";

    private readonly IConnectionMultiplexer _redis;
    private readonly string _prefix;
    private readonly TimeProvider _time;
    private readonly QuotaCalendarClock _clock;
    private readonly TimeSpan _unavailableRetryAfter;
    private readonly ILogger<RedisQuotaLimiter> _logger;
    private volatile string? _lastError;

    public RedisQuotaLimiter(
        IConnectionMultiplexer redis,
        IOptions<RedisOptions> redisOptions,
        IOptions<QuotaOptions> options,
        TimeProvider time,
        ILogger<RedisQuotaLimiter> logger)
    {
        _redis = redis;
        _prefix = redisOptions.Value.KeyPrefix;
        _time = time;
        _clock = QuotaCalendarClock.From(options.Value);
        _unavailableRetryAfter = options.Value.UnavailableRetryAfter;
        _logger = logger;
    }

    /// <summary>False after a failed call until the next one succeeds; for /readyz.</summary>
    public bool IsHealthy => _lastError is null && _redis.IsConnected;

    public string? LastError => _lastError ?? (_redis.IsConnected ? null : "no connection to Redis");

    /// <summary>The one place Redis keys are built: prefix, purpose, rule, subject.</summary>
    internal RedisKey KeyFor(string purpose, QuotaKey key) => $"{_prefix}quota:{purpose}:{key.Rule}:{key.Subject}";

    public async ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        if (limits.Count == 0)
        {
            return QuotaDecision.Allow();
        }
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var (keys, args) = ScriptArguments(limits, now);
        if (!_redis.IsConnected)
        {
            // Fail fast instead of queueing behind the multiplexer's backlog; it reconnects in the background.
            return Unavailable("no connection to Redis");
        }
        RedisResult result;
        try
        {
            result = await _redis.GetDatabase().ScriptEvaluateAsync(AcquireScript.ExecutableScript, keys, args).WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return Unavailable(ex.Message);
        }
        MarkHealthy();
        var reply = (RedisResult[])result!;
        if ((long)reply[0] == 1)
        {
            return QuotaDecision.Allow(DateTimeOffset.FromUnixTimeMilliseconds(now));
        }
        var blockedBy = limits[(int)(long)reply[2] - 1].Key;
        return new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromMilliseconds((long)reply[1]), blockedBy);
    }

    public async ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        if (limits.Count == 0)
        {
            return;
        }
        var (keys, args) = ScriptArguments(limits, takenAt.ToUnixTimeMilliseconds());
        if (!_redis.IsConnected)
        {
            Unavailable("no connection to Redis");
            Log.RefundLost(_logger, limits.Count, null);
            return;
        }
        try
        {
            await _redis.GetDatabase().ScriptEvaluateAsync(RefundScript.ExecutableScript, keys, args).WaitAsync(cancellationToken);
            MarkHealthy();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The units stay taken: the recipients wait for their next period, which sends less, never more.
            Unavailable(ex.Message);
            Log.RefundLost(_logger, limits.Count, ex);
        }
    }

    public async ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken)
    {
        if (duration <= TimeSpan.Zero)
        {
            return;
        }
        var durationMs = (long)Math.Ceiling(duration.TotalMilliseconds);
        var until = _time.GetUtcNow().ToUnixTimeMilliseconds() + durationMs;
        if (!_redis.IsConnected)
        {
            Unavailable("no connection to Redis");
            Log.PauseLost(_logger, key.Rule, key.Subject, null);
            return;
        }
        try
        {
            await _redis.GetDatabase().ScriptEvaluateAsync(
                PauseScript.ExecutableScript, [KeyFor("pause", key)], [until, durationMs + 1000]).WaitAsync(cancellationToken);
            MarkHealthy();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The caller cannot do better than carry on: while Redis is down every decision is Unavailable anyway.
            Unavailable(ex.Message);
            Log.PauseLost(_logger, key.Rule, key.Subject, ex);
        }
    }

    public async ValueTask<int> RecordRefusalAsync(QuotaKey key, DateTimeOffset admittedAt, TimeSpan pause, TimeSpan window, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_redis.IsConnected)
        {
            Unavailable("no connection to Redis");
            return 0;
        }
        try
        {
            var result = await _redis.GetDatabase().ScriptEvaluateAsync(RefusalScript.ExecutableScript, [KeyFor("refusals", key)],
            [
                _time.GetUtcNow().ToUnixTimeMilliseconds(), admittedAt.ToUnixTimeMilliseconds(),
                (long)Math.Ceiling(pause.TotalMilliseconds), (long)Math.Ceiling(window.TotalMilliseconds),
            ]).WaitAsync(cancellationToken);
            MarkHealthy();
            return (int)(long)result;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Unavailable(ex.Message);
            return 0;
        }
    }

    public async ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        cancellationToken.ThrowIfCancellationRequested();
        if (limits.Count == 0)
        {
            return [];
        }
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var (keys, args) = ScriptArguments(limits, now);
        if (!_redis.IsConnected)
        {
            Unavailable("no connection to Redis");
            return null;
        }
        RedisResult result;
        try
        {
            result = await _redis.GetDatabase().ScriptEvaluateAsync(PeekScript.ExecutableScript, keys, args).WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Unavailable(ex.Message);
            return null;
        }
        MarkHealthy();
        var reply = (RedisResult[])result!;
        var usages = new QuotaUsage[limits.Count];
        for (var i = 0; i < limits.Count; i++)
        {
            usages[i] = new QuotaUsage(limits[i].Key, (long)reply[2 * i], limits[i].Limit, TimeSpan.FromMilliseconds((long)reply[2 * i + 1]));
        }
        return usages;
    }

    internal (RedisKey[] Keys, RedisValue[] Args) ScriptArguments(IReadOnlyList<QuotaLimit> limits, long now)
    {
        var keys = new RedisKey[limits.Count * 2];
        var args = new RedisValue[1 + limits.Count * 4];
        args[0] = now;
        for (var i = 0; i < limits.Count; i++)
        {
            var limit = limits[i];
            ArgumentNullException.ThrowIfNull(limit);
            ArgumentOutOfRangeException.ThrowIfLessThan(limit.Limit, 1, nameof(limits));
            keys[2 * i] = KeyFor("count", limit.Key);
            keys[2 * i + 1] = KeyFor("pause", limit.Key);
            var at = 1 + i * 4;
            args[at + 1] = limit.Limit;
            if (limit.Calendar == QuotaCalendar.None)
            {
                if (limit.Window <= TimeSpan.Zero)
                {
                    throw new ArgumentOutOfRangeException(nameof(limits), limit.Window, "A sliding window must be positive.");
                }
                args[at] = Sliding;
                args[at + 2] = SlidingWindow.BucketMs(limit.Window);
                args[at + 3] = SlidingWindow.Buckets;
            }
            else
            {
                var (start, end) = _clock.PeriodOf(limit.Calendar, now);
                args[at] = Calendar;
                args[at + 2] = start;
                args[at + 3] = end;
            }
        }
        return (keys, args);
    }

    private QuotaDecision Unavailable(string error)
    {
        if (_lastError is null)
        {
            Log.RedisUnavailable(_logger, error);
        }
        _lastError = error;
        return new QuotaDecision(QuotaDecisionKind.Unavailable, _unavailableRetryAfter);
    }

    private void MarkHealthy()
    {
        if (_lastError is not null)
        {
            _lastError = null;
            Log.RedisRecovered(_logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Quota limiter cannot reach Redis; sends wait until it returns: {Error}")]
        public static partial void RedisUnavailable(ILogger logger, string error);

        [LoggerMessage(2, LogLevel.Information, "Quota limiter reaches Redis again")]
        public static partial void RedisRecovered(ILogger logger);

        [LoggerMessage(3, LogLevel.Warning, "Pause of quota {Rule}:{Subject} was not stored; Redis is unavailable")]
        public static partial void PauseLost(ILogger logger, string rule, string subject, Exception? exception);

        [LoggerMessage(4, LogLevel.Warning, "Refund of {Count} quota units was not stored; Redis is unavailable")]
        public static partial void RefundLost(ILogger logger, int count, Exception? exception);
    }
}
