using Bot.Core.Campaigns;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Handling;
using Bot.Core.Inbox;
using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Bot.Core.WeCom.Api;
using Bot.Core.WeCom.Callbacks;
using Bot.Host.Observability;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Bot.Tests.Lottery;

/// <summary>
/// The host's registrations in Program.cs order, reversed, and shuffled with repeats: every order gives the same
/// campaign wiring, because nothing is patched over a default afterwards.
/// </summary>
public sealed class CampaignRegistrationTests
{
    private static readonly Dictionary<string, Action<IHostApplicationBuilder>> Registrations = new()
    {
        ["storage"] = b => b.AddStorage(),
        ["redis"] = b => b.AddRedis(),
        ["callbacks"] = b => b.AddWeComCallbacks(),
        ["api"] = b => b.AddWeComApi(),
        ["rules"] = b => b.AddRules(),
        ["inbox"] = b => b.AddInbox(),
        ["ratelimiting"] = b => b.AddRateLimiting(),
        ["outbox"] = b => b.AddOutbox(),
        ["campaigns"] = b => b.AddCampaigns(),
        ["handling"] = b => b.AddHandling(),
        ["observability"] = b => b.AddObservability(),
    };

    [TestCase("storage redis callbacks api rules inbox ratelimiting outbox campaigns handling observability")]
    [TestCase("observability handling campaigns outbox ratelimiting inbox rules api callbacks redis storage")]
    [TestCase("campaigns handling observability outbox campaigns inbox ratelimiting api storage callbacks rules redis campaigns")]
    public void Any_registration_order_wires_the_campaigns_to_the_outbox_and_the_directory_once(string order)
    {
        var directory = Path.Combine(Path.GetTempPath(), "wecombot-registration-" + Guid.NewGuid().ToString("N"));
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["WeCom:CorpId"] = BotApp.CorpId,
            ["WeCom:AgentId"] = "1000002",
            ["WeCom:Secret"] = "test-secret-value",
            ["WeCom:Token"] = BotApp.Token,
            ["WeCom:EncodingAesKey"] = BotApp.EncodingAesKey,
            ["WeCom:ApiBaseUrl"] = "http://127.0.0.1:9/cgi-bin/",
            ["ConnectionStrings:Bot"] = $"Data Source={directory}.db",
            ["Rules:Path"] = RepoFiles.Path("rules"),
            ["Redis:Configuration"] = "",
        });
        foreach (var name in order.Split(' '))
        {
            Registrations[name](builder);
        }
        using var host = builder.Build();

        var hosted = host.Services.GetServices<IHostedService>().Select(s => s.GetType()).ToList();
        foreach (var worker in new[] { typeof(CampaignRuleSync), typeof(LotteryDrawWorker), typeof(SeedingWorker), typeof(MassMessageTracker) })
        {
            Assert.That(hosted.Count(t => t == worker), Is.EqualTo(1), $"{worker.Name} runs once");
        }
        var sync = hosted.IndexOf(typeof(CampaignRuleSync));
        Assert.That(hosted.FindIndex(t => t.Name == "MigrationHostedService"), Is.LessThan(sync), "the schema is migrated before the rule sync starts");
        Assert.That(hosted.IndexOf(typeof(RuleSetProvider)), Is.LessThan(sync), "the rules are loaded before the rule sync starts");

        var outbound = host.Services.GetRequiredService<CampaignOutbound>();
        Assert.That(host.Services.GetRequiredService<LotteryAnnouncer>().Target, Is.SameAs(outbound), "draws are announced through the outbox");
        Assert.That(host.Services.GetRequiredService<SeedingPostSink>().Target, Is.SameAs(outbound), "seeding posts go through the outbox");
        Assert.That(host.Services.GetRequiredService<LotteryWinnerNames>().Target, Is.SameAs(host.Services.GetRequiredService<LotteryWinnerLookup>()));
        Assert.That(host.Services.GetRequiredService<WeComDirectory>(), Is.Not.Null, "winners are named from the directory");
        // One broadcast service per host: a second instance would count on its own.
        Assert.That(host.Services.GetRequiredService<BroadcastService>(), Is.SameAs(host.Services.GetRequiredService<BroadcastService>()));
    }
}
