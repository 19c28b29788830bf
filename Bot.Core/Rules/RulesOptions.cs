using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Rules;

/// <summary>The `Rules` configuration section.</summary>
public sealed class RulesOptions
{
    public const string Section = "Rules";

    /// <summary>The folder holding the rule files (*.yaml, *.yml), relative to the content root unless absolute.</summary>
    [Required]
    public string Path { get; set; } = "rules";

    /// <summary>The IANA time zone in which `between` and `quiet_hours` windows are read.</summary>
    [Required]
    [TimeZoneId]
    public string TimeZone { get; set; } = "Asia/Shanghai";

    /// <summary>Quiet time after the last file change before a reload, so an editor's several writes load once.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ReloadDebounce { get; set; } = TimeSpan.FromMilliseconds(500);

    // The caps below keep one careless edit (a pasted 50 MB text, a generated file of 100,000 rules) from going live
    // and holding the memory it takes; they are ours, far above what hand-written rules need. WeCom's own text limits
    // are not options: they are in RuleLimits.

    /// <summary>Largest rule file, in bytes; a bigger one is refused by its size, before it is read.</summary>
    [Range(typeof(long), "1024", "268435456")]
    public long MaxFileBytes { get; set; } = 4L << 20;

    /// <summary>Largest total of the folder's rule files, in bytes.</summary>
    [Range(typeof(long), "1024", "1073741824")]
    public long MaxFolderBytes { get; set; } = 16L << 20;

    /// <summary>Most rules the folder may hold, all sections together (the keyword benchmark runs 10,000).</summary>
    [Range(1, 1_000_000)]
    public int MaxRules { get; set; } = 10_000;

    /// <summary>
    /// Longest fixed text of a keyword reply, in UTF-8 bytes. Replies go by message/send or an AI bot's response_url,
    /// whose text limits shared/wecom/FACTS.md does not state; this is a generous cap of ours, not WeCom's.
    /// </summary>
    [Range(1, 65_536)]
    public int MaxReplyTextBytes { get; set; } = 4096;
}

/// <summary>Checks that a time zone id is known to this machine.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class TimeZoneIdAttribute : ValidationAttribute
{
    public TimeZoneIdAttribute()
        : base("The field {0} must be a time zone id known to this machine, like Asia/Shanghai.")
    {
    }

    public override bool IsValid(object? value) =>
        value is not string { Length: > 0 } id || TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);
}

[OptionsValidator]
internal sealed partial class RulesOptionsValidator : IValidateOptions<RulesOptions>;
