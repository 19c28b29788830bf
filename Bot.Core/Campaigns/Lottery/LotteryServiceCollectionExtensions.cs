using Bot.Core.Contacts;
using Bot.Core.Storage;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Lottery;

public static class LotteryServiceCollectionExtensions
{
    /// <summary>
    /// Lottery entries, draws and the draw worker, with winners named from the WeCom directory when the host has one.
    /// The worker announces through the <see cref="LotteryAnnouncer"/> that <c>AddCampaigns</c> binds to the outbox.
    /// Safe to call more than once and in any order: the storage it starts after is added here first.
    /// </summary>
    public static IHostApplicationBuilder AddLottery(this IHostApplicationBuilder builder)
    {
        builder.AddStorage();
        builder.AddContacts();
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<LotteryOptions, LotteryOptionsValidator>().BindConfiguration(LotteryOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<LotteryStore>();
        // The directory is optional: the CLI's `lottery verify` has no WeCom API and shows ids.
        services.TryAddSingleton(static sp => new LotteryWinnerLookup(
            sp.GetService<WeComDirectory>(), sp.GetRequiredService<ContactPreferenceStore>(), sp.GetRequiredService<ILogger<LotteryWinnerLookup>>()));
        services.TryAddSingleton<LotteryWinnerNames>(static sp => sp.GetRequiredService<LotteryWinnerLookup>().NamesAsync);
        services.TryAddSingleton(static sp => new LotteryService(
            sp.GetRequiredService<LotteryStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<LotteryWinnerNames>(),
            sp.GetRequiredService<IOptionsMonitor<LotteryOptions>>(),
            sp.GetRequiredService<ILogger<LotteryService>>()));
        services.TryAddSingleton<LotteryCommands>();
        services.TryAddSingleton<LotteryDrawWorker>();
        services.AddHostedService(static sp => sp.GetRequiredService<LotteryDrawWorker>());
        return builder;
    }
}
