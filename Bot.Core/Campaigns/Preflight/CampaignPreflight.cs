using Bot.Core.Groups;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;

namespace Bot.Core.Campaigns.Preflight;

/// <summary>One seeding post's outlook: a post of the run the pre-flight would start, or one already scheduled.</summary>
/// <param name="Scheduled">True for a post of a run already started (stored, not yet sent); false for the new run's.</param>
/// <param name="PlannedAt">When the schedule has it due (the new run's without jitter).</param>
/// <param name="At">When it would go out (Allowed, Delayed) or until when it is held (Skipped).</param>
/// <param name="Note">Why the planner moved it (quiet hours, a receiving period already used), if it did.</param>
public sealed record SeedingPreflightPost(
    string ChatId,
    string Script,
    bool Scheduled,
    int Step,
    string Sender,
    DateTimeOffset PlannedAt,
    PreflightStatus Status,
    DateTimeOffset At,
    string? BlockedBy,
    string? Note)
{
    /// <summary>How many more mass messages the group may receive in that post's period once it is counted (receiving rule).</summary>
    public long? ReceivingRuleRemaining { get; init; }
}

/// <summary>
/// A seeding run's outlook in each group. The counts and <see cref="EstimatedFinishAt"/> cover the new run's posts;
/// already scheduled posts are shown because they take the same counters first.
/// </summary>
public sealed record SeedingPreflightReport(
    string Script,
    DateTimeOffset At,
    DateTimeOffset Start,
    string ReceivingRule,
    IReadOnlyList<SeedingPreflightPost> Posts,
    int Allowed,
    int Delayed,
    int Skipped,
    DateTimeOffset? EstimatedFinishAt);

/// <summary>One group's announcement outlook and the channel it goes through (robot or mass_message).</summary>
public sealed record LotteryPreflightGroup(string ChatId, string Channel, PreflightStatus Status, DateTimeOffset At, string? BlockedBy)
{
    /// <summary>How many more mass messages the group may receive in that period once this one is counted; null for a robot post.</summary>
    public long? ReceivingRuleRemaining { get; init; }
}

/// <summary>
/// A lottery's announcement outlook at <see cref="AnnounceAt"/>: its draw time, or now when the draw is due. Groups
/// are those with entries so far, since the draw announces in exactly those.
/// </summary>
public sealed record LotteryPreflightReport(
    string Lottery,
    string State,
    DateTimeOffset At,
    DateTimeOffset AnnounceAt,
    string ReceivingRule,
    IReadOnlyList<LotteryPreflightGroup> Groups,
    int Allowed,
    int Delayed,
    int Skipped,
    DateTimeOffset? EstimatedFinishAt);

/// <summary>Whether a pre-flight found its script or lottery and could read the quota counters.</summary>
public enum PreflightLookup
{
    Found,
    UnknownName,
    LimiterUnavailable,
}

/// <summary>
/// Pre-flight for seeding runs and lottery announcements, on top of <see cref="QuotaPreflight"/>. Each item carries the
/// quota subject its outbox item will carry (<see cref="CampaignOutbound"/> builds both), so the outlook reads the
/// counters the dispatcher obeys.
/// </summary>
public sealed class CampaignPreflight(
    QuotaPreflight preflight,
    RuleSetProvider rules,
    SeedingService seeding,
    SeedingStore seedingStore,
    CustomerGroupStore groups,
    LotteryService lotteries,
    TimeProvider time)
{
    /// <summary>
    /// A run of seeding script <paramref name="scriptName"/> started now (a cron script: at its next occurrence) in
    /// <paramref name="chatIds"/>, or, when none are given, in every live group the script matches.
    /// </summary>
    public async Task<(PreflightLookup Lookup, SeedingPreflightReport? Report)> CheckSeedingAsync(
        string scriptName, IReadOnlyList<string>? chatIds, CancellationToken ct)
    {
        if (rules.Current.Seeding.FirstOrDefault(s => s.Source.Name == scriptName) is not { } rule)
        {
            return (PreflightLookup.UnknownName, null);
        }
        var script = SeedingScript.From(rule);
        var now = time.GetUtcNow();
        var start = script.Start.Cron is null ? now : seeding.NextOccurrence(script, now) ?? now;
        var chats = chatIds is { Count: > 0 }
            ? chatIds.Distinct(StringComparer.Ordinal).ToList()
            : (await groups.ListLiveAsync(ct)).Where(g => g.Name is not null && script.MatchesGroup(g.Name)).Select(g => g.ChatId).ToList();

        var posts = new List<SeedingPreflightPost>();
        foreach (var chat in chats)
        {
            foreach (var stored in await seedingStore.GetScheduleAsync(chat, ct))
            {
                if (stored.State == SeedingPostState.Planned)
                {
                    posts.Add(new SeedingPreflightPost(chat, stored.Script, true, stored.Step, stored.Sender, stored.Due, default, default, null, stored.Note));
                }
            }
            foreach (var planned in await seeding.PreviewRunAsync(script, chat, start, ct))
            {
                posts.Add(new SeedingPreflightPost(chat, script.Name, false, planned.Step, planned.By, planned.DueAt, default, default, null, planned.Note));
            }
        }
        var ruleSet = rules.Current;
        var items = posts.Select(p => new PreflightItem(OutboxKinds.SeedingPost, p.ChatId,
            CampaignOutbound.SeedingSubject(ruleSet.Seeding.FirstOrDefault(r => r.Source.Name == p.Script), p.Sender, p.ChatId), p.PlannedAt)).ToList();
        if (await preflight.CheckAsync(items, ct) is not { } report)
        {
            return (PreflightLookup.LimiterUnavailable, null);
        }
        var rows = posts.Select((p, i) => p with
            {
                Status = report.Targets[i].Status, At = report.Targets[i].At, BlockedBy = report.Targets[i].BlockedBy,
                ReceivingRuleRemaining = report.Targets[i].ReceivingRuleRemaining,
            })
            .OrderBy(p => p.ChatId, StringComparer.Ordinal).ThenBy(p => p.PlannedAt).ThenBy(p => p.Step)
            .ToList();
        var run = rows.Where(p => !p.Scheduled).ToList();
        var sent = run.Where(p => p.Status != PreflightStatus.Skipped).ToList();
        return (PreflightLookup.Found, new SeedingPreflightReport(
            script.Name,
            report.At,
            start,
            report.ReceivingRule,
            rows,
            run.Count(p => p.Status == PreflightStatus.Allowed),
            run.Count(p => p.Status == PreflightStatus.Delayed),
            run.Count(p => p.Status == PreflightStatus.Skipped),
            sent.Count == 0 ? null : sent.Max(p => p.At)));
    }

    /// <summary>The announcements of lottery <paramref name="name"/> in each group it has entries from, at its draw time or now if it is due.</summary>
    public async Task<(PreflightLookup Lookup, LotteryPreflightReport? Report)> CheckLotteryAsync(string name, CancellationToken ct)
    {
        if (await lotteries.PlanAnnouncementAsync(name, ct) is not { } plan)
        {
            return (PreflightLookup.UnknownName, null);
        }
        var now = time.GetUtcNow();
        var announceAt = plan.Draws > now ? plan.Draws : now;
        var rule = rules.Current.Lotteries.FirstOrDefault(l => l.Source.Name == name);
        var channel = CampaignOutbound.AnnouncementChannel(rule);
        var items = new List<PreflightItem>(plan.ChatIds.Count);
        foreach (var chat in plan.ChatIds)
        {
            // The announcer's own choice of sender: the rule's, else the group owner (only a mass message uses it).
            var sender = rule?.Sender ?? (channel == GroupPostChannels.MassMessage ? (await groups.GetAsync(chat, ct))?.Owner : null);
            items.Add(new PreflightItem(OutboxKinds.LotteryAnnouncement, chat, GroupPost.SubjectFor(channel, chat, rule?.RobotKey, sender), announceAt));
        }
        if (await preflight.CheckAsync(items, ct) is not { } report)
        {
            return (PreflightLookup.LimiterUnavailable, null);
        }
        return (PreflightLookup.Found, new LotteryPreflightReport(
            plan.Lottery,
            plan.State,
            report.At,
            announceAt,
            report.ReceivingRule,
            [.. report.Targets.Select(t => new LotteryPreflightGroup(t.Target, channel, t.Status, t.At, t.BlockedBy) { ReceivingRuleRemaining = t.ReceivingRuleRemaining })],
            report.Allowed,
            report.Delayed,
            report.Skipped,
            report.EstimatedFinishAt));
    }
}
