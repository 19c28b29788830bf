using System.Globalization;
using Bot.Core.Inbox;
using Bot.Core.Rules;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Core.Automation;

/// <summary>
/// Replays stored callbacks through a candidate rule set and the live one (no I/O beyond reading the inbox) and
/// counts how the planned actions differ, per action, rule and tag. Used by `rules backtest`.
/// </summary>
public static class RuleBacktest
{
    /// <summary>One line of the difference: <paramref name="Delta"/> more (or fewer) <paramref name="Action"/> from <paramref name="Rule"/>.</summary>
    public sealed record Change(string Action, string? Tag, string Rule, int Delta)
    {
        public override string ToString() =>
            $"{(Delta > 0 ? "+" : "\u2212")}{Math.Abs(Delta).ToString(CultureInfo.InvariantCulture)} {Action}{(Tag is null ? "" : " " + Tag)} from {Rule}";
    }

    public sealed record Result(int Callbacks, int Unparseable, IReadOnlyList<Change> Changes);

    public static bool TryParseSince(string text, out TimeSpan window) => RuleDuration.TryParse(text, out window) && window > TimeSpan.Zero;

    public static async Task<Result> CompareAsync(
        RuleSet live, RuleSet candidate, IAsyncEnumerable<InboxItem> callbacks, string timeZone, CancellationToken ct)
    {
        var counts = new Dictionary<(string Action, string? Tag, string Rule), int>();
        int total = 0, unparseable = 0;
        await foreach (var item in callbacks.WithCancellation(ct))
        {
            total++;
            CallbackEvent callbackEvent;
            try
            {
                callbackEvent = item.Kind.StartsWith("robot/", StringComparison.Ordinal)
                    ? RobotCallbackParser.Parse(item.Body, item.ReceivedAt).Event
                    : CallbackParser.Parse(item.Body).Event;
            }
            catch (CallbackFormatException)
            {
                unparseable++;
                continue;
            }
            // Planned at the callback's arrival, so time windows (`between`, quiet hours) decide as they did live.
            Count(counts, RulePreview.PlanActions(candidate, callbackEvent, item.ReceivedAt, timeZone), +1);
            Count(counts, RulePreview.PlanActions(live, callbackEvent, item.ReceivedAt, timeZone), -1);
        }
        var changes = counts
            .Where(c => c.Value != 0)
            .Select(c => new Change(c.Key.Action, c.Key.Tag, c.Key.Rule, c.Value))
            .OrderBy(c => c.Rule, StringComparer.Ordinal)
            .ThenBy(c => c.Action, StringComparer.Ordinal)
            .ThenBy(c => c.Tag, StringComparer.Ordinal)
            .ToList();
        return new Result(total, unparseable, changes);
    }

    private static void Count(Dictionary<(string, string?, string), int> counts, IReadOnlyList<PlannedAction> plan, int sign)
    {
        foreach (var action in plan)
        {
            switch (action)
            {
                case WelcomeSkipped:
                    // A skipped welcome sends nothing.
                    break;
                case AddTags tags:
                    // One line per tag, so a changed tag list shows which tags come and go.
                    foreach (var tag in tags.Tags)
                    {
                        Add(counts, (RulePreview.Describe(action).Action, tag, action.Rule.Name), sign);
                    }
                    break;
                default:
                    Add(counts, (RulePreview.Describe(action).Action, null, action.Rule.Name), sign);
                    break;
            }
        }
    }

    private static void Add(Dictionary<(string, string?, string), int> counts, (string, string?, string) key, int sign) =>
        counts[key] = counts.GetValueOrDefault(key) + sign;
}
