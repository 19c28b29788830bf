using System.Globalization;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Core.Rules.Preview;

/// <summary>
/// A callback as it was received, for a backtest to replay: <paramref name="Kind"/> tells the robot's callbacks
/// (<c>robot/…</c>) from the app's. The caller maps its stored rows onto this, so Rules needs no store of its own.
/// </summary>
public sealed record RecordedCallback(string Kind, string Body, DateTimeOffset ReceivedAt);

/// <summary>
/// Replays recorded callbacks through a candidate rule set and the live one (no I/O; the caller reads them) and
/// counts how the planned actions differ, per action, rule and tag, and how many callbacks would get the same action
/// from the same rule with other content (words, attachments, channel). Used by `rules backtest`.
/// </summary>
public static class RuleBacktest
{
    /// <summary>
    /// One line of the difference: <paramref name="Delta"/> more (or fewer) <paramref name="Action"/> from <paramref name="Rule"/>;
    /// or, with <paramref name="Content"/>, that many callbacks for which the rule's action would carry other content.
    /// </summary>
    public sealed record Change(string Action, string? Tag, string Rule, int Delta, ContentChange? Content = null)
    {
        public override string ToString()
        {
            var count = Math.Abs(Delta).ToString(CultureInfo.InvariantCulture);
            return Content is { } c
                ? $"~{count} {Action} from {Rule}: {c.Field} \"{c.Before}\" \u2192 \"{c.After}\""
                : $"{(Delta > 0 ? "+" : "\u2212")}{count} {Action}{(Tag is null ? "" : " " + Tag)} from {Rule}";
        }
    }

    /// <summary>What differs, shown on the first callback it differs for: the field and a short excerpt before and after.</summary>
    public sealed record ContentChange(string Field, string Before, string After);

    public sealed record Result(int Callbacks, int Unparseable, IReadOnlyList<Change> Changes);

    public static bool TryParseSince(string text, out TimeSpan window) => RuleDuration.TryParse(text, out window) && window > TimeSpan.Zero;

    public static async Task<Result> CompareAsync(
        RuleSet live, RuleSet candidate, IAsyncEnumerable<RecordedCallback> callbacks, string timeZone, CancellationToken ct)
    {
        var counts = new Dictionary<(string Action, string? Tag, string Rule), int>();
        var changed = new Dictionary<(string Action, string Rule), (int Callbacks, ContentChange Example)>();
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
            var candidatePlan = RulePreview.PlanActions(candidate, callbackEvent, item.ReceivedAt, timeZone);
            var livePlan = RulePreview.PlanActions(live, callbackEvent, item.ReceivedAt, timeZone);
            Count(counts, candidatePlan, +1);
            Count(counts, livePlan, -1);
            CompareContent(changed, livePlan, candidatePlan);
        }
        var changes = counts
            .Where(c => c.Value != 0)
            .Select(c => new Change(c.Key.Action, c.Key.Tag, c.Key.Rule, c.Value))
            .Concat(changed.Select(c => new Change(c.Key.Action, null, c.Key.Rule, c.Value.Callbacks, c.Value.Example)))
            .OrderBy(c => c.Rule, StringComparer.Ordinal)
            .ThenBy(c => c.Action, StringComparer.Ordinal)
            .ThenBy(c => c.Tag, StringComparer.Ordinal)
            .ThenBy(c => c.Content is not null)
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

    /// <summary>
    /// Pairs the actions both rule sets plan for one callback by action and rule (in plan order) and records each
    /// pair whose content differs: counting only actions would call a reworded welcome "no change".
    /// Tags are not compared here; the per-tag counts already show a changed tag set.
    /// </summary>
    private static void CompareContent(
        Dictionary<(string Action, string Rule), (int Callbacks, ContentChange Example)> changed,
        IReadOnlyList<PlannedAction> live, IReadOnlyList<PlannedAction> candidate)
    {
        var unpaired = live.ToList();
        var counted = new HashSet<(string, string)>();
        foreach (var after in candidate)
        {
            var key = (RulePreview.Describe(after).Action, after.Rule.Name);
            var index = unpaired.FindIndex(a => a.GetType() == after.GetType() && a.Rule.Name == after.Rule.Name);
            if (index < 0)
            {
                continue;
            }
            var before = unpaired[index];
            unpaired.RemoveAt(index);
            if (Difference(before, after) is not { } difference || !counted.Add(key))
            {
                continue;
            }
            changed[key] = changed.TryGetValue(key, out var seen) ? (seen.Callbacks + 1, seen.Example) : (1, difference);
        }
    }

    private static ContentChange? Difference(PlannedAction before, PlannedAction after)
    {
        var a = Content(before);
        var b = Content(after);
        for (var i = 0; i < a.Count && i < b.Count; i++)
        {
            if (!string.Equals(a[i].Value, b[i].Value, StringComparison.Ordinal))
            {
                var (x, y) = Excerpt(a[i].Value, b[i].Value);
                return new ContentChange(a[i].Field, x, y);
            }
        }
        return null;
    }

    /// <summary>What the recipient would get from an action, field by field; actions without content have none.</summary>
    private static List<(string Field, string Value)> Content(PlannedAction action) => action switch
    {
        SendWelcome w => [("text", w.Text), ("attachments", Describe(w.Attachments))],
        Reply r => [("text", r.Text), ("attachments", Describe(r.Attachments))],
        GroupWelcomeCandidate g => GroupWelcomeContent(g),
        _ => [],
    };

    private static List<(string Field, string Value)> GroupWelcomeContent(GroupWelcomeCandidate g)
    {
        // Rendered with the placeholder left in: who joins is the same for both rule sets.
        var message = g.Definition.Render("{{members}}", g.GroupName);
        return
        [
            ("text", message.Text), ("attachments", Describe(message.Attachments)),
            ("channel", GroupChannelNames.Of(g.Channel)), ("batch", $"{g.Batch.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s"),
        ];
    }

    private static string Describe(IReadOnlyList<Attachment> attachments) =>
        attachments.Count == 0 ? "none" : string.Join(", ", attachments.Select(a => a switch
        {
            ImageAttachment i => $"image {i.MediaId ?? i.PicUrl}",
            LinkAttachment l => $"link {l.Title} {l.Url}{(l.Desc is null ? "" : " " + l.Desc)}{(l.PicUrl is null ? "" : " " + l.PicUrl)}",
            MiniProgramAttachment m => $"miniprogram {m.Title} {m.AppId} {m.Page} {m.PicMediaId}",
            VideoAttachment v => $"video {v.MediaId}",
            FileAttachment f => $"file {f.MediaId}",
            _ => a.GetType().Name,
        }));

    private const int WholeUpTo = 40, Context = 8, MiddleUpTo = 40;

    /// <summary>
    /// Short texts whole; longer ones as the part that differs with a few characters around it, cut at a word or
    /// punctuation boundary, so a one-word edit in a 4,000-byte welcome fits on one line.
    /// </summary>
    private static (string Before, string After) Excerpt(string before, string after)
    {
        if (before.Length <= WholeUpTo && after.Length <= WholeUpTo)
        {
            return (before, after);
        }
        var prefix = 0;
        while (prefix < before.Length && prefix < after.Length && before[prefix] == after[prefix])
        {
            prefix++;
        }
        var suffix = 0;
        while (suffix < before.Length - prefix && suffix < after.Length - prefix
            && before[before.Length - 1 - suffix] == after[after.Length - 1 - suffix])
        {
            suffix++;
        }
        var lead = LeadingContext(before[..prefix]);
        var trail = TrailingContext(before[(before.Length - suffix)..]);
        return (Frame(before[prefix..(before.Length - suffix)]), Frame(after[prefix..(after.Length - suffix)]));

        string Frame(string middle) =>
            (lead.Length < prefix ? "\u2026" : "") + lead
            + (middle.Length > MiddleUpTo ? middle[..MiddleUpTo] + "\u2026" : middle)
            + trail + (trail.Length < suffix ? "\u2026" : "");
    }

    private static string LeadingContext(string common)
    {
        if (common.Length <= Context)
        {
            return common;
        }
        var window = common[^Context..];
        var start = window.AsSpan().IndexOfAny(Boundaries);
        return start >= 0 && start < window.Length - 1 ? window[(start + 1)..] : window;
    }

    private static string TrailingContext(string common)
    {
        if (common.Length <= Context)
        {
            return common;
        }
        var window = common[..Context];
        var end = window.AsSpan().LastIndexOfAny(Boundaries);
        return end > 0 ? window[..end] : window;
    }

    private static readonly System.Buffers.SearchValues<char> Boundaries = System.Buffers.SearchValues.Create(
        " \t\n\"'，。！？、；：「」『』（）【】《》“”‘’,.!?;:()[]<>");
}
