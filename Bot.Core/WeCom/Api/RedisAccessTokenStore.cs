using Bot.Core.Redis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// Multi-instance mode: the token lives in Redis and at most one instance calls gettoken per expiry.
/// The refresher holds a lock with a TTL, so a holder that dies blocks nobody for longer than
/// `WeComApi:TokenRefreshLockTimeout`; it may store its token only while it still holds that lock, so a slow
/// refresher can never overwrite a newer token. Invalidation deletes a token only if it is still the generation that
/// failed. If Redis is unreachable, tokens are fetched directly (each instance for itself) rather than failing calls.
/// </summary>
internal sealed partial class RedisAccessTokenStore : IAccessTokenStore
{
    private static readonly LuaScript StoreIfLockHeld = LuaScript.Prepare("""
        if redis.call('GET', @lockKey) ~= @owner then return -1 end
        local generation = redis.call('INCR', @generationKey)
        redis.call('HSET', @tokenKey, 'v', @token, 'g', generation, 'r', @refreshAt, 'e', @expiresAt)
        redis.call('PEXPIRE', @tokenKey, @ttlMs)
        redis.call('DEL', @lockKey)
        return generation
        """);

    private static readonly LuaScript DeleteIfGeneration = LuaScript.Prepare("""
        if redis.call('HGET', @tokenKey, 'g') == @generation then return redis.call('DEL', @tokenKey) end
        return 0
        """);

    private static readonly LuaScript ReleaseIfOwner = LuaScript.Prepare("""
        if redis.call('GET', @lockKey) == @owner then return redis.call('DEL', @lockKey) end
        return 0
        """);

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(250);

    private readonly IConnectionMultiplexer _redis;
    private readonly AccessTokenFetcher _fetcher;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<RedisAccessTokenStore> _logger;
    private readonly TimeSpan _lockTimeout;
    private readonly RedisKey _tokenKey;
    private readonly RedisKey _lockKey;
    private readonly RedisKey _generationKey;
    private long _localGeneration;

    public RedisAccessTokenStore(
        IConnectionMultiplexer redis,
        AccessTokenFetcher fetcher,
        IOptions<RedisOptions> redisOptions,
        IOptions<WeComOptions> weComOptions,
        IOptions<WeComApiOptions> apiOptions,
        TimeProvider timeProvider,
        ILogger<RedisAccessTokenStore> logger)
    {
        _redis = redis;
        _fetcher = fetcher;
        _timeProvider = timeProvider;
        _logger = logger;
        _lockTimeout = apiOptions.Value.TokenRefreshLockTimeout;
        // One token per app: corp id + agent id (neither is secret).
        var app = $"{weComOptions.Value.CorpId}:{weComOptions.Value.AgentId}";
        _tokenKey = Key(redisOptions.Value, "token", app);
        _lockKey = Key(redisOptions.Value, "token-lock", app);
        _generationKey = Key(redisOptions.Value, "token-generation", app);
    }

    private static RedisKey Key(RedisOptions options, string kind, string app) => $"{options.KeyPrefix}wecom:{kind}:{app}";

    public async Task<AccessToken> RefreshAsync(AccessToken? stale, CancellationToken cancellationToken)
    {
        // A multiplexer that knows it is disconnected would only make us wait out its command timeout.
        if (_redis.IsConnected)
        {
            try
            {
                return await RefreshSharedAsync(stale, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or RedisTimeoutException)
            {
                Log.RedisUnavailable(_logger, e);
                return await FetchLocallyAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        Log.RedisUnavailable(_logger, exception: null);
        return await FetchLocallyAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<AccessToken> FetchLocallyAsync(CancellationToken cancellationToken)
    {
        var fetched = await _fetcher.FetchAsync(cancellationToken).ConfigureAwait(false);
        // Negative generations never match a stored one, so a local token never invalidates a shared token.
        return fetched with { Generation = -Interlocked.Increment(ref _localGeneration) };
    }

    public async ValueTask InvalidateAsync(AccessToken failed, CancellationToken cancellationToken)
    {
        if (failed.Generation <= 0)
        {
            return;
        }
        try
        {
            var deleted = (long)await DeleteIfGeneration.EvaluateAsync(
                _redis.GetDatabase(),
                new { tokenKey = _tokenKey, generation = failed.Generation.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ConfigureAwait(false);
            Log.Invalidated(_logger, failed.Generation, deleted == 1);
        }
        catch (Exception e) when (e is RedisException or RedisTimeoutException)
        {
            // The token expires on its own; the next refresh will find out whether it still works.
            Log.RedisUnavailable(_logger, e);
        }
    }

    private async Task<AccessToken> RefreshSharedAsync(AccessToken? stale, CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        var poll = FirstPoll;
        var deadline = _timeProvider.GetUtcNow() + _lockTimeout + _lockTimeout;
        while (true)
        {
            var now = _timeProvider.GetUtcNow();
            var shared = await ReadAsync(db).ConfigureAwait(false);
            if (shared is not null && shared.IsFresh(now) && shared.Generation != stale?.Generation)
            {
                return shared;
            }
            var owner = Guid.NewGuid().ToString("N");
            if (await db.StringSetAsync(_lockKey, owner, _lockTimeout, When.NotExists).ConfigureAwait(false))
            {
                return await RefreshHoldingLockAsync(db, owner, stale, cancellationToken).ConfigureAwait(false);
            }
            // Another instance is refreshing: keep serving what still works instead of waiting for it.
            if (stale is not null && stale.IsUsable(now))
            {
                return stale;
            }
            if (shared is not null && shared.IsUsable(now))
            {
                return shared;
            }
            if (now >= deadline)
            {
                throw new WeComApiException(WeComApis.GetToken.Name, WeComErrorCodes.Timeout, "another instance's token refresh did not finish");
            }
            await Task.Delay(poll, _timeProvider, cancellationToken).ConfigureAwait(false);
            poll = poll * 2 < MaxPoll ? poll * 2 : MaxPoll;
        }
    }

    private async Task<AccessToken> RefreshHoldingLockAsync(IDatabase db, string owner, AccessToken? stale, CancellationToken cancellationToken)
    {
        var stored = false;
        try
        {
            // Someone may have stored a token between our read and our lock.
            var shared = await ReadAsync(db).ConfigureAwait(false);
            if (shared is not null && shared.IsFresh(_timeProvider.GetUtcNow()) && shared.Generation != stale?.Generation)
            {
                return shared;
            }
            var fetched = await _fetcher.FetchAsync(cancellationToken).ConfigureAwait(false);
            var ttl = fetched.ExpiresAt - _timeProvider.GetUtcNow();
            var generation = (long)await StoreIfLockHeld.EvaluateAsync(db, new
            {
                lockKey = _lockKey,
                tokenKey = _tokenKey,
                generationKey = _generationKey,
                owner,
                token = fetched.Value,
                refreshAt = fetched.RefreshAt.ToUnixTimeMilliseconds(),
                expiresAt = fetched.ExpiresAt.ToUnixTimeMilliseconds(),
                ttlMs = Math.Max(1L, (long)ttl.TotalMilliseconds),
            }).ConfigureAwait(false);
            if (generation > 0)
            {
                stored = true;
                Log.Stored(_logger, generation);
                return fetched with { Generation = generation };
            }
            // Our lock expired while gettoken ran; whoever took it over owns the shared token now.
            Log.LockLost(_logger);
            var newer = await ReadAsync(db).ConfigureAwait(false);
            return newer is not null && newer.IsUsable(_timeProvider.GetUtcNow())
                ? newer
                : fetched with { Generation = -Interlocked.Increment(ref _localGeneration) };
        }
        finally
        {
            if (!stored)
            {
                await ReleaseIfOwner.EvaluateAsync(db, new { lockKey = _lockKey, owner }).ConfigureAwait(false);
            }
        }
    }

    private async Task<AccessToken?> ReadAsync(IDatabase db)
    {
        var fields = await db.HashGetAllAsync(_tokenKey).ConfigureAwait(false);
        string? value = null;
        long generation = 0, refreshAt = 0, expiresAt = 0;
        foreach (var field in fields)
        {
            switch ((string?)field.Name)
            {
                case "v": value = field.Value; break;
                case "g": generation = (long)field.Value; break;
                case "r": refreshAt = (long)field.Value; break;
                case "e": expiresAt = (long)field.Value; break;
            }
        }
        return string.IsNullOrEmpty(value) || generation <= 0
            ? null
            : new AccessToken(value, generation, DateTimeOffset.FromUnixTimeMilliseconds(refreshAt), DateTimeOffset.FromUnixTimeMilliseconds(expiresAt));
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Redis is unavailable for the shared WeCom access token; using a token fetched by this instance")]
        public static partial void RedisUnavailable(ILogger logger, Exception? exception);

        [LoggerMessage(2, LogLevel.Information, "Stored WeCom access token generation {Generation} for all instances")]
        public static partial void Stored(ILogger logger, long generation);

        [LoggerMessage(3, LogLevel.Information, "Invalidated WeCom access token generation {Generation}: {Deleted} (false when a newer generation had replaced it)")]
        public static partial void Invalidated(ILogger logger, long generation, bool deleted);

        [LoggerMessage(4, LogLevel.Warning, "The WeCom token refresh lock expired before gettoken answered; not overwriting the shared token")]
        public static partial void LockLost(ILogger logger);
    }
}
