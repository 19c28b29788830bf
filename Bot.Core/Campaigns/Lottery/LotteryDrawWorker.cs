using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>
/// Opens and draws lotteries on time. At start-up it draws anything overdue (marked late), then sleeps until the next
/// opening or draw, the poll interval (other instances may have stored lotteries), or a local definition sync,
/// whichever comes first.
/// Every finished draw goes to the <see cref="LotteryAnnouncer"/> (the outbox).
/// </summary>
internal sealed partial class LotteryDrawWorker(
    LotteryService service,
    LotteryAnnouncer announce,
    TimeProvider time,
    IOptionsMonitor<LotteryOptions> options,
    ILogger<LotteryDrawWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before the pass, so a sync that lands during the pass still wakes the next sleep.
            var changed = service.Changed;
            var delay = await PassAsync(stoppingToken);
            if (delay > TimeSpan.Zero)
            {
                using var sleep = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var timer = Task.Delay(delay, time, sleep.Token);
                Log.Sleeping(logger, delay);
                await Task.WhenAny(timer, changed);
                await sleep.CancelAsync();
                try
                {
                    await timer;
                }
                catch (OperationCanceledException)
                {
                    // The sleep was cut short by a sync or by shutdown; the loop condition tells which.
                }
            }
        }
    }

    /// <summary>
    /// One pass, and how long to sleep after it: until the next opening or draw, at most the poll interval, zero when
    /// that moment has already come. What is due and what comes next are both decided against one clock reading:
    /// with a reading each, a pass a moment before a draw time found it not yet due, the clock passed that time before
    /// the plan was made, the draw was neither due nor ahead, and it waited a whole poll interval.
    /// </summary>
    private async Task<TimeSpan> PassAsync(CancellationToken ct)
    {
        var asOf = time.GetUtcNow();
        try
        {
            await RunOnceAsync(asOf, ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            Log.PassFailed(logger, ex);
        }

        var poll = options.CurrentValue.PollInterval;
        try
        {
            // A lottery the pass could not handle (it failed) is not ahead of asOf, so it is retried at the poll interval.
            if (await service.NextDueAsync(asOf, ct) is { } next)
            {
                var untilNext = next - time.GetUtcNow();
                return untilNext < poll ? untilNext : poll;
            }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            Log.PassFailed(logger, ex);
        }
        return poll;
    }

    internal Task RunOnceAsync(CancellationToken ct) => RunOnceAsync(time.GetUtcNow(), ct);

    private async Task RunOnceAsync(DateTimeOffset asOf, CancellationToken ct)
    {
        await service.CommitOpenedAsync(asOf, ct);
        foreach (var result in await service.DrawDueAsync(asOf, ct))
        {
            await AnnounceAsync(result, ct);
        }
        foreach (var result in await service.ClaimUnannouncedAsync(ct))
        {
            await AnnounceAsync(result, ct);
        }
    }

    private async Task AnnounceAsync(LotteryDrawResult result, CancellationToken ct)
    {
        try
        {
            await announce(result, ct);
            await service.MarkAnnouncedAsync(result.Lottery, ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Left unmarked: once its lease runs out, a later pass (here or on another instance) delivers it again.
            Log.AnnounceFailed(logger, result.Lottery, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Lottery pass failed; retrying at the next wake-up")]
        public static partial void PassFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Handing the draw of lottery {Lottery} to the announcer failed; it is retried after the announce lease")]
        public static partial void AnnounceFailed(ILogger logger, string lottery, Exception exception);

        [LoggerMessage(3, LogLevel.Debug, "Lottery worker sleeping for {Delay}")]
        public static partial void Sleeping(ILogger logger, TimeSpan delay);
    }
}
