using Bot.Core.Groups;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Campaigns.Seeding;

public static class SeedingServiceCollectionExtensions
{
    /// <summary>
    /// Seeding runs, their store and worker. The host registers the <see cref="SeedingPostSink"/> (the outbox). Needs
    /// <c>AddRules</c> (quiet hours and cron are read in `Rules:TimeZone`) and <c>AddRateLimiting</c> (the receiving rule).
    /// </summary>
    public static IHostApplicationBuilder AddSeeding(this IHostApplicationBuilder builder)
    {
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
