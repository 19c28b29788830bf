using System.Threading.Channels;

namespace Bot.Core.Inbox;

/// <summary>
/// Wakes the worker of this process as soon as something became due (a commit, a replay), so handling does not
/// wait for the next poll. Signals coalesce: one pending wake-up covers any number of commits.
/// </summary>
internal sealed class InboxSignal
{
    private readonly Channel<bool> _wakeUps = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Notify() => _wakeUps.Writer.TryWrite(true);

    public async Task WaitAsync(CancellationToken cancellationToken) => await _wakeUps.Reader.ReadAsync(cancellationToken);
}
