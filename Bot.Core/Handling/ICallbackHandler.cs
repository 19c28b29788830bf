namespace Bot.Core.Handling;

/// <summary>A stored callback handed to every <see cref="ICallbackHandler"/>.</summary>
/// <param name="Attempts">How many earlier handling attempts failed.</param>
public sealed record StoredCallback(long Id, string DedupeKey, string Kind, DateTimeOffset ReceivedAt, string Body, int Attempts);

/// <summary>
/// Handles stored callbacks. Delivery is at least once (a crash after handling but before the item is marked
/// handled runs it again, and a failure in one handler re-runs all of them), so every handler must be idempotent.
/// </summary>
public interface ICallbackHandler
{
    Task HandleAsync(StoredCallback item, CancellationToken ct);

    /// <summary>
    /// Callbacks with the same key (the same customer, the same group) are handled one after another in arrival
    /// order; callbacks with different keys may be handled at the same time. The default, one key for everything,
    /// handles every callback in turn.
    /// </summary>
    string OrderingKey(StoredCallback item) => "";

    /// <summary>
    /// Kinds of callback whose work is worthless some time after it was received (a contact-add's welcome_code lives
    /// 20 s), with that time. The worker holds such a callback for at most a quarter of it, so that when the instance
    /// handling it dies, another takes it over while it is still worth doing.
    /// </summary>
    IReadOnlyDictionary<string, TimeSpan> Deadlines => System.Collections.Immutable.ImmutableDictionary<string, TimeSpan>.Empty;
}
