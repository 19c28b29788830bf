using Bot.Core.Observability;
using Bot.Core.Outbox;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Bot.Host.Admin;

/// <summary>
/// Configuration alarms under /admin/alarms (behind the admin key like every admin route): list them, and clear a
/// robot's once its webhook is fixed, which lets its waiting posts go.
/// </summary>
internal static partial class AlarmEndpoints
{
    public static void MapAlarms(this RouteGroupBuilder admin)
    {
        admin.MapGet("/alarms", ListAsync);
        admin.MapPost("/alarms/robots/{name}/clear", ClearAsync);
    }

    private static async Task<Ok<IReadOnlyList<RobotAlarm>>> ListAsync(RobotAlarms alarms, CancellationToken ct) =>
        TypedResults.Ok(await alarms.ListAsync(ct));

    private static async Task<Results<NoContent, NotFound>> ClearAsync(
        string name, RobotAlarms alarms, BotMetrics metrics, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!await alarms.ClearAsync(name, ct))
        {
            return TypedResults.NotFound();
        }
        metrics.RobotsPaused((await alarms.ListAsync(ct)).Count);
        Log.Cleared(loggers.CreateLogger(typeof(AlarmEndpoints)), name);
        return TypedResults.NoContent();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Configuration alarm of group robot {Robot} cleared by an operator; its waiting posts go again")]
        public static partial void Cleared(ILogger logger, string robot);
    }
}
