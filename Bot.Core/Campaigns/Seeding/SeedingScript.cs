using Bot.Core.Rules;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>
/// A "trumpet" seeding script as the rule files define it (`seeding:`), built from the compiled rule by
/// <see cref="From"/>; <see cref="MatchesGroup"/> is the rule's own compiled group globs.
/// </summary>
public sealed record SeedingScript(
    string Name,
    IReadOnlyList<string> GroupGlobs,
    SeedingStart Start,
    QuietHours? QuietHours,
    TimeSpan Jitter,
    IReadOnlyList<SeedingStep> Posts,
    Func<string, bool> MatchesGroup)
{
    /// <summary>
    /// Whether its posts are mass messages (sent as the trumpets), which the group's receiving rule caps; a script on
    /// the robot channel posts through the group robot, which the rule does not count.
    /// </summary>
    public bool CountsAgainstReceivingRule { get; init; } = true;

    /// <summary>The script of a compiled `seeding` rule.</summary>
    internal static SeedingScript From(SeedingRule rule) => new(
        rule.Source.Name,
        [.. rule.Groups.Select(g => g.Pattern)],
        rule.Start.OnGroupCreated ? SeedingStart.GroupCreated : new SeedingStart(false, rule.Start.Cron),
        rule.QuietHours is { } quiet ? new QuietHours(quiet.Start, quiet.End) : null,
        rule.Jitter,
        // Seeding text has no variables; rendering with none gives the text as written.
        [.. rule.Posts.Select(p => new SeedingStep(p.After, p.By, p.Text.Render([])))],
        rule.AppliesToGroup)
    {
        CountsAgainstReceivingRule = rule.Channel != GroupChannel.Robot,
    };

    /// <summary>A fingerprint of what a run depends on, so a run can tell when its script was edited or removed.</summary>
    public string Fingerprint { get; } = Fingerprints.Of(Name, string.Join('|', GroupGlobs), Start.Cron?.ToString() ?? "created",
        QuietHours?.ToString() ?? "", Jitter.ToString(), string.Join('|', Posts.Select(p => $"{p.After}/{p.By}/{p.Text}")));
}

internal static class Fingerprints
{
    public static string Of(params string[] parts) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\u001f', parts))))[..16];
}

/// <summary>One scripted post: <see cref="After"/> the start, sent as the trumpet member <see cref="By"/>.</summary>
public sealed record SeedingStep(TimeSpan After, string By, string Text);

/// <summary>Either on the external chat "create" event, or on each occurrence of a cron expression (Cronos, with seconds).</summary>
public sealed record SeedingStart(bool OnGroupCreated, Cronos.CronExpression? Cron)
{
    public static SeedingStart GroupCreated { get; } = new(true, null);

    public static SeedingStart Schedule(string cron) => new(false, Cronos.CronExpression.Parse(cron, Cronos.CronFormat.IncludeSeconds));
}

/// <summary>A local-time window (may wrap midnight, e.g. 22:00-08:00) in which posts wait until it ends.</summary>
public sealed record QuietHours(TimeOnly From, TimeOnly To)
{
    public bool Contains(TimeOnly time) => From <= To
        ? time >= From && time < To
        : time >= From || time < To;

    /// <summary>The first local moment at or after <paramref name="local"/> that lies outside the window.</summary>
    public DateTime EndOf(DateTime local)
    {
        if (!Contains(TimeOnly.FromDateTime(local)))
        {
            return local;
        }
        var end = local.Date + To.ToTimeSpan();
        return end > local ? end : end.AddDays(1);
    }
}
