namespace Bot.Core.Storage;

/// <summary>
/// An async lock with two queues: a waiter from the first queue always goes before any waiter from the second, and
/// within a queue they go in arrival order. Waiters sleep on tasks, never on threads.
/// </summary>
internal sealed class WriteTurns
{
    private readonly Lock _gate = new();
    private readonly Queue<TaskCompletionSource> _first = new();
    private readonly Queue<TaskCompletionSource> _rest = new();
    private bool _held;

    public Task EnterAsync(bool first, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (!_held)
            {
                _held = true;
                return Task.CompletedTask;
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (first ? _first : _rest).Enqueue(waiter);
        }
        if (cancellationToken.CanBeCanceled)
        {
            // A cancelled waiter stays queued; Exit skips it because its task is already complete.
            var registration = cancellationToken.Register(static state => ((TaskCompletionSource)state!).TrySetCanceled(), waiter);
            waiter.Task.ContinueWith(static (_, state) => ((CancellationTokenRegistration)state!).Dispose(), registration,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return waiter.Task;
    }

    public void Exit()
    {
        lock (_gate)
        {
            while (_first.TryDequeue(out var next) || _rest.TryDequeue(out next))
            {
                // Handing over keeps _held set: the turn passes straight to the next waiter.
                if (next.TrySetResult())
                {
                    return;
                }
            }
            _held = false;
        }
    }
}
