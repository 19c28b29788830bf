using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// Remembers APIs whose last answer was a configuration error (invalid secret, API not allowed, outside the visible
/// range), so health shows it until a later call of that API succeeds.
/// </summary>
internal sealed class WeComApiHealth
{
    private readonly ConcurrentDictionary<string, (int ErrCode, DateTimeOffset At)> _misconfigured = new();

    public void RecordConfigurationError(string api, int errCode, DateTimeOffset at) => _misconfigured[api] = (errCode, at);

    public void RecordSuccess(string api)
    {
        if (!_misconfigured.IsEmpty)
        {
            _misconfigured.TryRemove(api, out _);
        }
    }

    public IReadOnlyDictionary<string, (int ErrCode, DateTimeOffset At)> Misconfigured => _misconfigured;
}

/// <summary>
/// Degraded, not Unhealthy: WeCom refusing a call does not stop callbacks being stored and acknowledged, and taking
/// every replica out of rotation for it would have WeCom's callbacks refused too.
/// </summary>
internal sealed class WeComApiHealthCheck(WeComApiHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var broken = health.Misconfigured;
        if (broken.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        var data = broken.ToDictionary(static p => p.Key, static p => (object)$"errcode {p.Value.ErrCode} at {p.Value.At:O}");
        return Task.FromResult(HealthCheckResult.Degraded(
            "WeCom refuses this app's configuration for: " + string.Join(", ", broken.Keys.Order(StringComparer.Ordinal)), data: data));
    }
}
