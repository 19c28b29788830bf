using Bot.Core.Inbox;
using Bot.Core.Observability;
using Bot.Core.Outbox;
using Bot.Core.Storage;

namespace Bot.Host.Observability;

/// <summary>Samples queue depths every few seconds for /metrics and the admin view (gauges must not query on scrape).</summary>
internal sealed partial class QueueSampler(
    InboxStore inbox, OutboxStore outbox, SchemaState schema, BotMetrics metrics, TimeProvider time, ILogger<QueueSampler> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            if (!schema.IsMigrated)
            {
                continue;
            }
            try
            {
                metrics.UpdateQueues(await SampleAsync(inbox, outbox, time, stoppingToken));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.SampleFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public static async Task<QueueSnapshot> SampleAsync(InboxStore inbox, OutboxStore outbox, TimeProvider time, CancellationToken ct)
    {
        var stats = await inbox.GetStatsAsync(ct);
        var depth = await outbox.GetDepthAsync(ct);
        return new QueueSnapshot(stats.Pending, stats.Parked, stats.OldestPendingAge ?? TimeSpan.Zero,
            depth.ToDictionary(d => ((int)d.Lane, d.State.ToString().ToLowerInvariant()), d => (long)d.Count), time.GetUtcNow());
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Sampling queue depths failed")]
        public static partial void SampleFailed(ILogger logger, Exception exception);
    }
}
