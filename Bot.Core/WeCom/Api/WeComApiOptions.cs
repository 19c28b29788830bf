using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom.Api;

/// <summary>The `WeComApi` section: token caching and resilience of outbound WeCom calls.</summary>
public sealed class WeComApiOptions
{
    public const string Section = "WeComApi";

    /// <summary>A token is refreshed this long before WeCom says it expires (expires_in is normally 7200 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan TokenExpiryMargin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one instance may hold the shared refresh lock; bounds how long a dead holder blocks others.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan TokenRefreshLockTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Timeout of one HTTP attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:02:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries of transient failures (-1, 5xx, timeouts, connection errors) on calls that are safe to repeat.</summary>
    [Range(0, 10)]
    public int MaxTransientRetries { get; set; } = 3;

    /// <summary>First backoff of a transient retry; doubles per attempt, with jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan TransientBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Retries of 45033 (too many concurrent calls). 45009 is never retried here: the limiter pauses the window.</summary>
    [Range(0, 10)]
    public int MaxRateLimitedRetries { get; set; } = 2;

    /// <summary>First backoff after 45033; longer than the transient one, doubles per attempt, with jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RateLimitedBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Share of failed attempts (within <see cref="CircuitSamplingDuration"/>) that opens an API's circuit.</summary>
    [Range(0.01, 1.0)]
    public double CircuitFailureRatio { get; set; } = 0.5;

    /// <summary>Attempts needed in the sampling window before the circuit may open.</summary>
    [Range(2, 10_000)]
    public int CircuitMinimumThroughput { get; set; } = 10;

    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit refuses calls before letting one probe through.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one pooled connection to the API host lives before it is replaced (and DNS asked again).</summary>
    [Range(typeof(TimeSpan), "00:00:10", "01:00:00")]
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);
}

[OptionsValidator]
internal sealed partial class WeComApiOptionsValidator : IValidateOptions<WeComApiOptions>;
