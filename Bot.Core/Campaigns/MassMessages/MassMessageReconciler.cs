using System.Text.Json;
using System.Text.Json.Nodes;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.MassMessages;

/// <summary>
/// Settles mass-message items whose add_msg_template call ended unknown (-1, a timeout, a broken connection: WeCom may
/// have created the task). add_msg_template is never resent; instead get_groupmsg_list_v2 is asked for the corp's tasks
/// created around the call (FACTS-2 §5.2; API-created tasks carry no creator, so none is given) and a task with the
/// item's text and attachments settles it Sent with that msgid, for the tracker to follow. When the window has passed
/// with no such task WeCom did not create one: the item is Failed ("not created") and the allowances it reserved are
/// given back, as for any call WeCom did not apply.
/// </summary>
public sealed partial class MassMessageReconciler(
    OutboxStore outbox,
    WeComApiClient api,
    IQuotaLimiter limiter,
    QuotaCatalog catalog,
    IOptions<MassMessageOptions> options,
    TimeProvider time,
    ILogger<MassMessageReconciler> logger,
    ContactBudget? budget = null)
{
    public const string NotCreated = "not created: no task with its text in get_groupmsg_list_v2 over the call's window";

    // WeCom's create_time is its own clock, in seconds; the window starts a little before the call to allow for skew.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>One pass over the unknown mass-message items; returns how many were settled.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        var settled = 0;
        foreach (var item in await outbox.ListByStateAsync(OutboxState.Unknown, o.BatchSize, ct))
        {
            if (item.CallStartedAt is not { } started || Describe(item) is not { } wanted)
            {
                continue;
            }
            try
            {
                settled += await ReconcileAsync(item, started, wanted, o, ct) ? 1 : 0;
            }
            catch (Exception ex) when (ex is WeComApiException or WeComOutcomeUnknownException or HttpRequestException)
            {
                Log.ReconcileFailed(logger, item.Id, ex);
            }
        }
        return settled;
    }

    private async Task<bool> ReconcileAsync(OutboxItem item, DateTimeOffset started, Wanted wanted, MassMessageOptions o, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var windowEnd = started + o.ReconcileWindow;
        string? cursor = null;
        do
        {
            var page = await api.GetGroupMsgListAsync(new GroupMsgListQuery
            {
                ChatType = wanted.ChatType,
                StartTime = started - ClockSkew,
                EndTime = windowEnd < now ? windowEnd : now,
                FilterType = GroupMsgListQuery.CorpCreated,
                Limit = GroupMsgListQuery.MaxLimit,
                Cursor = cursor,
            }, ct);
            foreach (var task in page.Messages)
            {
                // Another item's task (the same text to another recipient) is not this one's.
                if (task.Creator is null && Matches(task, wanted) && !await outbox.IsRemoteIdRecordedAsync(task.MsgId, ct)
                    && await outbox.SettleUnknownAsync(item.Id, OutboxState.Sent, task.MsgId, $"reconciled: WeCom created task {task.MsgId}", ct))
                {
                    Log.FoundTask(logger, item.Id, item.Kind, task.MsgId);
                    return true;
                }
            }
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        if (now < windowEnd || !await outbox.SettleUnknownAsync(item.Id, OutboxState.Failed, null, NotCreated, ct))
        {
            return false;
        }
        Log.NotCreated(logger, item.Id, item.Kind, o.ReconcileWindow);
        await RefundAsync(item, started);
        return true;
    }

    /// <summary>
    /// Gives back the calendar allowances the item reserved (receiving rule, sender cap, contact budget), as the
    /// dispatcher does for a refused call. The limiter took them right after the call mark, so the period is that of
    /// <see cref="OutboxItem.CallStartedAt"/>.
    /// </summary>
    private async Task RefundAsync(OutboxItem item, DateTimeOffset takenAt)
    {
        var quotas = catalog.LimitsFor(item.QuotaSubject);
        var limits = OutboxRecipients.AllowancesOf(item, catalog, budget)
            ?? budget?.AddTo(quotas, item.Kind, item.Target, OutboxKinds.TargetsGroup(item.Kind), item.ExternalUserId, item.QuotaSubject) ?? quotas;
        var allowances = limits.Where(l => l.Calendar != QuotaCalendar.None).ToList();
        if (allowances.Count == 0)
        {
            return;
        }
        try
        {
            await limiter.RefundAsync(allowances, takenAt, CancellationToken.None);
            Log.Refunded(logger, item.Id, allowances.Count);
        }
        catch (Exception ex)
        {
            // They stay spent for their period: the recipient waits, which sends less, never more.
            Log.RefundFailed(logger, ex, item.Id);
        }
    }

    private sealed record Wanted(string ChatType, string Text, IReadOnlyList<string> AttachmentTypes);

    /// <summary>What the item asked WeCom to create; null for an item that is not a mass-message task.</summary>
    private static Wanted? Describe(OutboxItem item)
    {
        try
        {
            var body = JsonNode.Parse(item.Payload)?.AsObject();
            if (item.Kind == OutboxKinds.Broadcast && body?["text"]?["content"]?.GetValue<string>() is { } text)
            {
                return new Wanted(body["chat_type"]?.GetValue<string>() ?? ChatTypes.Single, text,
                    [.. (body["attachments"]?.AsArray() ?? []).Select(a => a?["msgtype"]?.GetValue<string>() ?? "")]);
            }
            // A seeding post names its members only when sent, so its text is matched only when it has none.
            if (item.Kind == OutboxKinds.SeedingPost && body?["channel"]?.GetValue<string>() == GroupPostChannels.MassMessage
                && body["text"]?.GetValue<string>() is { } post && !post.Contains(GroupPostPayload.MembersPlaceholder, StringComparison.Ordinal))
            {
                return new Wanted(ChatTypes.Group, post, []);
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    // Matched by text and by the attachments' kinds and order: WeCom lists media by its own ids and urls, not ours.
    private static bool Matches(GroupMsg task, Wanted wanted)
    {
        if (task.Text?.Content != wanted.Text)
        {
            return false;
        }
        var types = task.Attachments is { ValueKind: JsonValueKind.Array } list
            ? list.EnumerateArray().Select(a => a.TryGetProperty("msgtype", out var t) ? t.GetString() ?? "" : "").ToList()
            : [];
        return types.SequenceEqual(wanted.AttachmentTypes, StringComparer.Ordinal);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Outbox item {OutboxId} ({Kind}) had an unknown outcome; WeCom did create task {MsgId}, recorded sent")]
        public static partial void FoundTask(ILogger logger, long outboxId, string kind, string msgId);

        [LoggerMessage(2, LogLevel.Warning, "Outbox item {OutboxId} ({Kind}) had an unknown outcome; WeCom created no task within {Window}, recorded failed")]
        public static partial void NotCreated(ILogger logger, long outboxId, string kind, TimeSpan window);

        [LoggerMessage(3, LogLevel.Warning, "Reconciling outbox item {OutboxId} failed; asking again next pass")]
        public static partial void ReconcileFailed(ILogger logger, long outboxId, Exception exception);

        [LoggerMessage(4, LogLevel.Information, "Outbox item {OutboxId} was not created by WeCom; {Count} allowances it reserved are given back")]
        public static partial void Refunded(ILogger logger, long outboxId, int count);

        [LoggerMessage(5, LogLevel.Error, "Could not give back the allowances of outbox item {OutboxId}; they stay spent for their period")]
        public static partial void RefundFailed(ILogger logger, Exception exception, long outboxId);
    }
}
