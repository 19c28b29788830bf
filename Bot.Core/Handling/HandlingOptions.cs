using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Handling;

/// <summary>The `Handling` section: how callback handling bounds the work in front of a time-limited reply.</summary>
public sealed class HandlingOptions
{
    public const string Section = "Handling";

    /// <summary>
    /// How long the customer and guide name lookups may take before a welcome is queued without the names. A welcome
    /// code lives 20 s (shared/wecom/FACTS.md), and a lookup that retries a slow or busy directory could take all of it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:10")]
    public TimeSpan WelcomeLookupBudget { get; set; } = TimeSpan.FromSeconds(3);
}

[OptionsValidator]
internal sealed partial class HandlingOptionsValidator : IValidateOptions<HandlingOptions>;
