using Bot.Core.Campaigns.Lottery;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Campaigns.Preflight;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Campaigns;

public static class CampaignsServiceCollectionExtensions
{
    /// <summary>
    /// The campaigns: lotteries, seeding, mass-message tracking and broadcasts, their pre-flight checks, the rule sync
    /// that keeps them in step with the rule files, and <see cref="CampaignOutbound"/>, through which draws and seeding
    /// posts reach the outbox. Needs <c>AddOutbox</c>, <c>AddWeComApi</c> and <c>AddRateLimiting</c>. Safe to call more
    /// than once and in any order with the other AddXxx: the storage and rules the rule sync starts after are added
    /// here first, so their hosted services start before it.
    /// </summary>
    public static IHostApplicationBuilder AddCampaigns(this IHostApplicationBuilder builder)
    {
        builder.AddStorage();
        builder.AddRules();
        builder.AddLottery();
        builder.AddSeeding();
        builder.AddMassMessageTracking();
        var services = builder.Services;
        services.AddMemoryCache();
        services.TryAddSingleton<WeComDirectory>();
        services.TryAddSingleton<CustomerGroupStore>();
        services.TryAddSingleton<CampaignOutbound>();
        services.TryAddSingleton<LotteryAnnouncer>(static sp => sp.GetRequiredService<CampaignOutbound>().AnnounceAsync);
        services.TryAddSingleton<SeedingPostSink>(static sp => sp.GetRequiredService<CampaignOutbound>().PostSeedingAsync);
        services.TryAddSingleton<QuotaPreflight>();
        services.TryAddSingleton<CampaignPreflight>();
        services.AddHostedService<CampaignRuleSync>();
        return builder;
    }

    /// <summary>
    /// Broadcasts, and tracking of sent mass-message tasks (seeding posts, broadcasts) until their senders confirm them
    /// (section <c>MassMessages</c>). Needs <c>AddOutbox</c> and <c>AddWeComApi</c>. Safe to call more than once.
    /// </summary>
    public static IHostApplicationBuilder AddMassMessageTracking(this IHostApplicationBuilder builder)
    {
        builder.AddStorage();
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<MassMessageOptions, MassMessageOptionsValidator>().BindConfiguration(MassMessageOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MassMessageStore>();
        services.TryAddSingleton<CustomerLedger>();
        services.TryAddSingleton<BroadcastPlanner>();
        services.TryAddSingleton(static sp => new BroadcastService(
            sp.GetRequiredService<BotDatabase>(), sp.GetRequiredService<OutboxWriter>(), sp.GetRequiredService<BroadcastPlanner>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<SeedingStore>();
        services.TryAddSingleton<MassMessageReconciler>();
        services.TryAddSingleton<MassMessageTracker>();
        services.AddHostedService(static sp => sp.GetRequiredService<MassMessageTracker>());
        return builder;
    }
}
