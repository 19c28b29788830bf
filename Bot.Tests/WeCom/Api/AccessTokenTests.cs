using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

public sealed class AccessTokenTests
{
    private WireMockServer _weCom = null!;

    [SetUp]
    public void StartWeCom() => _weCom = WireMockServer.Start();

    [TearDown]
    public void StopWeCom() => _weCom.Dispose();

    [Test]
    public async Task Token_is_fetched_once_and_reused_until_the_expiry_margin_is_reached()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        _weCom.GivenTokens("tok1", "tok2");
        _weCom.GivenUser();
        using var bot = WeComApiHarness.Create(_weCom, time);

        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(7200 - 300 - 1));
        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1), "still inside expires_in minus the 5 min margin");

        time.Advance(TimeSpan.FromSeconds(2));
        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);

        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(2));
        Assert.That(_weCom.Requests("user/get").Select(FakeWeCom.TokenOf), Is.EqualTo(new[] { "tok1", "tok1", "tok1", "tok2" }));
    }

    [Test]
    public async Task A_hundred_concurrent_calls_cause_exactly_one_gettoken()
    {
        _weCom.GivenToken("tok1", delay: TimeSpan.FromMilliseconds(200));
        _weCom.GivenUser();
        using var bot = WeComApiHarness.Create(_weCom);

        var users = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => bot.Client.GetUserAsync("zhangsan", CancellationToken.None)));

        Assert.That(users.Select(u => u.Name), Is.All.EqualTo("张三"));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1));
        Assert.That(_weCom.Count("user/get"), Is.EqualTo(100));
    }

    [Test]
    public async Task Callers_keep_using_the_current_token_while_one_caller_refreshes()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        var scenario = "slow-second-token";
        _weCom.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet()).InScenario(scenario).WillSetStateTo("second")
            .RespondWith(FakeWeCom.TokenReply("tok1"));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _weCom.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet()).InScenario(scenario).WhenStateIs("second")
            .RespondWith(Response.Create().WithCallback(async _ =>
            {
                // Holds the refresh open until the other callers are done.
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
                return (WireMock.IResponseMessage)new WireMock.ResponseMessage
                {
                    StatusCode = 200,
                    BodyData = new WireMock.Util.BodyData
                    {
                        BodyAsString = FakeWeCom.Json(0, extra: "\"access_token\":\"tok2\",\"expires_in\":7200"),
                        DetectedBodyType = WireMock.Types.BodyType.String,
                    },
                };
            }));
        _weCom.GivenUser();
        using var bot = WeComApiHarness.Create(_weCom, time);
        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(7200 - 60));

        var refresher = bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        var others = Task.WhenAll(Enumerable.Range(0, 10).Select(_ => bot.Client.GetUserAsync("zhangsan", CancellationToken.None)));
        var first = await Task.WhenAny(others, refresher).WaitAsync(TimeSpan.FromSeconds(10));
        release.SetResult();
        await refresher.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(first, Is.SameAs(others), "the other callers finished while the refresh was still held open");
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(2));
        var tokens = _weCom.Requests("user/get").Select(FakeWeCom.TokenOf).ToList();
        Assert.That(tokens.Count(t => t == "tok1"), Is.EqualTo(11));
        Assert.That(tokens.Count(t => t == "tok2"), Is.EqualTo(1));
    }

    [TestCase(WeComErrorCodes.AccessTokenExpired)]
    [TestCase(WeComErrorCodes.InvalidAccessToken)]
    public async Task Rejected_token_is_refreshed_and_the_call_retried_once(int errCode)
    {
        _weCom.GivenTokens("tok1", "tok2");
        _weCom.GivenUser(token: "tok1", errCode: errCode);
        _weCom.GivenUser(token: "tok2");
        using var bot = WeComApiHarness.Create(_weCom);

        var user = await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);

        Assert.That(user.UserId, Is.EqualTo("zhangsan"));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(2));
        Assert.That(_weCom.Requests("user/get").Select(FakeWeCom.TokenOf), Is.EqualTo(new[] { "tok1", "tok2" }));
    }

    [Test]
    public async Task A_token_rejected_again_after_the_refresh_fails_the_call_without_a_third_gettoken()
    {
        _weCom.GivenTokens("tok1", "tok2", "tok3");
        _weCom.GivenUser(errCode: WeComErrorCodes.AccessTokenExpired);
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.GetUserAsync("zhangsan", CancellationToken.None));

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.TokenInvalid));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(2));
        Assert.That(_weCom.Count("user/get"), Is.EqualTo(2));
    }

    [Test]
    public async Task Concurrent_rejections_of_one_token_cause_one_refresh()
    {
        _weCom.GivenTokens("tok1", "tok2", "tok3");
        _weCom.GivenUser(token: "tok1", errCode: WeComErrorCodes.InvalidAccessToken);
        _weCom.GivenUser(token: "tok2");
        using var bot = WeComApiHarness.Create(_weCom);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => bot.Client.GetUserAsync("zhangsan", CancellationToken.None)));

        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(2));
    }

    [Test]
    public void Invalid_secret_is_a_configuration_error()
    {
        _weCom.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet()).RespondWith(FakeWeCom.Reply(WeComErrorCodes.InvalidSecret));
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.GetUserAsync("zhangsan", CancellationToken.None));

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.Configuration));
        Assert.That(error.Api, Is.EqualTo("gettoken"));
        Assert.That(_weCom.Count("gettoken"), Is.EqualTo(1), "a configuration error is not retried");
        Assert.That(_weCom.Count("user/get"), Is.Zero);
    }
}
