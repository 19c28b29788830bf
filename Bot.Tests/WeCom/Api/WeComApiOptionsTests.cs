using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

public sealed class WeComApiOptionsTests
{
    [TestCase("WeComApi:AttemptTimeout", "00:00:00")]
    [TestCase("WeComApi:MaxTransientRetries", "-1")]
    [TestCase("WeComApi:CircuitMinimumThroughput", "1")]
    [TestCase("WeComApi:PooledConnectionLifetime", "00:00:01")]
    public void Invalid_api_options_stop_start_up_and_name_the_key(string key, string value)
    {
        using var weCom = WireMockServer.Start();
        using var bot = WeComApiHarness.Create(weCom, settings: new Dictionary<string, string?> { [key] = value });

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => bot.Host.StartAsync());

        Assert.That(error!.Message, Does.Contain(key.Split(':')[1]));
    }

    [Test]
    public async Task With_default_api_options_the_host_starts_and_the_client_reaches_the_configured_api()
    {
        using var weCom = WireMockServer.Start();
        weCom.GivenToken("tok-default");
        weCom.GivenUser("tok-default");
        using var bot = WeComApiHarness.Create(weCom);

        await bot.Host.StartAsync();
        var user = await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        await bot.Host.StopAsync();

        Assert.That(user.Name, Is.EqualTo("张三"));
        Assert.That(weCom.Count("user/get"), Is.EqualTo(1));
    }

    [Test]
    public void The_api_client_rotates_its_connections_so_a_changed_dns_answer_is_seen()
    {
        using var weCom = WireMockServer.Start();
        using var bot = WeComApiHarness.Create(weCom, settings: new Dictionary<string, string?> { ["WeComApi:PooledConnectionLifetime"] = "00:02:00" });

        // The typed client lives as long as the singletons holding it, so rotation must come from the connection pool.
        var handler = bot.Host.Services.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(WeComApiClient.HttpClientName);
        HttpMessageHandler? current = handler;
        while (current is DelegatingHandler delegating)
        {
            current = delegating.InnerHandler;
        }

        Assert.That(current, Is.InstanceOf<SocketsHttpHandler>());
        Assert.That(((SocketsHttpHandler)current!).PooledConnectionLifetime, Is.EqualTo(TimeSpan.FromMinutes(2)));
    }
}
