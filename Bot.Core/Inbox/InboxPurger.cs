using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Inbox;

/// <summary>
/// Deletes handled callbacks once they are older than <see cref="InboxOptions.Retention"/>, so the inbox does not grow
/// without bound at thousands of callbacks a second. Every instance may run it: a row deleted twice is deleted once.
/// </summary>
public sealed partial class InboxPurger(InboxStore store, IOptions<InboxOptions> options, TimeProvider time, ILogger<InboxPurger> logger)
    : BackgroundService
{
    private const int BatchSize = 5_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PurgeInterval, time);
        try
        {
            do
            {
                try
                {
                    await PurgeOnceAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.PurgeFailed(logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Deletes every handled callback past retention, batch by batch; returns how many.</summary>
    public async Task<long> PurgeOnceAsync(CancellationToken ct)
    {
        var cutoff = time.GetUtcNow() - options.Value.Retention;
        long total = 0;
        int deleted;
        do
        {
            deleted = await store.PurgeHandledAsync(cutoff, BatchSize, ct);
            total += deleted;
        }
        while (deleted == BatchSize);
        if (total > 0)
        {
            Log.Purged(logger, total, cutoff);
        }
        return total;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Deleted {Count} handled callback(s) handled before {Cutoff}")]
        public static partial void Purged(ILogger logger, long count, DateTimeOffset cutoff);

        [LoggerMessage(2, LogLevel.Warning, "Purging handled callbacks failed; trying again at the next interval")]
        public static partial void PurgeFailed(ILogger logger, Exception exception);
    }
}
