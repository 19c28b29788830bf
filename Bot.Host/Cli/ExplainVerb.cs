using Bot.Core.Inbox;
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
        builder.AddInbox();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        var items = await host.Services.GetRequiredService<OutboxStore>().ListByCustomerAsync(customer, 1000, CancellationToken.None);
        var entries = await host.Services.GetRequiredService<LotteryService>().EntriesOfAsync(customer, CancellationToken.None);
        // A callback still waiting, or parked after failing, explains an empty outbox better than "nothing sent".
        var callbacks = await host.Services.GetRequiredService<InboxStore>().ListUnhandledMentioningAsync(customer, 100, CancellationToken.None);
        if (items.Count == 0 && entries.Count == 0 && callbacks.Count == 0)
        {
            output.WriteLine($"{customer}: nothing sent, tagged, planned or entered");
            return 0;
        }
        // One timeline, newest first: outbox items (with the rule and callback behind each), lottery entries, and
        // callbacks about the customer that are not handled yet.
        var lines = items.Select(item => (item.CreatedAt, Text: Describe(item)))
            .Concat(entries.Select(e => (CreatedAt: e.EnteredAt, Text: $"{"lottery_entry",-20} {"entered",-8} lottery {e.Lottery} via {e.Source}{(e.ChatId is null ? "" : $" in {e.ChatId}")}")))
            .Concat(callbacks.Select(c => (CreatedAt: c.ReceivedAt, Text: DescribeCallback(c))))
            .OrderByDescending(l => l.CreatedAt);
        foreach (var (at, text) in lines)
        {
            output.WriteLine($"{at:u}  {text}");
        }
        return 0;

        static string DescribeCallback(InboxRecord callback)
        {
            var state = callback.State == InboxState.Parked ? "parked" : "pending";
            var error = callback.LastError is null ? "" : $": {callback.LastError}";
            var next = callback.State == InboxState.Parked
                ? " (replay it from /admin/inbox/parked once the cause is fixed)"
                : $", attempt {callback.Attempts + 1} due {callback.NextAttemptAt:u}";
            return $"{"callback " + callback.Kind,-20} {state,-8} callback {callback.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)}{next}{error}";
        }

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
