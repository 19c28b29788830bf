namespace Bot.Core.Outbox;

/// <summary>
/// Wakes sleeping dispatchers of this process when an item is enqueued or a send slot frees up. Other instances
/// find new items at their next due time; each instance's own enqueues wake its own dispatcher at once.
/// </summary>
internal sealed class OutboxSignal
{
    private TaskCompletionSource _next = NewSource();

    /// <summary>A task that completes at the next <see cref="Pulse"/>. Take it before looking for work, then wait on it.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

    /// <summary>Waits for <paramref name="next"/>, at most <paramref name="timeout"/> (null: no limit), on <paramref name="time"/>'s timers.</summary>
    public static async Task WaitAsync(Task next, TimeSpan? timeout, TimeProvider time, CancellationToken ct)
    {
        if (timeout is null)
        {
            await next.WaitAsync(ct);
            return;
        }
        using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var delay = Task.Delay(timeout.Value, time, delayCancel.Token);
        await Task.WhenAny(next, delay);
        await delayCancel.CancelAsync();
        ct.ThrowIfCancellationRequested();
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
