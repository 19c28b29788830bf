using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>The `Seeding` section.</summary>
public sealed class SeedingOptions
{
    public const string Section = "Seeding";

    /// <summary>A post overdue by more than this after downtime is skipped and logged, not fired late in a burst.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan OverdueGrace { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a claimed post stays reserved for the worker that claimed it.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Longest sleep between checks (new runs also wake the worker at once).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MaxIdle { get; set; } = TimeSpan.FromSeconds(30);
}

[OptionsValidator]
internal sealed partial class SeedingOptionsValidator : IValidateOptions<SeedingOptions>;
