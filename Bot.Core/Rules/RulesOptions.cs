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
