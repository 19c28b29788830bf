using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// Parses the values rule fields hold (globs, time windows, durations, instants, cron starts, keywords, tags and
/// templates), reporting a bad one at its scalar. Each returns null for a field that is absent or refused.
/// </summary>
internal sealed class RuleValues(RuleReport report)
{
    private const string GroupCreatedStart = "group_created";

    private static readonly string[] InstantFormats =
        ["yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mmzzz", "yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz"];

    public Glob? Pattern(YamlScalarNode? node) =>
        node is null ? null : Glob.TryCompile(node.Value ?? "", out var error) ?? report.Refuse<Glob>(node, error!);

    /// <summary>The groups a lottery or seeding script is for; at least one pattern.</summary>
    public List<Glob>? GroupPatterns(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.Children.Count == 0)
        {
            return report.Refuse<List<Glob>>(node, "empty group list: use [\"*\"] for every group");
        }
        // Every pattern is compiled, so each bad one is reported, not only the first.
        var globs = node.Children.Select(c => Pattern((YamlScalarNode)c)).ToList();
        return globs.Contains(null) ? null : [.. globs.OfType<Glob>()];
    }

    public TimeWindow? Window(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        return TimeWindow.TryParse(node.Value ?? "", out var window, out var error) ? window : report.Refuse<TimeWindow?>(node, error!);
    }

    public TimeSpan? Duration(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        return RuleDuration.TryParse(node.Value ?? "", out var duration)
            ? duration
            : report.Refuse<TimeSpan?>(node, $"bad duration \"{node.Value}\": use a number with s, m, h or d, or a combination like 1h30m");
    }

    public DateTimeOffset? Instant(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        return DateTimeOffset.TryParseExact(node.Value, InstantFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant)
            ? instant
            : report.Refuse<DateTimeOffset?>(node, $"bad time \"{node.Value}\": expected an ISO 8601 time with its offset, like 2026-11-28T20:00:00+08:00");
    }

    /// <summary>A seeding script's start: when a matching group is created, or a cron expression with seconds.</summary>
    public SeedingStart? Start(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.Value == GroupCreatedStart)
        {
            return new SeedingStart(true, null);
        }
        try
        {
            return new SeedingStart(false, Cronos.CronExpression.Parse(node.Value ?? "", Cronos.CronFormat.IncludeSeconds));
        }
        catch (Cronos.CronFormatException ex)
        {
            return report.Refuse<SeedingStart>(node,
                $"bad start \"{node.Value}\": expected {GroupCreatedStart} or a cron expression with seconds like \"0 0 19 * * FRI\" ({ex.Message})");
        }
    }

    /// <summary>The value as written, or null after <paramref name="message"/> when it is blank.</summary>
    public string? NotBlank(YamlScalarNode? node, string message) =>
        node is null ? null : string.IsNullOrWhiteSpace(node.Value) ? report.Refuse<string>(node, message) : node.Value;

    /// <summary>A keyword, trimmed; a blank one is refused.</summary>
    public string? Keyword(YamlScalarNode? node) => NotBlank(node, "empty keyword")?.Trim();

    public List<string>? Keywords(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.Children.Count == 0)
        {
            return report.Refuse<List<string>>(node, "empty keyword list: a keyword rule needs at least one keyword");
        }
        var keywords = new List<string>();
        foreach (var child in node.Children.Cast<YamlScalarNode>())
        {
            if (Keyword(child) is not { } keyword)
            {
                return null;
            }
            keywords.Add(keyword);
        }
        return keywords;
    }

    /// <summary>Tags as "group/tag"; an absent list is an empty one.</summary>
    public List<string>? Tags(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return [];
        }
        var tags = new List<string>();
        var ok = true;
        foreach (var child in node.Children.Cast<YamlScalarNode>())
        {
            var tag = child.Value?.Trim() ?? "";
            var slash = tag.IndexOf('/');
            if (slash <= 0 || slash == tag.Length - 1)
            {
                report.Error(child, $"tag \"{tag}\" needs its tag group: write \"group/tag\", e.g. \"生命周期/新客\"");
                ok = false;
                continue;
            }
            tags.Add(tag);
        }
        return ok ? tags : null;
    }

    /// <summary>A text with the template variables of <paramref name="section"/>.</summary>
    public Template? Text(YamlScalarNode? node, string section, bool url = false)
    {
        if (node is null)
        {
            return null;
        }
        var problems = new List<Template.Problem>();
        var template = Template.Parse(node.Value ?? "", RuleFields.TemplateVariables[section], url, problems);
        report.TemplateProblems(node, problems);
        return problems.Count == 0 ? template : null;
    }

    /// <summary>
    /// Refuses a text whose fixed part alone is more than the API that sends it takes. Variables are not counted:
    /// their values are known only when sending.
    /// </summary>
    public bool Fits(YamlScalarNode? node, Template? template, TextLimit limit, string field)
    {
        if (node is null || template is null)
        {
            return true;
        }
        var bytes = template.LiteralUtf8Bytes();
        if (bytes <= limit.Bytes)
        {
            return true;
        }
        report.Error(node, string.Create(CultureInfo.InvariantCulture, $"{field} is {bytes:N0} bytes (UTF-8, not counting {{{{variables}}}}); {limit.Refusal}"));
        return false;
    }
}
