namespace Bot.Core.Handling;

/// <summary>A stored callback handed to every <see cref="ICallbackHandler"/>.</summary>
/// <param name="Attempts">How many earlier handling attempts failed.</param>
public sealed record StoredCallback(long Id, string DedupeKey, string Kind, DateTimeOffset ReceivedAt, string Body, int Attempts);

/// <summary>
/// A stored callback as one handler has prepared it: the key it is ordered by and whatever the handler read from it,
/// so the body is parsed once for both. A handler that reads nothing uses this record as it is.
/// </summary>
/// <param name="OrderingKey">
/// Callbacks with the same key (the same customer, the same group) are handled one after another in arrival order;
/// callbacks with different keys may be handled at the same time. One key for everything handles every callback in turn.
/// </param>
public record PreparedCallback(StoredCallback Item, string OrderingKey);

/// <summary>
/// Handles stored callbacks. Delivery is at least once (a crash after handling but before the item is marked
/// handled runs it again, and a failure in one handler re-runs all of them), so every handler must be idempotent.
/// </summary>
public interface ICallbackHandler
{
    /// <summary>
    /// Reads what the handler needs before the callback's turn comes, without doing any of its work; must not throw
    /// for a malformed body (<see cref="HandleAsync"/> then fails and records it). The default orders every callback
    /// behind the one before.
    /// </summary>
    PreparedCallback Prepare(StoredCallback item) => new(item, "");

    /// <summary>Does the work for a callback this handler's <see cref="Prepare"/> returned.</summary>
    Task HandleAsync(PreparedCallback callback, CancellationToken ct);

    /// <summary>
    /// Kinds of callback whose work is worthless some time after it was received (a contact-add's welcome_code lives
    /// 20 s), with that time. The worker holds such a callback for at most a quarter of it, so that when the instance
    /// handling it dies, another takes it over while it is still worth doing.
    /// </summary>
    IReadOnlyDictionary<string, TimeSpan> Deadlines => System.Collections.Immutable.ImmutableDictionary<string, TimeSpan>.Empty;
}
