using Bot.Core.Outbox;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Storage;

namespace Bot.Host.Cli;

/// <summary>explain: one customer's timeline of what the bot sent, tagged and entered, with the rule and callback behind each.</summary>
internal static class ExplainVerb
{
    internal static async Task<int> ExplainAsync(string customer, TextWriter output)
    {
        var builder = BotCommands.CommandHostBuilder();
        builder.AddOutbox();
        builder.AddLottery();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        var items = await host.Services.GetRequiredService<OutboxStore>().ListByCustomerAsync(customer, 1000, CancellationToken.None);
        var entries = await host.Services.GetRequiredService<LotteryService>().EntriesOfAsync(customer, CancellationToken.None);
        if (items.Count == 0 && entries.Count == 0)
        {
            output.WriteLine($"{customer}: nothing sent, tagged, planned or entered");
            return 0;
        }
        // One timeline, newest first: outbox items (with the rule and callback behind each) and lottery entries.
        var lines = items.Select(item => (item.CreatedAt, Text: Describe(item)))
            .Concat(entries.Select(e => (CreatedAt: e.EnteredAt, Text: $"{"lottery_entry",-20} {"entered",-8} lottery {e.Lottery} via {e.Source}{(e.ChatId is null ? "" : $" in {e.ChatId}")}")))
            .OrderByDescending(l => l.CreatedAt);
        foreach (var (at, text) in lines)
        {
            output.WriteLine($"{at:u}  {text}");
        }
        return 0;

        static string Describe(OutboxItem item)
        {
            var p = item.Provenance;
            var why = p.RuleName is null
                ? "no rule"
                : $"rule {p.RuleName} ({p.RuleFile}:{p.RuleLine}, rules {p.RuleSetVersion})";
            var callback = p.CallbackId is null ? "" : $", callback {p.CallbackId}";
            var error = item.LastError is null ? "" : $": {item.LastError}";
            return $"{item.Kind,-20} {OutboxStore.ToText(item.State),-8} {why}{callback}{error}";
        }
    }
}
