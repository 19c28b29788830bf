using Bot.Core.Seeding;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

/// <summary>
/// A mass-message task (add_msg_template: seeding posts, broadcasts) is not a send: the sender must confirm it in the
/// WeCom client (FACTS 5.6). This polls each sent task until every sender has confirmed, records the per-recipient
/// results, reminds the sender, and declares the task stale after the timeout. A stale seeding post stops the rest of
/// its run, because later posts of a script would otherwise answer a post the group never saw.
/// </summary>
public sealed partial class MassMessageTracker(
    MassMessageStore store,
    WeComApiClient api,
    SeedingStore seeding,
    IOptions<MassMessageOptions> options,
    TimeProvider time,
    ILogger<MassMessageTracker> logger) : BackgroundService
{
    /// <summary>get_groupmsg_task status of a sender who confirmed.</summary>
    private const int SenderSent = 2;

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

        var confirmed = senders.Where(s => s.Status == SenderSent).Select(s => s.UserId).Distinct(StringComparer.Ordinal).ToList();
        var recipients = new List<MassMessageRecipient>();
        foreach (var sender in confirmed)
        {
            cursor = null;
            do
            {
                var page = await api.GetGroupMsgSendResultAsync(task.MsgId, sender, PageSize, cursor, ct);
                recipients.AddRange(page.Results.Select(r =>
                    new MassMessageRecipient
                    {
                        Sender = sender, Recipient = r.ExternalUserId ?? r.ChatId ?? "", Status = r.Status, SendTime = r.SendTime,
                    }));
                cursor = page.NextCursor;
            }
            while (cursor is not null);
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
    }
}
