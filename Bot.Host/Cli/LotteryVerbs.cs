using Bot.Core.Campaigns.Lottery;
using Bot.Core.Storage;

namespace Bot.Host.Cli;

/// <summary>lottery verify: a drawn lottery recomputed from its revealed seed and stored entries.</summary>
internal static class LotteryVerbs
{
    internal static async Task<int> VerifyAsync(string name, TextWriter output)
    {
        var builder = BotCommands.CommandHostBuilder();
        builder.AddLottery();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        return await host.Services.GetRequiredService<LotteryCommands>().VerifyAsync(name, output, CancellationToken.None);
    }
}
