using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Bot.Host.Health;

public static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IHostApplicationBuilder AddHealth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<HealthOptions, HealthOptionsValidator>().BindConfiguration(HealthOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        // A singleton, so that a write probe still stuck behind a lock is shared by the checks that follow it.
        builder.Services.AddSingleton<DatabaseHealthCheck>();
        builder.Services.AddHealthChecks()
            .Add(new HealthCheckRegistration("database", static sp => sp.GetRequiredService<DatabaseHealthCheck>(), HealthStatus.Unhealthy, [ReadyTag]))
            .AddCheck<RedisHealthCheck>("redis", HealthStatus.Degraded, [ReadyTag])
            .AddCheck<RobotAlarmHealthCheck>("robot-alarms", HealthStatus.Degraded, [ReadyTag]);
        return builder;
    }

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        // Liveness runs no checks: a slow database must not get a healthy process restarted.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            // Degraded (Redis down, WeCom refusing the app's configuration) stays in rotation: callbacks are still
            // stored and acknowledged. Unhealthy (database unmigrated, unreachable or not writable) leaves rotation,
            // since nothing could be acknowledged there.
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = WriteStatusAsync,
        });
        return app;
    }

    private static Task WriteStatusAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        }, context.RequestAborted);
    }
}
