using Bot.Core.Outbox;

namespace Bot.Tests.Fixtures;

/// <summary>
/// One recipient of a broadcast as a test reads it: its own state and reason from outbox_recipients, and when the task
/// now carrying it is due (a recipient waiting for its allowance is moved to a task of its own, due then).
/// </summary>
public sealed record RecipientView(string Target, OutboxState State, string? LastError, DateTimeOffset NextAttemptAt, long OutboxId);

public static class BroadcastRecipients
{
    public static async Task<IReadOnlyList<RecipientView>> ListAsync(BotApp app, long broadcastId)
    {
        var store = app.Service<OutboxStore>();
        var recipients = await store.ListRecipientsAsync(broadcastId, CancellationToken.None);
        var items = new Dictionary<long, OutboxItem>();
        foreach (var state in new[] { OutboxState.Pending, OutboxState.Sending, OutboxState.Sent, OutboxState.Failed, OutboxState.Unknown, OutboxState.Expired })
        {
            foreach (var item in await store.ListByStateAsync(state, 1000, CancellationToken.None))
            {
                items[item.Id] = item;
            }
        }
        return recipients.Select(r =>
        {
            var item = items.GetValueOrDefault(r.OutboxId);
            var state = r.State switch
            {
                OutboxRecipientStates.Sent => OutboxState.Sent,
                OutboxRecipientStates.Failed => OutboxState.Failed,
                OutboxRecipientStates.Unknown => OutboxState.Unknown,
                _ => item?.State is { } s && s != OutboxState.Sending ? s : OutboxState.Pending,
            };
            return new RecipientView(r.Recipient, state, r.Error ?? (state == OutboxState.Failed ? item?.LastError : null),
                item?.NextAttemptAt ?? DateTimeOffset.MinValue, r.OutboxId);
        }).ToList();
    }

    public static Task<IReadOnlyList<RecipientView>> WaitForAsync(BotApp app, long broadcastId, Func<IReadOnlyList<RecipientView>, bool> done, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(
            () => ListAsync(app, broadcastId),
            rs => rs.Count > 0 && done(rs),
            rs => $"broadcast {broadcastId} recipients: {string.Join(", ", rs.Select(r => $"{r.Target}={r.State}"))}", timeout);
}
