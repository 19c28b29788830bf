using System.Text.Json;
using Bot.Core.Campaigns.Preflight;
using Bot.Core.Rules.Preview;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Inbox;
using Bot.Core.RateLimiting;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Storage;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

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
