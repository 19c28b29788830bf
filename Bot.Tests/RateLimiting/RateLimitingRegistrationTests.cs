using Bot.Core.RateLimiting;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bot.Tests.RateLimiting;

public sealed class RateLimitingRegistrationTests
{
    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddRateLimiting();
        return builder.Build();
    }

    [Test]
    public async Task Without_redis_the_in_process_limiter_is_used()
    {
        using var host = Build([]);
        await host.StartAsync();

        Assert.That(host.Services.GetRequiredService<IQuotaLimiter>(), Is.TypeOf<InProcessQuotaLimiter>());
        Assert.That(host.Services.GetRequiredService<QuotaCatalog>().LimitsFor(new QuotaSubject("user/get")), Has.Count.EqualTo(2));
        await host.StopAsync();
    }

    [Test]
    public async Task With_redis_configured_the_shared_limiter_is_used_and_reports_ready()
    {
        using var host = Build(new()
        {
            ["Redis:Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
        });
        await host.StartAsync();

        var limiter = host.Services.GetRequiredService<IQuotaLimiter>();
        Assert.That(limiter, Is.TypeOf<RedisQuotaLimiter>());
        var decision = await limiter.TryAcquireAsync(
            host.Services.GetRequiredService<QuotaCatalog>().LimitsFor(new QuotaSubject("user/get")), CancellationToken.None);
        Assert.That(decision.IsAllowed);
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(c => c.Tags.Contains("ready"));
        Assert.That(health.Entries[RateLimitingServiceCollectionExtensions.HealthCheckName].Status, Is.EqualTo(HealthStatus.Healthy));
        await host.StopAsync();
    }

    [TestCase("Quotas:TimeZone", "Mars/Olympus", "Quotas:TimeZone")]
    [TestCase("Quotas:UnavailableRetryAfter", "00:10:00", "UnavailableRetryAfter")]
    [TestCase("Quotas:Rules:api-per-minute:Limit", "0", "Quotas:Rules:api-per-minute")]
    [TestCase("Quotas:Rules:robot:Window", "Fortnight", "Quotas:Rules:robot")]
    [TestCase("Quotas:Rules:robot:Key", "{robotkey}", "Quotas:Rules:robot")]
    [TestCase("Quotas:MassMessageReceivingRule", "TwicePerDay", "MassMessageReceivingRule")]
    public void Invalid_quota_configuration_stops_start_up_and_names_the_key(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            [key] = value,
            ["Quotas:Rules:robot:Key"] = "{robot}",
            ["Quotas:Rules:robot:Limit"] = "20",
            ["Quotas:Rules:robot:Window"] = "00:01:00",
            ["Quotas:Rules:api-per-minute:Key"] = "{api}",
            ["Quotas:Rules:api-per-minute:Window"] = "00:01:00",
        };
        settings[key] = value;
        using var host = Build(settings);

        var error = Assert.CatchAsync(() => host.StartAsync());

        Assert.That(error, Is.InstanceOf<OptionsValidationException>().Or.InstanceOf<InvalidOperationException>());
        Assert.That(error!.Message, Does.Contain(named));
        TestContext.Out.WriteLine(error.Message);
    }
}
