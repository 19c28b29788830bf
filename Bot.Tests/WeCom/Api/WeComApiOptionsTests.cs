using Microsoft.Extensions.Options;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

public sealed class WeComApiOptionsTests
{
    [TestCase("WeComApi:AttemptTimeout", "00:00:00")]
    [TestCase("WeComApi:MaxTransientRetries", "-1")]
    [TestCase("WeComApi:CircuitMinimumThroughput", "1")]
    public void Invalid_api_options_stop_start_up_and_name_the_key(string key, string value)
    {
        using var weCom = WireMockServer.Start();
        using var bot = WeComApiHarness.Create(weCom, settings: new Dictionary<string, string?> { [key] = value });

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => bot.Host.StartAsync());

        Assert.That(error!.Message, Does.Contain(key.Split(':')[1]));
    }

    [Test]
    public async Task Default_api_options_start()
    {
        using var weCom = WireMockServer.Start();
        using var bot = WeComApiHarness.Create(weCom);

        await bot.Host.StartAsync();
        await bot.Host.StopAsync();
    }
}
