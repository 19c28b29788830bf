using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Lottery;

public static partial class LotteryServiceCollectionExtensions
{
    /// <summary>
    /// Lottery entries, draws and the draw worker. Needs <c>AddStorage</c>. Register a
    /// <c>Func&lt;LotteryDrawResult, CancellationToken, Task&gt;</c> to send announcements and winner tags (the
    /// default only logs that nothing was sent), and a <see cref="LotteryWinnerNames"/> for display names (the default
    /// shows external user ids).
    /// </summary>
    public static IHostApplicationBuilder AddLottery(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<LotteryOptions, LotteryOptionsValidator>().BindConfiguration(LotteryOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<LotteryStore>();
        services.TryAddSingleton<LotteryWinnerNames>(static (_, _) => Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>()));
        services.TryAddSingleton<Func<LotteryDrawResult, CancellationToken, Task>>(static sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(LotteryDrawWorker));
            return (result, _) =>
            {
                Log.NoAnnouncer(logger, result.Lottery, result.Announcements.Count);
                return Task.CompletedTask;
            };
        });
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

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "No lottery announcer is registered: lottery {Lottery} was drawn but its {Count} announcements were not sent")]
        public static partial void NoAnnouncer(ILogger logger, string lottery, int count);
    }
}
