using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Bot.Tests.RateLimiting;

public sealed class RedisQuotaLimiterTests : QuotaLimiterContractTests
{
    private readonly List<IConnectionMultiplexer> _connections = [];
    private string _prefix = "";

    [SetUp]
    public void NewPrefix() => _prefix = RedisTestServer.NewPrefix();

    [TearDown]
    public async Task CloseConnections()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
        _connections.Clear();
    }

    protected override IQuotaLimiter CreateLimiter(FakeTimeProvider time, QuotaOptions options) =>
        Create(RedisTestServer.Shared, time, options, new FakeLogger<RedisQuotaLimiter>());

    [Test]
    public async Task Two_instances_on_one_redis_share_their_counters()
    {
        var first = Create(RedisTestServer.Shared, Time, new QuotaOptions(), new FakeLogger<RedisQuotaLimiter>());
        var second = Create(RedisTestServer.Shared, Time, new QuotaOptions(), new FakeLogger<RedisQuotaLimiter>());
        var limit = new QuotaLimit(NewKey(), 5, TimeSpan.FromMinutes(1));

        for (var i = 0; i < 3; i++)
        {
            Assert.That((await AcquireAsync(first, limit)).IsAllowed);
        }
        Assert.That((await AcquireAsync(second, limit)).IsAllowed);
        Assert.That((await AcquireAsync(second, limit)).IsAllowed);

        Assert.That((await AcquireAsync(second, limit)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That((await AcquireAsync(first, limit)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
    }

    [Test]
    public async Task A_pause_from_one_instance_blocks_the_other()
    {
        var first = Create(RedisTestServer.Shared, Time, new QuotaOptions(), new FakeLogger<RedisQuotaLimiter>());
        var second = Create(RedisTestServer.Shared, Time, new QuotaOptions(), new FakeLogger<RedisQuotaLimiter>());
        var limit = new QuotaLimit(NewKey(), 100, TimeSpan.FromMinutes(1));

        await first.PauseAsync(limit.Key, TimeSpan.FromMinutes(1), CancellationToken.None);

        var refused = await AcquireAsync(second, limit);
        Assert.That(refused.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromMinutes(1)));
    }

    [Test]
    public async Task Redis_down_answers_unavailable_and_the_limiter_recovers_when_it_returns()
    {
        using var server = RedisTestServer.StartPrivate();
        var logger = new FakeLogger<RedisQuotaLimiter>();
        var limiter = Create(server, Time, new QuotaOptions { UnavailableRetryAfter = TimeSpan.FromMilliseconds(500) }, logger);
        var limit = new QuotaLimit(NewKey(), 5, TimeSpan.FromMinutes(1));
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Assert.That(limiter.IsHealthy);

        server.Stop();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var decision = await AcquireAsync(limiter, limit);
            Assert.That(decision.Kind, Is.EqualTo(QuotaDecisionKind.Unavailable));
            Assert.That(decision.RetryAfter, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
        }
        Assert.That(limiter.IsHealthy, Is.False);
        Assert.That(limiter.LastError, Is.Not.Null);
        Assert.That(logger.Collector.GetSnapshot().Count(r => r.Level == LogLevel.Warning), Is.EqualTo(1),
            "one warning per outage, not one per decision");

        server.Start();
        var first = await PollUntilDecidedAsync(limiter, limit);

        // The restarted server kept nothing (no persistence), so its counter starts empty; it still holds the limit.
        var allowed = first.IsAllowed ? 1 : 0;
        while ((await AcquireAsync(limiter, limit)).IsAllowed)
        {
            allowed++;
        }
        Assert.That(allowed, Is.EqualTo(limit.Limit));
        Assert.That(limiter.IsHealthy);
    }

    private static async Task<QuotaDecision> PollUntilDecidedAsync(IQuotaLimiter limiter, QuotaLimit limit)
    {
        // Reconnection is the multiplexer's own background work; nothing signals it.
        return await Eventually.UntilAsync(() => AcquireAsync(limiter, limit).AsTask(),
            decision => decision.Kind != QuotaDecisionKind.Unavailable, _ => "the limiter did not recover", TimeSpan.FromSeconds(30));
    }

    private RedisQuotaLimiter Create(RedisTestServer server, FakeTimeProvider time, QuotaOptions options, ILogger<RedisQuotaLimiter> logger)
    {
        var configuration = ConfigurationOptions.Parse(server.Configuration);
        configuration.AsyncTimeout = 1000;
        configuration.SyncTimeout = 1000;
        var connection = ConnectionMultiplexer.Connect(configuration);
        _connections.Add(connection);
        var redis = new RedisOptions { Configuration = server.Configuration, KeyPrefix = _prefix };
        return new RedisQuotaLimiter(connection, Options.Create(redis), Options.Create(options), time, logger);
    }
}
