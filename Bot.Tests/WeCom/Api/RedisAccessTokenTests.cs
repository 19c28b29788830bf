using Bot.Tests.Fixtures;
using StackExchange.Redis;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

/// <summary>Several bot instances (separate DI containers) sharing one real Redis, each test under its own key prefix.</summary>
public sealed class RedisAccessTokenTests
{
    private WireMockServer _weCom = null!;
    private ConnectionMultiplexer _redisConnection = null!;
    private Dictionary<string, string?> _redis = null!;

    [SetUp]
    public void Start()
    {
        _weCom = WireMockServer.Start();
        _redisConnection = ConnectionMultiplexer.Connect(RedisTestServer.Shared.Configuration);
        _redis = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
        };
    }

    [TearDown]
    public void Stop()
    {
        _weCom.Dispose();
        _redisConnection.Dispose();
    }

    private WeComApiHarness NewInstance(IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>(_redis);
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return WeComApiHarness.Create(_weCom, settings: settings);
    }

    private string TokenKey => $"{_redis["Redis:KeyPrefix"]}wecom:token:{WeComApiHarness.CorpId}:1000002";

    [Test]
    public async Task Two_instances_racing_on_an_empty_cache_call_gettoken_once()
    {
        _weCom.GivenToken("tok1", delay: TimeSpan.FromMilliseconds(300));
        _weCom.GivenUser();
        using var a = NewInstance();
        using var b = NewInstance();

        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => (i % 2 == 0 ? a : b).Client.GetUserAsync("zhangsan", CancellationToken.None)));

        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1));
        Assert.That(_weCom.Requests("user/get").Select(FakeWeCom.TokenOf), Is.All.EqualTo("tok1"));
    }

    [Test]
    public async Task A_failure_with_an_old_token_does_not_delete_the_newer_token_another_instance_stored()
    {
        _weCom.GivenTokens("tok2", "tok3");
        _weCom.GivenUser(token: "tok1", errCode: 42001);
        _weCom.GivenUser(token: "tok2");
        using var a = NewInstance();
        using var b = NewInstance();
        // Both instances hold tok1, stored earlier as generation 1, which WeCom has since expired.
        await SeedSharedTokenAsync("tok1");
        await Task.WhenAll(WarmAsync(a), WarmAsync(b));

        await b.Client.GetUserAsync("zhangsan", CancellationToken.None);
        await a.Client.GetUserAsync("zhangsan", CancellationToken.None);

        var stored = await Db().HashGetAsync(TokenKey, "v");
        Assert.That((string?)stored, Is.EqualTo("tok2"), "A's stale failure left B's token in place");
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1), "only B refreshed; A picked up B's token");
        Assert.That(_weCom.Requests("user/get").Select(FakeWeCom.TokenOf), Is.EqualTo(new[] { "tok1", "tok2", "tok1", "tok2" }));
    }

    [Test]
    public async Task A_refresh_lock_left_by_a_dead_instance_blocks_callers_only_until_it_expires()
    {
        _weCom.GivenToken("tok1");
        _weCom.GivenUser();
        using var bot = NewInstance(new Dictionary<string, string?> { ["WeComApi:TokenRefreshLockTimeout"] = "00:00:01" });
        var lockKey = $"{_redis["Redis:KeyPrefix"]}wecom:token-lock:{WeComApiHarness.CorpId}:1000002";
        await Db().StringSetAsync(lockKey, "dead-instance", TimeSpan.FromSeconds(1));

        var user = await bot.Client.GetUserAsync("zhangsan", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.That(user.UserId, Is.EqualTo("zhangsan"));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1));
    }

    [Test]
    public async Task Calls_keep_working_with_a_locally_fetched_token_while_redis_is_down()
    {
        _weCom.GivenToken("tok1");
        _weCom.GivenUser();
        using var redis = RedisTestServer.StartPrivate();
        using var bot = WeComApiHarness.Create(_weCom, settings: new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
        });
        redis.Stop();

        var user = await bot.Client.GetUserAsync("zhangsan", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);

        Assert.That(user.UserId, Is.EqualTo("zhangsan"));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1), "the local token is cached like any other");
        Assert.That(bot.Logs.GetSnapshot().Any(r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.Contains("Redis is unavailable")), Is.True);
    }

    private IDatabase Db() => _redisConnection.GetDatabase();

    // Puts tok1 into Redis as generation 1, as an earlier refresh by either instance would have.
    private async Task SeedSharedTokenAsync(string token)
    {
        var now = DateTimeOffset.UtcNow;
        await Db().HashSetAsync(TokenKey,
        [
            new HashEntry("v", token), new HashEntry("g", 1),
            new HashEntry("r", (now + TimeSpan.FromHours(1)).ToUnixTimeMilliseconds()),
            new HashEntry("e", (now + TimeSpan.FromHours(2)).ToUnixTimeMilliseconds()),
        ]);
        await Db().StringSetAsync($"{_redis["Redis:KeyPrefix"]}wecom:token-generation:{WeComApiHarness.CorpId}:1000002", 1);
    }

    // Loads the shared token into the instance's own cache without calling any API.
    private static async Task WarmAsync(WeComApiHarness instance)
    {
        var cache = (Bot.Core.WeCom.Api.AccessTokenCache)instance.Host.Services.GetService(typeof(Bot.Core.WeCom.Api.AccessTokenCache))!;
        var token = await cache.GetAsync(CancellationToken.None);
        Assert.That(token.Value, Is.EqualTo("tok1"));
    }
}
