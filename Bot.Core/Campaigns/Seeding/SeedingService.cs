using Bot.Core.RateLimiting;
using Bot.Core.Rules;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>A post whose time has come, handed to the outbound path (a mass-message task sent as the trumpet).</summary>
public sealed record SeedingPostDue(long PostId, string Script, string ChatId, int Step, string Sender, string Text, DateTimeOffset DueAt)
{
    /// <summary>Stable across retries and instances, so the outbox stores the post once however often it is handed over.</summary>
    public string IdempotencyKey => $"seeding:{PostId}";
}

/// <summary>Where due posts go: <see cref="CampaignOutbound.PostSeedingAsync"/>, bound by <c>AddCampaigns</c>.</summary>
public delegate Task SeedingPostSink(SeedingPostDue post, CancellationToken cancellationToken);

/// <summary>Injected randomness for jitter, so tests can fix it.</summary>
public sealed class SeedingRandom(Random random)
{
    private readonly Lock _gate = new();

    public double NextUnit()
    {
        lock (_gate)
        {
            return random.NextDouble();
        }
    }
}

/// <summary>
/// Starts, plans and stops seeding runs. The scripts come from the live rule set (<see cref="UpdateScripts"/>); the
/// schedule lives in the database, so a restart neither loses nor repeats a post.
/// </summary>
public sealed partial class SeedingService(
    SeedingStore store,
    IOptions<RulesOptions> rulesOptions,
    IOptions<QuotaOptions> quotas,
    TimeProvider time,
    SeedingRandom random,
    ILogger<SeedingService> logger)
{
    private volatile IReadOnlyList<SeedingScript> _scripts = [];
    // Quiet hours and cron schedules are read in the rule files' local time; receiving periods in WeCom's calendar.
    private readonly TimeZoneInfo _zone = TimeZoneInfo.FindSystemTimeZoneById(rulesOptions.Value.TimeZone);
    private readonly QuotaCalendarClock _weComCalendar = QuotaCalendarClock.From(quotas.Value);

    /// <summary>Raised when new posts were planned, so the worker can wake before its idle timeout.</summary>
    public event Action? Planned;

    public IReadOnlyList<SeedingScript> Scripts => _scripts;

    /// <summary>Swaps in the scripts of a newly loaded rule set and stops the runs of scripts that are gone.</summary>
    public async Task UpdateScripts(IReadOnlyList<SeedingScript> scripts, CancellationToken ct)
    {
        _scripts = scripts;
        var names = scripts.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var active in await store.ListActiveScriptsAsync(ct))
        {
            if (!names.Contains(active))
            {
                var stopped = await store.StopRunsAsync(null, active, "the script was removed from the rules", ct);
                Log.ScriptRemoved(logger, active, stopped);
            }
        }
    }

    /// <summary>The external chat "create" event: start every matching group_created script in the new group.</summary>
    public async Task<int> OnGroupCreatedAsync(string chatId, string? groupName, DateTimeOffset createdAt, CancellationToken ct)
    {
        var started = 0;
        foreach (var script in _scripts.Where(s => s.Start.OnGroupCreated && groupName is not null && s.MatchesGroup(groupName)))
        {
            if (await StartRunAsync(script, chatId, "created", createdAt, ct))
            {
                started++;
            }
        }
        return started;
    }

    /// <summary>One cron occurrence of a script: start it in every known, live, matching group.</summary>
    public async Task<int> OnCronOccurrenceAsync(SeedingScript script, DateTimeOffset occurrence, IEnumerable<(string ChatId, string? Name)> groups, CancellationToken ct)
    {
        var started = 0;
        foreach (var (chatId, name) in groups)
        {
            if (name is not null && script.MatchesGroup(name) && await StartRunAsync(script, chatId, occurrence.ToString("O"), occurrence, ct))
            {
                started++;
            }
        }
        return started;
    }

    public Task<int> OnGroupDismissedAsync(string chatId, CancellationToken ct) =>
        store.StopRunsAsync(chatId, null, "the group was dismissed", ct);

    /// <summary>Members left a group: runs that still need one of them as the trumpet cannot go on.</summary>
    public async Task<int> OnMembersLeftAsync(string chatId, IEnumerable<string> userIds, CancellationToken ct)
    {
        var stopped = 0;
        foreach (var userId in userIds)
        {
            stopped += await store.StopRunsWithSenderAsync(chatId, userId, $"trumpet {userId} left the group", ct);
        }
        return stopped;
    }

    /// <summary>The next cron occurrence after <paramref name="after"/> for a scheduled script, in the configured zone.</summary>
    public DateTimeOffset? NextOccurrence(SeedingScript script, DateTimeOffset after) =>
        script.Start.Cron?.GetNextOccurrence(after, _zone);

    /// <summary>
    /// The schedule a run of <paramref name="script"/> started at <paramref name="start"/> in a group would get, planned
    /// exactly as <see cref="StartRunAsync"/> plans it (around the group's stored posts) but without jitter and
    /// without storing anything.
    /// </summary>
    public async Task<IReadOnlyList<PlannedPost>> PreviewRunAsync(SeedingScript script, string chatId, DateTimeOffset start, CancellationToken ct)
    {
        var others = await store.ListPlannedPostTimesAsync(chatId, start.AddDays(-31), ct);
        // 0.5 is the middle of the jitter range: each post at its scripted offset; the real run moves it by ±jitter.
        return SeedingPlanner.Plan(script, start, _zone, _weComCalendar, quotas.Value.MassMessageReceivingRule, others, static () => 0.5);
    }

    private async Task<bool> StartRunAsync(SeedingScript script, string chatId, string startKey, DateTimeOffset start, CancellationToken ct)
    {
        var others = await store.ListPlannedPostTimesAsync(chatId, start.AddDays(-31), ct);
        var posts = SeedingPlanner.Plan(script, start, _zone, _weComCalendar, quotas.Value.MassMessageReceivingRule, others, random.NextUnit);
        var runId = await store.TryStartRunAsync(script.Name, chatId, startKey, time.GetUtcNow(), script.Fingerprint, posts, ct);
        if (runId is null)
        {
            return false;
        }
        Log.RunStarted(logger, script.Name, chatId, runId.Value, posts.Count, posts.Count > 0 ? posts[^1].DueAt : start);
        Planned?.Invoke();
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Seeding script {Script} started in group {ChatId} as run {RunId}: {Posts} posts, the last due {LastDue:O}")]
        public static partial void RunStarted(ILogger logger, string script, string chatId, long runId, int posts, DateTimeOffset lastDue);

        [LoggerMessage(2, LogLevel.Warning, "Seeding script {Script} was removed from the rules: {Runs} active runs stopped")]
        public static partial void ScriptRemoved(ILogger logger, string script, int runs);
    }
}
