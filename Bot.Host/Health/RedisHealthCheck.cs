using Bot.Core.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Host.Health;

/// <summary>
/// Degraded, never Unhealthy, when Redis is down or slow: callbacks are still stored and acknowledged without it, and
/// only quota-limited sends pause. Taking every replica that shares the Redis out of rotation would refuse WeCom's
/// callbacks instead.
/// </summary>
internal sealed class RedisHealthCheck(IOptions<RedisOptions> options, IOptions<HealthOptions> health, IServiceProvider services, TimeProvider time) : IHealthCheck
{
    private const string Paused = "quota-limited sends are paused until it returns";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Enabled)
        {
            return HealthCheckResult.Healthy("single-instance mode (no Redis configured)");
        }
        var timeout = health.Value.CheckTimeout;
        try
        {
            // Off this thread as a whole: the first resolution of the multiplexer connects synchronously (up to
            // connectTimeout while Redis is down), and the answer must come within one timeout.
            return await Task.Run(CheckRedisAsync, cancellationToken).WaitAsync(timeout, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            return HealthCheckResult.Degraded($"Redis did not answer within {timeout.TotalMilliseconds:0} ms: {Paused}");
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Degraded($"Redis unreachable ({ex.GetType().Name}): {Paused}");
        }
    }

    private async Task<HealthCheckResult> CheckRedisAsync()
    {
        var redis = services.GetRequiredService<IConnectionMultiplexer>();
        if (!redis.IsConnected)
        {
            // A ping would wait in the reconnect backlog for the whole timeout to learn the same thing.
            return HealthCheckResult.Degraded($"Redis unreachable: {Paused}");
        }
        var latency = await redis.GetDatabase().PingAsync();
        return HealthCheckResult.Healthy($"Redis ping {latency.TotalMilliseconds:0.0} ms");
    }
}
