using System.Collections.Frozen;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// One resilience pipeline per API, built once: 45033 retry (longer backoff) → transient retry → circuit breaker →
/// per-attempt timeout. Every predicate looks at the parsed errcode (a <see cref="WeComApiException"/>), never at
/// raw HTTP, and a timeout is retried only for APIs that are safe to repeat.
/// </summary>
internal sealed class WeComApiResilience
{
    private readonly FrozenDictionary<string, ResiliencePipeline> _pipelines;

    public WeComApiResilience(IOptions<WeComApiOptions> options, TimeProvider timeProvider)
    {
        var settings = options.Value;
        _pipelines = WeComApis.All.ToFrozenDictionary(static api => api.Name, api => Build(api, settings, timeProvider), StringComparer.Ordinal);
    }

    public ResiliencePipeline For(WeComApi api) => _pipelines[api.Name];

    private static ResiliencePipeline Build(WeComApi api, WeComApiOptions settings, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { Name = "wecom-api", InstanceName = api.Name, TimeProvider = timeProvider };
        if (settings.MaxRateLimitedRetries > 0)
        {
            // 45033 means the call was refused for concurrency, so it was not applied and any API may repeat it.
            // 45009 is left to the caller: WeCom blocks the API for the whole window, a retry here would only add load.
            builder.AddRetry(new RetryStrategyOptions
            {
                Name = "rate-limited",
                MaxRetryAttempts = settings.MaxRateLimitedRetries,
                Delay = settings.RateLimitedBackoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<WeComApiException>(static e => e.ErrCode == WeComErrorCodes.ConcurrencyLimited),
            });
        }
        if (settings.MaxTransientRetries > 0)
        {
            var predicate = new PredicateBuilder().Handle<WeComApiException>(static e => e.Class == WeComErrorClass.Transient);
            if (api.SafeToRepeat)
            {
                predicate.Handle<TimeoutRejectedException>();
            }
            builder.AddRetry(new RetryStrategyOptions
            {
                Name = "transient",
                MaxRetryAttempts = settings.MaxTransientRetries,
                Delay = settings.TransientBackoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = predicate,
            });
        }
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            Name = "circuit",
            FailureRatio = settings.CircuitFailureRatio,
            MinimumThroughput = settings.CircuitMinimumThroughput,
            SamplingDuration = settings.CircuitSamplingDuration,
            BreakDuration = settings.CircuitBreakDuration,
            ShouldHandle = new PredicateBuilder()
                .Handle<WeComApiException>(static e => e.Class == WeComErrorClass.Transient)
                .Handle<TimeoutRejectedException>()
                .Handle<WeComOutcomeUnknownException>(),
        });
        builder.AddTimeout(settings.AttemptTimeout);
        return builder.Build();
    }
}
