using Bot.Core.Campaigns.Lottery;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Campaigns;

/// <summary>
/// Keeps the lottery and seeding capabilities in step with the live rule set: at start and on every accepted reload.
/// Refusals (an opened lottery edited) are logged and the stored definition stays in force.
/// </summary>
internal sealed partial class CampaignRuleSync(
    RuleSetProvider rules, LotteryService lotteries, SeedingService seeding, CampaignOutbound outbound, ILogger<CampaignRuleSync> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ApplyAsync(rules.Current, cancellationToken);
        rules.Changed += OnChanged;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        rules.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    // Event handlers cannot be awaited by the watcher that raises them; the task is owned and observed here.
    private void OnChanged(object? sender, RuleSetChangedEventArgs e) =>
        ApplyAsync(e.Current, CancellationToken.None).ContinueWith(
            t => Log.SyncFailed(logger, t.Exception!), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    internal async Task ApplyAsync(RuleSet ruleSet, CancellationToken ct)
    {
        foreach (var refusal in await lotteries.SyncDefinitionsAsync([.. ruleSet.Lotteries.Select(LotteryDefinition.From)], ct))
        {
            Log.LotteryRefused(logger, refusal);
        }
        await seeding.UpdateScripts([.. ruleSet.Seeding.Select(SeedingScript.From)], ct);
        await outbound.SyncWelcomeTemplatesAsync(ruleSet, ct);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Lottery rule change refused: {Reason}")]
        public static partial void LotteryRefused(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Error, "Applying the new rule set to lotteries and seeding failed")]
        public static partial void SyncFailed(ILogger logger, Exception exception);
    }
}
