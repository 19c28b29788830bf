using Bot.Core.Outbox;
using Bot.Core.Observability;
using Bot.Core.RateLimiting;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.MassMessages;

/// <summary>
/// A mass-message task (add_msg_template: seeding posts, broadcasts) is not a send: the sender must confirm it in the
/// WeCom client (FACTS 5.6). This polls each sent task until every sender has confirmed, records the per-recipient
/// results, reminds the sender, and declares the task stale after the timeout. A stale seeding post stops the rest of
/// its run, because later posts of a script would otherwise answer a post the group never saw.
/// <para>
/// The results also feed the quota ledger. A recipient reported as "already received another mass message" (status 3)
/// got one from outside the bot (the admin console, another tool, a member's own 群发): WeCom's count for it is full,
/// while ours may not be. Its receiving-rule counter is therefore held until the end of the period in which the sender
/// confirmed, so neither the dispatcher nor a pre-flight offers it again in that period. A delivery (status 1) was
/// already counted when the task was sent.
/// </para>
/// <para>Each pass first lets <see cref="MassMessageReconciler"/> settle the items whose call ended in doubt.</para>
/// </summary>
public sealed partial class MassMessageTracker(
    MassMessageStore store,
    WeComApiClient api,
    SeedingStore seeding,
    IQuotaLimiter limiter,
    QuotaCatalog catalog,
    IOptions<MassMessageOptions> options,
    TimeProvider time,
    ILogger<MassMessageTracker> logger,
    BotMetrics? metrics = null,
    MassMessageReconciler? reconciler = null) : BackgroundService
{
    /// <summary>get_groupmsg_task status of a sender who confirmed.</summary>
    private const int SenderSent = 2;

    /// <summary>get_groupmsg_send_result status of a recipient who had already received another mass message.</summary>
    private const int RecipientAlreadyReceived = 3;

    private const int PageSize = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
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
            try
            {
                await Task.Delay(options.Value.PollInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One pass: picks up newly sent tasks, then polls every pending task that is due.</summary>
    public async Task RunOnceAsync(CancellationToken ct)
    {
        if (reconciler is not null)
        {
            // First, so a task found for an item in doubt is tracked in this same pass.
            await reconciler.RunOnceAsync(ct);
        }
        var o = options.Value;
        var now = time.GetUtcNow();
        var added = await store.DiscoverAsync(now, now - o.ConfirmationTimeout, ct);
        if (added > 0)
        {
            Log.Tracking(logger, added);
        }
        IReadOnlyList<MassMessageTaskView> due;
        while ((due = await store.ClaimDueAsync(now, o.PollInterval, o.BatchSize, ct)).Count > 0)
        {
            foreach (var task in due)
            {
                try
                {
                    await PollAsync(task, now, o, ct);
                }
                catch (Exception ex) when (ex is WeComApiException or HttpRequestException)
                {
                    // The claim already moved the next poll on; the task is simply asked again then.
                    Log.PollFailed(logger, task.OutboxId, ex);
                }
            }
        }
    }

    private async Task PollAsync(MassMessageTaskView task, DateTimeOffset now, MassMessageOptions o, CancellationToken ct)
    {
        var senders = new List<GroupMsgTask>();
        string? cursor = null;
        do
        {
            var page = await api.GetGroupMsgTaskAsync(task.MsgId, PageSize, cursor, ct);
            senders.AddRange(page.Tasks);
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        var confirmed = senders.Where(s => s.Status == SenderSent)
            .GroupBy(s => s.UserId, StringComparer.Ordinal)
            .Select(g => (UserId: g.Key, ConfirmedAt: g.Max(s => s.SendTime)))
            .ToList();
        var recipients = new List<MassMessageRecipient>();
        var alreadyReceived = new List<(MassMessageRecipient Recipient, QuotaSubject Subject, DateTimeOffset At)>();
        foreach (var (sender, confirmedAt) in confirmed)
        {
            cursor = null;
            do
            {
                var page = await api.GetGroupMsgSendResultAsync(task.MsgId, sender, PageSize, cursor, ct);
                foreach (var r in page.Results)
                {
                    var recipient = new MassMessageRecipient
                    {
                        Sender = sender, Recipient = r.ExternalUserId ?? r.ChatId ?? "", Status = r.Status, SendTime = r.SendTime,
                    };
                    recipients.Add(recipient);
                    if (r.Status == RecipientAlreadyReceived && recipient.Recipient.Length > 0)
                    {
                        var kind = r.ChatId is null ? BroadcastTargetKind.Customers : BroadcastTargetKind.Groups;
                        var at = confirmedAt is > 0 ? DateTimeOffset.FromUnixTimeSeconds(confirmedAt.Value) : now;
                        alreadyReceived.Add((recipient, BroadcastService.QuotaSubjectFor(kind, sender, recipient.Recipient), at));
                    }
                }
                cursor = page.NextCursor;
            }
            while (cursor is not null);
        }

        var previous = await store.ListRecipientsAsync(task.OutboxId, ct);
        var known = previous.ToDictionary(r => (r.Sender, r.Recipient), r => r.Status);
        // Fed before the results are recorded: a crash in between feeds them again next poll, and a hold is idempotent.
        foreach (var (recipient, subject, at) in alreadyReceived)
        {
            if (known.GetValueOrDefault((recipient.Sender, recipient.Recipient), -1) != RecipientAlreadyReceived)
            {
                await HoldForPeriodAsync(task, recipient.Recipient, subject, at, now);
            }
        }
        if (metrics is not null)
        {
            foreach (var r in recipients.Where(r => known.GetValueOrDefault((r.Sender, r.Recipient), -1) != r.Status))
            {
                metrics.MassMessageRecipient(r.Status);
            }
        }
        await store.RecordProgressAsync(task.OutboxId, senders.Count, confirmed.Count, recipients, ct);

        if (senders.Count > 0 && confirmed.Count == senders.Count)
        {
            if (await store.SettleAsync(task.OutboxId, MassMessageState.Confirmed, now, null, ct))
            {
                Log.Confirmed(logger, task.OutboxId, task.Kind, recipients.Count(r => r.Status == 1), recipients.Count);
            }
            return;
        }

        var sentAt = DateTimeOffset.FromUnixTimeMilliseconds(task.SentAt);
        if (now - sentAt >= o.ConfirmationTimeout)
        {
            await MarkStaleAsync(task, now, o, ct);
            return;
        }

        // Reminders are spread evenly over the timeout: with one, it goes at half time.
        var reminderDue = sentAt + o.ConfirmationTimeout / (o.MaxReminders + 1) * (task.Reminders + 1);
        if (task.Reminders < o.MaxReminders && now >= reminderDue
            && await store.RecordReminderAsync(task.OutboxId, task.Reminders, now, ct))
        {
            try
            {
                await api.RemindGroupMsgSendAsync(task.MsgId, ct);
                Log.Reminded(logger, task.OutboxId, task.Reminders + 1);
            }
            catch (Exception ex) when (ex is WeComApiException or HttpRequestException)
            {
                // Counted anyway: a reminder that may have gone out must not be repeated past WeCom's daily cap.
                Log.RemindFailed(logger, task.OutboxId, ex);
            }
        }
    }

    /// <summary>Holds the recipient's receiving-rule counters until the period that WeCom counted it in ends.</summary>
    private async Task HoldForPeriodAsync(MassMessageTaskView task, string recipient, QuotaSubject subject, DateTimeOffset at, DateTimeOffset now)
    {
        foreach (var (key, periodEnd) in catalog.ReceivingRulePeriodsFor(subject, at))
        {
            // A result learnt after its period ended (the bot was down) says nothing about the current one.
            if (periodEnd <= now)
            {
                continue;
            }
            // Not cancellable: this is bookkeeping of what WeCom already did, and the limiter never throws for Redis.
            await limiter.PauseAsync(key, periodEnd - now, CancellationToken.None);
            Log.HeldForPeriod(logger, key.ToString(), periodEnd, task.OutboxId, recipient);
        }
    }

    private async Task MarkStaleAsync(MassMessageTaskView task, DateTimeOffset now, MassMessageOptions o, CancellationToken ct)
    {
        var note = $"not confirmed by every sender within {o.ConfirmationTimeout:g}";
        if (!await store.SettleAsync(task.OutboxId, MassMessageState.Stale, now, note, ct))
        {
            return;
        }
        Log.Stale(logger, task.OutboxId, task.Kind, task.Target, o.ConfirmationTimeout);
        if (task.Kind == OutboxKinds.SeedingPost && task.Script is { } script)
        {
            var stopped = await seeding.StopRunsAsync(task.Target, script,
                $"seeding post (outbox {task.OutboxId}) was not confirmed within {o.ConfirmationTimeout:g}", ct);
            Log.SeedingStopped(logger, script, task.Target, stopped);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Mass-message tracking pass failed")]
        public static partial void PassFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Information, "Tracking {Count} newly sent mass-message task(s)")]
        public static partial void Tracking(ILogger logger, int count);

        [LoggerMessage(3, LogLevel.Warning, "Polling mass-message task of outbox item {OutboxId} failed; asking again at the next poll")]
        public static partial void PollFailed(ILogger logger, long outboxId, Exception exception);

        [LoggerMessage(4, LogLevel.Information, "Mass-message task of outbox item {OutboxId} ({Kind}) confirmed: {Delivered} of {Recipients} recipient(s) received it")]
        public static partial void Confirmed(ILogger logger, long outboxId, string kind, int delivered, int recipients);

        [LoggerMessage(5, LogLevel.Information, "Reminded the sender of outbox item {OutboxId} (reminder {Number})")]
        public static partial void Reminded(ILogger logger, long outboxId, int number);

        [LoggerMessage(6, LogLevel.Warning, "Reminder for outbox item {OutboxId} failed; it is counted and not repeated")]
        public static partial void RemindFailed(ILogger logger, long outboxId, Exception exception);

        [LoggerMessage(7, LogLevel.Warning, "Mass-message task of outbox item {OutboxId} ({Kind} to {Target}) is stale: unconfirmed after {Timeout}")]
        public static partial void Stale(ILogger logger, long outboxId, string kind, string target, TimeSpan timeout);

        [LoggerMessage(8, LogLevel.Warning, "Stopped {Runs} seeding run(s) of script {Script} in {ChatId}: a post was never confirmed")]
        public static partial void SeedingStopped(ILogger logger, string script, string chatId, int runs);

        [LoggerMessage(9, LogLevel.Information, "Quota {Key} held until {PeriodEnd}: WeCom reports {Recipient} already received another mass message (outbox item {OutboxId})")]
        public static partial void HeldForPeriod(ILogger logger, string key, DateTimeOffset periodEnd, long outboxId, string recipient);
    }
}
