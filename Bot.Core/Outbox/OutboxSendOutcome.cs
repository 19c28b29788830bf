using Bot.Core.RateLimiting;

namespace Bot.Core.Outbox;

/// <summary>
/// Sends one outbox item to WeCom: maps <see cref="OutboxItem.Kind"/> and its payload to API calls and turns every
/// error into an outcome. It should not throw; a throw counts as <see cref="OutboxSendOutcome.RetryLater"/> for an
/// idempotent item and as <see cref="OutboxSendOutcome.OutcomeUnknown"/> for any other.
/// </summary>
public interface IOutboxSender
{
    Task<OutboxSendOutcome> SendAsync(OutboxItem item, CancellationToken ct);
}

/// <summary>The result of one send attempt.</summary>
public abstract record OutboxSendOutcome
{
    private OutboxSendOutcome()
    {
    }

    private OutboxSendOutcome(bool notApplied) => NotApplied = notApplied;

    /// <summary>
    /// WeCom answered that it did not apply the call, or the call never left this process: the allowances the item
    /// reserved (receiving rule, sender cap, contact budget) are given back. False whenever the call may have been
    /// applied (-1, HTTP 5xx, a timeout, a sender that threw): then they stay spent.
    /// </summary>
    public bool NotApplied { get; init; }

    /// <summary>WeCom applied it; <paramref name="RemoteIds"/> holds what it returned (msgid, template_id…).</summary>
    public sealed record Sent(string? RemoteIds) : OutboxSendOutcome
    {
        /// <summary>Targets WeCom listed in add_msg_template's fail_list while taking the rest: they receive nothing.</summary>
        public IReadOnlyList<string> Refused { get; init; } = [];

        /// <summary>Why <see cref="Refused"/> were refused, as recorded with the item; null when none were.</summary>
        public string? RefusedReason { get; init; }
    }

    /// <summary>WeCom refused it for good (41051, 40096, 84061…).</summary>
    public sealed record Failed(int Errcode, string Message) : OutboxSendOutcome;

    /// <summary>A transient error (-1, 45033, a refused connection): try again; see <see cref="NotApplied"/> for whether it was applied.</summary>
    public sealed record RetryLater(TimeSpan After, int? Errcode, string Reason) : OutboxSendOutcome;

    /// <summary>
    /// 45009/45033: pause <paramref name="Key"/> (or every quota of the item when null) for <paramref name="Pause"/>.
    /// WeCom answers both before doing anything, so the call was not applied.
    /// </summary>
    public sealed record RateLimited(QuotaKey? Key, TimeSpan Pause, int Errcode) : OutboxSendOutcome(notApplied: true);

    /// <summary>The call may have been applied (a timeout after the request left): recorded, surfaced, never resent.</summary>
    public sealed record OutcomeUnknown(string Reason) : OutboxSendOutcome;
}
