using Bot.Core.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.RateLimiting;

public static class RateLimitingServiceCollectionExtensions
{
    /// <summary>Health-check name of the shared limiter, tagged "ready".</summary>
    public const string HealthCheckName = "quota-limiter";

    /// <summary>
    /// Binds and validates `Quotas`, registers <see cref="QuotaCatalog"/> and an <see cref="IQuotaLimiter"/>: the Redis
    /// one (with a "ready" health check) when `Redis:Configuration` is set, else the in-process one.
    /// </summary>
    public static IHostApplicationBuilder AddRateLimiting(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<QuotaOptions, QuotaOptionsValidator>().BindConfiguration(QuotaOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<QuotaCatalog>();

        var redis = builder.Configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        if (redis.Enabled)
        {
            builder.AddRedis();
            builder.Services.TryAddSingleton<RedisQuotaLimiter>();
            builder.Services.TryAddSingleton<IQuotaLimiter>(static sp => sp.GetRequiredService<RedisQuotaLimiter>());
            builder.Services.AddHealthChecks().AddCheck<QuotaLimiterHealthCheck>(HealthCheckName, tags: ["ready"]);
        }
        else
        {
            builder.Services.TryAddSingleton<IQuotaLimiter, InProcessQuotaLimiter>();
        }
        return builder;
    }
}

/// <summary>
/// Degraded while the last call to Redis failed; the limiter then answers Unavailable and quota-limited sends wait.
/// Never Unhealthy: callbacks are still stored and acknowledged, so the instance stays in rotation.
/// </summary>
internal sealed class QuotaLimiterHealthCheck(RedisQuotaLimiter limiter) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(limiter.IsHealthy
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Degraded($"Redis unavailable, quota-limited sends wait: {limiter.LastError}"));
}
