using Bot.Core.Groups;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>
/// Fires due seeding posts and starts cron-scheduled scripts. Posts are claimed with a lease, handed to the sink
/// under a stable idempotency key, then marked; a crash between the two re-hands the post after the lease, and the
/// outbox stores it once. A post overdue by more than the grace (the host was down) is skipped, not fired late.
/// </summary>
public sealed partial class SeedingWorker(
    SeedingService service,
    SeedingStore store,
    CustomerGroupStore groups,
    SeedingPostSink sink,
    IOptions<SeedingOptions> options,
    TimeProvider time,
    ILogger<SeedingWorker> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Dictionary<string, DateTimeOffset> _nextCron = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        service.Planned += Wake;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await RunOnceAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.PassFailed(logger, ex);
                }
                await SleepAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            service.Planned -= Wake;
        }
    }

    /// <summary>One pass: start due cron occurrences, then fire due posts. Public so tests can drive it with a fake clock.</summary>
    public async Task RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await StartDueCronRunsAsync(now, ct);
        var grace = options.Value.OverdueGrace;
        IReadOnlyList<SeedingPostRow> due;
        while ((due = await store.ClaimDueAsync(now, options.Value.Lease, 50, ct)).Count > 0)
        {
            foreach (var post in due)
            {
                await FireAsync(post, now, grace, ct);
            }
        }
        await store.CompleteFinishedRunsAsync(ct);
    }

    private async Task FireAsync(SeedingPostRow post, DateTimeOffset now, TimeSpan grace, CancellationToken ct)
    {
        try
        {
            if (service.Scripts.All(s => s.Name != post.Script))
            {
                await store.StopRunsAsync(post.ChatId, post.Script, "the script was removed from the rules", ct);
                await store.MarkAsync(post.Id, SeedingPostState.Stopped, "the script was removed from the rules", now, ct);
                return;
            }
            var late = now - post.Due;
            if (late > grace)
            {
                var note = $"skipped: overdue by {late:g} after downtime (grace {grace:g})";
                await store.MarkAsync(post.Id, SeedingPostState.Skipped, note, now, ct);
                Log.Skipped(logger, post.Script, post.ChatId, post.Step, late);
                return;
            }
            await sink(new SeedingPostDue(post.Id, post.Script, post.ChatId, post.Step, post.Sender, post.Text, post.Due), ct);
            await store.MarkAsync(post.Id, SeedingPostState.Enqueued, null, now, ct);
            Log.Fired(logger, post.Script, post.ChatId, post.Step, post.Sender);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Left in 'firing': the lease expires and a later pass hands it over again under the same key.
            Log.FireFailed(logger, post.Script, post.ChatId, post.Step, ex);
        }
    }

    private async Task StartDueCronRunsAsync(DateTimeOffset now, CancellationToken ct)
    {
        foreach (var script in service.Scripts.Where(s => s.Start.Cron is not null))
        {
            if (!_nextCron.TryGetValue(script.Name, out var next))
            {
                // Occurrences missed while the host was down are not replayed: a late warm-up burst helps nobody.
                _nextCron[script.Name] = service.NextOccurrence(script, now) ?? DateTimeOffset.MaxValue;
                continue;
            }
            if (next > now)
            {
                continue;
            }
            var live = (await groups.ListLiveAsync(ct)).Select(g => (g.ChatId, g.Name));
            var started = await service.OnCronOccurrenceAsync(script, next, live, ct);
            Log.CronStarted(logger, script.Name, next, started);
            _nextCron[script.Name] = service.NextOccurrence(script, now) ?? DateTimeOffset.MaxValue;
        }
    }

    private async Task SleepAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var wait = options.Value.MaxIdle;
        if (await store.NextDueAsync(ct) is { } nextDue)
        {
            var untilDue = DateTimeOffset.FromUnixTimeMilliseconds(nextDue) - now;
            wait = untilDue < wait ? untilDue : wait;
        }
        foreach (var next in _nextCron.Values)
        {
            var untilCron = next - now;
            wait = untilCron < wait ? untilCron : wait;
        }
        if (wait <= TimeSpan.Zero)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(wait, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            await _wake.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }

    private void Wake() => _wake.Release();

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Seeding post {Script}#{Step} in {ChatId} handed to the outbox as {Sender}")]
        public static partial void Fired(ILogger logger, string script, string chatId, int step, string sender);

        [LoggerMessage(2, LogLevel.Warning, "Seeding post {Script}#{Step} in {ChatId} skipped: overdue by {Late} after downtime")]
        public static partial void Skipped(ILogger logger, string script, string chatId, int step, TimeSpan late);

        [LoggerMessage(3, LogLevel.Error, "Seeding post {Script}#{Step} in {ChatId} could not be handed over; it will be retried after its lease")]
        public static partial void FireFailed(ILogger logger, string script, string chatId, int step, Exception exception);

        [LoggerMessage(4, LogLevel.Information, "Seeding script {Script}: cron occurrence {Occurrence:O} started {Runs} runs")]
        public static partial void CronStarted(ILogger logger, string script, DateTimeOffset occurrence, int runs);

        [LoggerMessage(5, LogLevel.Error, "Seeding pass failed")]
        public static partial void PassFailed(ILogger logger, Exception exception);
    }
}
