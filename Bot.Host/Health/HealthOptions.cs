using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Host.Health;

/// <summary>The `Health` section.</summary>
public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>
    /// How long one readiness check may take before it reports what it saw as a failure. The checks run side by side,
    /// so /readyz answers in about this long at worst; the Kubernetes probe gives up after 2 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:01.500")]
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromMilliseconds(500);
}

[OptionsValidator]
internal sealed partial class HealthOptionsValidator : IValidateOptions<HealthOptions>;
