using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

/// <summary>The `Outbox` section: how the dispatcher claims, sends and retries.</summary>
public sealed class OutboxOptions
{
    public const string Section = "Outbox";

    /// <summary>
    /// Sends in flight at once in this instance. The quota rules, not this, decide how hard WeCom is called (the
    /// five-in-flight APIs have their own rule); this only hides each call's latency. 32 keeps welcomes within about a
    /// second at 1,000 callbacks/s on two cores (bench/RESULTS.md), where 8 left them 2 s behind.
    /// </summary>
    [Range(1, 256)]
    public int DispatcherConcurrency { get; set; } = 32;

    /// <summary>Most items taken in one claim.</summary>
    [Range(1, 1000)]
    public int ClaimBatchSize { get; set; } = 64;

    /// <summary>How long a claim is exclusive. A send must finish well within it; after it, the item is recovered.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts before a transiently failing item is recorded as failed.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>First retry delay after a transient failure; doubles each attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long quota-limited sending pauses when the limiter cannot be reached.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan UnavailableRetryDelay { get; set; } = TimeSpan.FromSeconds(1);
}

[OptionsValidator]
internal sealed partial class OutboxOptionsValidator : IValidateOptions<OutboxOptions>;
