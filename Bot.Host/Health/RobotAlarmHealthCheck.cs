using Bot.Core.Observability;
using Bot.Core.Outbox;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Bot.Host.Health;

/// <summary>
/// Degraded while a group robot is paused by a configuration alarm (93000), naming the robot by its fingerprint, never
/// its webhook key. Degraded, not Unhealthy: callbacks are still stored and acknowledged, and every replica shares the
/// alarm, so taking them out of rotation would only have WeCom's callbacks refused.
/// </summary>
internal sealed class RobotAlarmHealthCheck(RobotAlarms alarms, BotMetrics metrics) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var raised = await alarms.ListAsync(cancellationToken);
        metrics.RobotsPaused(raised.Count);
        if (raised.Count == 0)
        {
            return HealthCheckResult.Healthy();
        }
        var data = raised.ToDictionary(static a => a.RobotName, static a => (object)$"errcode {a.ErrCode} ({a.ErrMsg}) at {a.RaisedAt:O}, outbox item {a.OutboxId}");
        return HealthCheckResult.Degraded(
            "group robots paused by a configuration alarm (webhook key invalid or robot removed from the group); fix the robot, then POST /admin/alarms/robots/{name}/clear: "
            + string.Join(", ", raised.Select(a => a.RobotName)),
            data: data);
    }
}
