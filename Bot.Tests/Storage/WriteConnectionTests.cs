using System.Data;
using Bot.Core.Storage;
using Bot.Tests.Fixtures;
using Dapper;

namespace Bot.Tests.Storage;

/// <summary>
/// A write connection on SQLite holds this process's write turn from open to dispose, so writers queue in the process
/// instead of sleeping in SQLite's busy handler; an acknowledging writer (the inbox's group commit) goes first.
/// </summary>
public sealed class WriteConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public async Task A_second_write_connection_opens_only_once_the_first_is_disposed()
    {
        await using var db = await TempDatabase.CreateAsync();
        var first = await db.Database.OpenWriteAsync(CancellationToken.None);

        var second = db.Database.OpenWriteAsync(CancellationToken.None).AsTask();

        Assert.That(first.Connection.State, Is.EqualTo(ConnectionState.Open));
        Assert.That(second.IsCompleted, Is.False, "the second writer waits for the first one's turn");
        await first.DisposeAsync();
        await using var next = await second.WaitAsync(Patience);
        Assert.That(next.Connection.State, Is.EqualTo(ConnectionState.Open));
    }

    [Test]
    public async Task An_acknowledging_write_connection_goes_before_a_background_one_queued_earlier()
    {
        await using var db = await TempDatabase.CreateAsync();
        var holder = await db.Database.OpenWriteAsync(CancellationToken.None);

        var background = db.Database.OpenWriteAsync(CancellationToken.None).AsTask();
        var acknowledging = db.Database.OpenWriteAsync(CancellationToken.None, acknowledging: true).AsTask();
        await holder.DisposeAsync();

        var ack = await acknowledging.WaitAsync(Patience);
        Assert.That(background.IsCompleted, Is.False, "the background writer still waits behind the acknowledging one");
        await ack.DisposeAsync();
        await using var last = await background.WaitAsync(Patience);
        Assert.That(last.Connection.State, Is.EqualTo(ConnectionState.Open));
    }

    [Test]
    public async Task A_combined_write_waits_for_the_turn_a_write_connection_holds()
    {
        await using var db = await TempDatabase.CreateAsync();
        var holder = await db.Database.OpenWriteAsync(CancellationToken.None);

        // No transaction is open on the holder, so only the turn can hold the combined write back.
        var combined = db.Database.ExecuteCombinedAsync("UPDATE inbox SET state = state WHERE id = -1", new { });
        // That something does not happen can only be watched for a while; 200 ms is ample for an uncontended UPDATE.
        await Task.Delay(TimeSpan.FromMilliseconds(200));

        Assert.That(combined.IsCompleted, Is.False, "the combined write waits for the held turn");
        await holder.DisposeAsync();
        Assert.That(await combined.WaitAsync(Patience), Is.Zero);
    }

    [Test]
    public async Task A_write_connection_that_fails_to_open_gives_its_turn_back()
    {
        await using var db = await TempDatabase.CreateAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        // The turn is free, so it is taken at once; the open then fails on the cancelled token.
        Assert.That(async () => await db.Database.OpenWriteAsync(cancelled.Token), Throws.InstanceOf<OperationCanceledException>());

        var next = db.Database.OpenWriteAsync(CancellationToken.None).AsTask();
        await using var write = await next.WaitAsync(Patience);
        Assert.That(await write.Connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM inbox"), Is.Zero);
    }

    [Test]
    public async Task On_SqlServer_write_connections_take_no_turn()
    {
        TestDatabase.RequireAvailable(TestStorage.LiveSqlServer);
        await using var server = await TestDatabase.CreateAsync(TestStorage.LiveSqlServer);
        var database = server.Open();

        // Row locks arbitrate SQL Server writers, so both are open at once.
        await using var first = await database.OpenWriteAsync(CancellationToken.None);
        await using var second = await database.OpenWriteAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.That(second.Connection.State, Is.EqualTo(ConnectionState.Open));
    }

    [Test]
    public async Task Disposing_a_write_connection_twice_lets_only_one_writer_in()
    {
        await using var db = await TempDatabase.CreateAsync();
        var first = await db.Database.OpenWriteAsync(CancellationToken.None);
        var second = db.Database.OpenWriteAsync(CancellationToken.None).AsTask();
        var third = db.Database.OpenWriteAsync(CancellationToken.None).AsTask();

        await first.DisposeAsync();
        await first.DisposeAsync();

        await using var held = await second.WaitAsync(Patience);
        Assert.That(third.IsCompleted, Is.False, "a second dispose must not hand out a turn it no longer holds");
        await held.DisposeAsync();
        await using var last = await third.WaitAsync(Patience);
    }
}
