using Bot.Core.Handling;
namespace Bot.Core.Inbox;

/// <summary>A verified, decrypted WeCom callback to store before acknowledging it.</summary>
/// <param name="DedupeKey">Identifies the callback across WeCom's retries (MsgId, or a hash of the plaintext).</param>
/// <param name="Kind">The event or message type, for routing and statistics.</param>
/// <param name="Body">The decrypted plaintext.</param>
public sealed record InboxEntry(string DedupeKey, string Kind, DateTimeOffset ReceivedAt, string Body)
{
    public const int MaxDedupeKeyLength = 256;
    public const int MaxKindLength = 64;
}

/// <summary>What <see cref="InboxWriter.AppendAsync"/> did with an entry; either way it is durably stored.</summary>
public abstract record InboxAppendResult
{
    private InboxAppendResult()
    {
    }

    /// <summary>The row id of the stored callback.</summary>
    public abstract long Id { get; }

    public sealed record Stored(long Id) : InboxAppendResult
    {
        public override long Id { get; } = Id;
    }

    /// <summary>A callback with the same dedupe key was stored before (a WeCom retry): acknowledge, do not handle again.</summary>
    public sealed record Duplicate(long ExistingId) : InboxAppendResult
    {
        public override long Id => ExistingId;
    }
}

/// <summary>A callback a worker has leased, and until when the lease holds it.</summary>
internal sealed record ClaimedItem(StoredCallback Item, DateTimeOffset LeaseUntil);

public enum InboxState
{
    Pending,
    Handled,
    Parked,
}

/// <summary>A stored callback with its handling state, for the admin surface.</summary>
public sealed record InboxRecord(
    long Id,
    string DedupeKey,
    string Kind,
    DateTimeOffset ReceivedAt,
    string Body,
    InboxState State,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    DateTimeOffset? HandledAt);

/// <param name="OldestPendingAge">How long the oldest pending callback has waited; null when none is pending.</param>
public sealed record InboxStats(long Pending, TimeSpan? OldestPendingAge, long Parked, long Handled);
