using System.Data.Common;
using Bot.Core.Contacts;
using Bot.Core.Observability;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Dapper;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Outbox;

/// <summary>Where one recipient of a many-recipient item stands; stored as text in outbox_recipients.state.</summary>
public static class OutboxRecipientStates
{
    public const string Pending = "pending", Sent = "sent", Failed = "failed", Unknown = "unknown";
}

/// <summary>One recipient of a task as stored: its task, its state (<see cref="OutboxRecipientStates"/>) and why.</summary>
public sealed record OutboxRecipient
{
    public long OutboxId { get; init; }
    public string Recipient { get; init; } = "";
    public string State { get; init; } = "";
    public string? Error { get; init; }
    public long? BroadcastId { get; init; }
}

/// <summary>
/// What the per-recipient checks let a mass-message task carry now: the recipients taken (each with the allowances it
/// reserved, given back if WeCom refuses it), and the item to send, whose payload lists exactly them.
/// </summary>
internal sealed record RecipientBatch(OutboxItem Item, BroadcastMessage Action, IReadOnlyList<TakenRecipient> Taken);

internal sealed record TakenRecipient(string Recipient, IReadOnlyList<QuotaLimit> Limits, DateTimeOffset TakenAt);

/// <summary>
/// Admits each recipient of a task on its own, as if it were its own item: opt-out, the receiving rule, the sender's cap
/// and the contact budget per customer or group. WeCom takes a whole list in one call, but each customer's allowances
/// are their own: one whose allowance is spent must wait for it without holding back the others, so the task goes with
/// those that may receive now and the rest move to a task of their own, due when their allowance frees.
/// </summary>
internal sealed partial class OutboxRecipients(
    BotDatabase database,
    OutboxStore store,
    IQuotaLimiter limiter,
    QuotaCatalog catalog,
    OutboxOptions options,
    OutboxOutcomes outcomes,
    TimeProvider time,
    ILogger logger,
    BotMetrics? metrics,
    ContactPreferenceStore? preferences,
    ContactBudget? budget)
{
    /// <summary>Inserts the recipients of a new task in the caller's transaction.</summary>
    public static Task AddAsync(long outboxId, IEnumerable<string> recipients, DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        const string sql = "INSERT INTO outbox_recipients (outbox_id, recipient, state) VALUES (@OutboxId, @Recipient, 'pending')";
        return connection.ExecuteAsync(new CommandDefinition(
            sql, recipients.Select(r => new { OutboxId = outboxId, Recipient = r }), transaction, cancellationToken: ct));
    }

    /// <summary>
    /// The batch to send now, or null when nothing goes now: then the item was released (everyone waits) or failed
    /// (everyone was refused), and its recipients' states say why.
    /// </summary>
    public async Task<RecipientBatch?> AdmitAsync(OutboxItem item, BroadcastMessage action, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var refused = new List<(string Recipient, string Reason)>();
        var taken = new List<TakenRecipient>();
        var waiting = new List<string>();
        DateTimeOffset? waitUntil = null;

        IReadOnlySet<string> optedOut;
        try
        {
            optedOut = preferences is null || action.ToGroup ? new HashSet<string>() : await preferences.OptedOutAmongAsync(action.Recipients, ct);
        }
        catch (Exception ex)
        {
            // As OutboxAdmission does for one customer: nothing was taken or sent, so the item goes back rather than
            // being left 'sending' with its call marked, which lease expiry would call unknown.
            Log.PreferencesUnread(logger, ex, item.Id);
            await outcomes.ReleaseAsync(item, now + options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        // The API's own counters were taken once for the call; each recipient takes only what is theirs.
        var callKeys = catalog.LimitsFor(action.QuotaSubject).Select(l => l.Key).ToHashSet();
        var unavailable = false;
        foreach (var recipient in action.Recipients)
        {
            if (optedOut.Contains(recipient))
            {
                refused.Add((recipient, OutboxDispatcher.CustomerOptedOut));
                continue;
            }
            if (unavailable)
            {
                waiting.Add(recipient);
                continue;
            }
            var limits = LimitsFor(item, action, recipient, callKeys);
            QuotaDecision decision;
            try
            {
                decision = await limiter.TryAcquireAsync(limits, ct);
            }
            catch (Exception ex)
            {
                Log.RecipientLimiterFaulted(logger, ex, item.Id);
                decision = new QuotaDecision(QuotaDecisionKind.Unavailable, options.UnavailableRetryDelay);
            }
            switch (decision.Kind)
            {
                case QuotaDecisionKind.Allowed:
                    taken.Add(new TakenRecipient(recipient, limits, decision.TakenAt ?? now));
                    break;
                case QuotaDecisionKind.Wait when decision.BlockedBy is { } key && ContactBudget.IsBudgetRule(key.Rule)
                    && budget?.PolicyFor(item.Kind) == OverBudget.Drop:
                    metrics?.QuotaWait(key.Rule);
                    refused.Add((recipient, $"{OutboxDispatcher.OverContactBudget} ({key})"));
                    break;
                default:
                    // Fail closed on an unreachable limiter: nothing more is taken, the rest wait.
                    if (decision.Kind == QuotaDecisionKind.Wait)
                    {
                        metrics?.QuotaWait(decision.BlockedBy?.Rule ?? "unknown");
                    }
                    unavailable = decision.Kind == QuotaDecisionKind.Unavailable;
                    waiting.Add(recipient);
                    var at = now + decision.RetryAfter;
                    waitUntil = waitUntil is { } w && w < at ? w : at;
                    break;
            }
        }

        var send = taken.Count > 0 ? action.WithRecipients(taken.Select(t => t.Recipient).ToList()) : null;
        var rest = waiting.Count > 0 ? action.WithRecipients(waiting) : null;
        bool recorded;
        try
        {
            recorded = await RecordAdmissionAsync(item, send ?? rest, send is not null ? rest : null, waitUntil ?? now, refused, now);
        }
        catch (Exception ex)
        {
            // Nothing was sent: every allowance just taken goes back, and so does the unchanged item, as the dispatcher
            // does when its call mark cannot be written.
            Log.AdmissionWriteFailed(logger, ex, item.Id);
            await RefundAsync(item, taken);
            await outcomes.ReleaseAsync(item, now + options.RetryBaseDelay, item.Attempts, null, null, item.CallStartedAt);
            return null;
        }
        if (!recorded)
        {
            // The claim was lost: its new owner decides; what this attempt took goes back.
            await RefundAsync(item, taken);
            return null;
        }
        Log.Admitted(logger, item.Id, taken.Count, waiting.Count, refused.Count);
        if (send is not null)
        {
            return new RecipientBatch(item with { Payload = send.ToPayload() }, send, taken);
        }
        if (rest is not null)
        {
            await outcomes.ReleaseAsync(item, waitUntil ?? now, item.Attempts, null, $"{waiting.Count} recipients wait for their allowance", item.CallStartedAt);
        }
        else
        {
            await outcomes.CompleteAsync(item, OutboxState.Failed, now, item.Attempts, item.CallStartedAt,
                error: refused.Count == 0 ? "the task names no recipient" : string.Join("; ", refused.Select(r => r.Reason).Distinct()));
        }
        return null;
    }

    /// <summary>Gives back every allowance of a batch whose call was not made (the call's own counters said wait).</summary>
    public Task GiveBackAsync(RecipientBatch batch) => RefundAsync(batch.Item, batch.Taken);

    /// <summary>Settles each recipient of a sent batch from the call's outcome, giving back what WeCom did not take.</summary>
    public async Task RecordOutcomeAsync(RecipientBatch batch, OutboxSendOutcome outcome)
    {
        var id = batch.Item.Id;
        switch (outcome)
        {
            case OutboxSendOutcome.Sent sent:
                var refused = sent.Refused.ToHashSet(StringComparer.Ordinal);
                await RefundAsync(batch.Item, batch.Taken.Where(t => refused.Contains(t.Recipient)).ToList());
                await SetStatesAsync(id, refused, OutboxRecipientStates.Failed, sent.RefusedReason);
                await SetPendingAsync(id, OutboxRecipientStates.Sent, null);
                break;
            case OutboxSendOutcome.Failed failed:
                if (failed.NotApplied)
                {
                    await RefundAsync(batch.Item, batch.Taken);
                }
                await SetPendingAsync(id, OutboxRecipientStates.Failed, failed.Message);
                break;
            case OutboxSendOutcome.OutcomeUnknown unknown:
                await SetPendingAsync(id, OutboxRecipientStates.Unknown, unknown.Reason);
                break;
            default:
                // Retried: the recipients stay pending and are admitted again on the next attempt.
                if (outcome.NotApplied)
                {
                    await RefundAsync(batch.Item, batch.Taken);
                }
                break;
        }
    }

    /// <summary>
    /// Every allowance a task's recipients reserved, for a task found not applied after the fact (reconciliation);
    /// null when the item does not carry recipients.
    /// </summary>
    internal static IReadOnlyList<QuotaLimit>? AllowancesOf(OutboxItem item, QuotaCatalog catalog, ContactBudget? budget)
    {
        if (OutboxKinds.Find(item.Kind) is not { CarriesRecipients: true } kind || kind.Read(item) is not BroadcastMessage action)
        {
            return null;
        }
        var callKeys = catalog.LimitsFor(action.QuotaSubject).Select(l => l.Key).ToHashSet();
        return action.Recipients.SelectMany(r => LimitsFor(catalog, budget, item, action, r, callKeys)).ToList();
    }

    private IReadOnlyList<QuotaLimit> LimitsFor(OutboxItem item, BroadcastMessage action, string recipient, HashSet<QuotaKey> callKeys) =>
        LimitsFor(catalog, budget, item, action, recipient, callKeys);

    private static IReadOnlyList<QuotaLimit> LimitsFor(
        QuotaCatalog catalog, ContactBudget? budget, OutboxItem item, BroadcastMessage action, string recipient, HashSet<QuotaKey> callKeys)
    {
        var subject = action.SubjectFor(recipient);
        IReadOnlyList<QuotaLimit> limits = catalog.LimitsFor(subject).Where(l => !callKeys.Contains(l.Key)).ToList();
        return budget?.AddTo(limits, item.Kind, recipient, action.ToGroup, action.ToGroup ? null : recipient, subject) ?? limits;
    }

    /// <summary>
    /// In one transaction, fenced on the claim: the item's payload becomes <paramref name="keep"/>'s recipients, the
    /// refused are failed, and <paramref name="split"/>'s recipients move to a new task due at <paramref name="splitAt"/>.
    /// False when the claim was lost.
    /// </summary>
    private async Task<bool> RecordAdmissionAsync(
        OutboxItem item, BroadcastMessage? keep, BroadcastMessage? split, DateTimeOffset splitAt,
        IReadOnlyList<(string Recipient, string Reason)> refused, DateTimeOffset now)
    {
        const string narrow = "UPDATE outbox SET payload = @Payload WHERE id = @Id AND claim_token = @ClaimToken AND state = 'sending'";
        const string fail = "UPDATE outbox_recipients SET state = 'failed', error = @Error WHERE outbox_id = @Id AND recipient = @Recipient";
        const string move = "UPDATE outbox_recipients SET outbox_id = @NewId WHERE outbox_id = @Id AND recipient = @Recipient";
        await using var write = await database.OpenWriteAsync(CancellationToken.None);
        await using var tx = await write.Connection.BeginTransactionAsync(CancellationToken.None);
        var connection = write.Connection;
        if (keep is not null && await connection.ExecuteAsync(new CommandDefinition(
                narrow, new { Payload = keep.ToPayload(), item.Id, item.ClaimToken }, tx)) != 1)
        {
            return false;
        }
        await connection.ExecuteAsync(new CommandDefinition(
            fail, refused.Select(r => new { item.Id, r.Recipient, Error = r.Reason }), tx));
        if (split is not null)
        {
            var request = OutboxRequest.For(split, $"{item.IdempotencyKey}~{item.Id}@{now.ToUnixTimeMilliseconds()}", item.Provenance)
                with { BroadcastId = item.BroadcastId, NotBefore = splitAt };
            var newId = (await store.EnqueueBatchAsync([request], now, connection, tx, CancellationToken.None))[0].Id;
            await connection.ExecuteAsync(new CommandDefinition(
                move, split.Recipients.Select(r => new { item.Id, NewId = newId, Recipient = r }), tx));
        }
        await tx.CommitAsync(CancellationToken.None);
        return true;
    }

    private async Task SetStatesAsync(long outboxId, IEnumerable<string> recipients, string state, string? error)
    {
        const string sql = "UPDATE outbox_recipients SET state = @State, error = @Error WHERE outbox_id = @Id AND recipient = @Recipient";
        try
        {
            await using var write = await database.OpenWriteAsync(CancellationToken.None);
            await write.Connection.ExecuteAsync(new CommandDefinition(
                sql, recipients.Select(r => new { Id = outboxId, Recipient = r, State = state, Error = error })));
        }
        catch (Exception ex)
        {
            // The item's own state is recorded; only the per-recipient view lags, and progress reads the item's then.
            Log.RecipientWriteFailed(logger, ex, outboxId);
        }
    }

    private async Task SetPendingAsync(long outboxId, string state, string? error)
    {
        const string sql = "UPDATE outbox_recipients SET state = @State, error = @Error WHERE outbox_id = @Id AND state = 'pending'";
        try
        {
            await using var write = await database.OpenWriteAsync(CancellationToken.None);
            await write.Connection.ExecuteAsync(new CommandDefinition(sql, new { Id = outboxId, State = state, Error = error }));
        }
        catch (Exception ex)
        {
            Log.RecipientWriteFailed(logger, ex, outboxId);
        }
    }

    // Only the calendar allowances go back: the sliding counters pace calls and free within their window anyway.
    private async Task RefundAsync(OutboxItem item, IReadOnlyList<TakenRecipient> taken)
    {
        foreach (var recipient in taken)
        {
            var allowances = recipient.Limits.Where(l => l.Calendar != QuotaCalendar.None).ToList();
            if (allowances.Count == 0)
            {
                continue;
            }
            try
            {
                await limiter.RefundAsync(allowances, recipient.TakenAt, CancellationToken.None);
            }
            catch (Exception ex)
            {
                // The allowance stays spent: that recipient waits for the next period, which sends less, never more.
                Log.RecipientRefundFailed(logger, ex, item.Id, recipient.Recipient);
            }
        }
        if (taken.Count > 0)
        {
            Log.RecipientsRefunded(logger, item.Id, taken.Count);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Outbox item {Id}: {Taken} recipients go now, {Waiting} wait for their allowance, {Refused} refused")]
        public static partial void Admitted(ILogger logger, long id, int taken, int waiting, int refused);

        [LoggerMessage(41, LogLevel.Error, "Quota limiter threw admitting a recipient of outbox item {Id}; the rest wait")]
        public static partial void RecipientLimiterFaulted(ILogger logger, Exception exception, long id);

        [LoggerMessage(46, LogLevel.Warning, "Could not read the opt-outs of outbox item {Id}'s recipients; it goes back in line")]
        public static partial void PreferencesUnread(ILogger logger, Exception exception, long id);

        [LoggerMessage(42, LogLevel.Warning, "Could not record the recipients admitted for outbox item {Id}; nothing was sent, their allowances and the item go back")]
        public static partial void AdmissionWriteFailed(ILogger logger, Exception exception, long id);

        [LoggerMessage(43, LogLevel.Error, "Could not record recipient states of outbox item {Id}")]
        public static partial void RecipientWriteFailed(ILogger logger, Exception exception, long id);

        [LoggerMessage(44, LogLevel.Error, "Could not give back the allowances of recipient {Recipient} of outbox item {Id}")]
        public static partial void RecipientRefundFailed(ILogger logger, Exception exception, long id, string recipient);

        [LoggerMessage(45, LogLevel.Information, "Outbox item {Id}: allowances of {Count} recipients WeCom did not take are given back")]
        public static partial void RecipientsRefunded(ILogger logger, long id, int count);
    }
}
