using Bot.Core.Groups;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Campaigns.Seeding;

public static class SeedingServiceCollectionExtensions
{
    /// <summary>
    /// Seeding runs, their store and worker. The worker posts through the <see cref="SeedingPostSink"/> that
    /// <c>AddCampaigns</c> binds to the outbox. Needs <c>AddRateLimiting</c> (the receiving rule). Safe to call more
    /// than once and in any order: the storage and rules it starts after (quiet hours and cron are read in
    /// `Rules:TimeZone`) are added here first.
    /// </summary>
    public static IHostApplicationBuilder AddSeeding(this IHostApplicationBuilder builder)
    {
        builder.AddStorage();
        builder.AddRules();
        builder.Services.AddOptionsWithValidateOnStart<SeedingOptions, SeedingOptionsValidator>().BindConfiguration(SeedingOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton(new SeedingRandom(new Random()));
        builder.Services.TryAddSingleton<CustomerGroupStore>();
        builder.Services.TryAddSingleton<SeedingStore>();
        builder.Services.TryAddSingleton<SeedingService>();
        builder.Services.TryAddSingleton<SeedingWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SeedingWorker>());
        return builder;
    }
}
