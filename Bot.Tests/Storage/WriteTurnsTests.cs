using Bot.Core.Storage;

namespace Bot.Tests.Storage;

public sealed class WriteTurnsTests
{
    [Test]
    public async Task An_acknowledging_writer_goes_before_queued_background_writers_and_each_queue_keeps_its_order()
    {
        var turns = new WriteTurns();
        await turns.EnterAsync(first: false, CancellationToken.None);
        var order = new List<string>();
        var waiting = new[]
        {
            Turn(turns, "background-1", first: false, order),
            Turn(turns, "background-2", first: false, order),
            Turn(turns, "ack-1", first: true, order),
            Turn(turns, "ack-2", first: true, order),
        };

        turns.Exit();
        await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(order, Is.EqualTo(new[] { "ack-1", "ack-2", "background-1", "background-2" }));
    }

    [Test]
    public async Task A_cancelled_waiter_is_skipped_and_the_turn_passes_on()
    {
        var turns = new WriteTurns();
        await turns.EnterAsync(first: false, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = turns.EnterAsync(first: true, cancel.Token);
        var next = turns.EnterAsync(first: false, CancellationToken.None);

        await cancel.CancelAsync();
        turns.Exit();

        Assert.That(async () => await cancelled, Throws.InstanceOf<OperationCanceledException>());
        await next.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(turns.EnterAsync(first: true, CancellationToken.None).IsCompleted, Is.False, "the turn is held by the next waiter");
    }

    private static async Task Turn(WriteTurns turns, string name, bool first, List<string> order)
    {
        await turns.EnterAsync(first, CancellationToken.None);
        lock (order)
        {
            order.Add(name);
        }
        turns.Exit();
    }
}
