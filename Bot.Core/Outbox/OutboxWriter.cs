using System.Data.Common;

namespace Bot.Core.Outbox;

/// <summary>
/// Where every outbound action starts: stores it (once per idempotency key) and wakes this process's dispatcher.
/// </summary>
public sealed class OutboxWriter
{
    private readonly OutboxStore _store;
    private readonly OutboxSignal _signal;
    private readonly TimeProvider _time;

    internal OutboxWriter(OutboxStore store, OutboxSignal signal, TimeProvider time)
    {
        _store = store;
        _signal = signal;
        _time = time;
    }

    public async Task<EnqueueResult> EnqueueAsync(OutboxRequest request, CancellationToken ct)
    {
        var result = await _store.EnqueueAsync(request, _time.GetUtcNow(), ct);
        _signal.Pulse();
        return result;
    }

    /// <summary>Stores all requests in one transaction.</summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(IReadOnlyList<OutboxRequest> requests, CancellationToken ct)
    {
        var results = await _store.EnqueueBatchAsync(requests, _time.GetUtcNow(), ct);
        _signal.Pulse();
        return results;
    }

    /// <summary>
    /// Stores all requests inside the caller's transaction. The dispatcher cannot see them before the caller
    /// commits, so call <see cref="NotifyCommitted"/> after the commit.
    /// </summary>
    public Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(
        IReadOnlyList<OutboxRequest> requests, DbConnection connection, DbTransaction transaction, CancellationToken ct) =>
        _store.EnqueueBatchAsync(requests, _time.GetUtcNow(), connection, transaction, ct);

    /// <summary>Wakes the dispatcher after a caller's transaction holding outbox items has committed.</summary>
    public void NotifyCommitted() => _signal.Pulse();
}
