using Bot.Core.Observability;
using Bot.Core.Handling;
using Bot.Core.Inbox;
using Bot.Tests.Storage;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Inbox;

[TestFixture(TestStorage.Sqlite)]
[TestFixture(TestStorage.LiveSqlServer)]
public sealed class InboxStoreTests(TestStorage storage)
{
    private InboxHarness _inbox = null!;

    [SetUp]
    public async Task CreateInbox()
    {
        TestDatabase.RequireAvailable(storage);
        _inbox = await InboxHarness.CreateAsync(storage, o => o.MaxAttempts = 1);
    }

    [TearDown]
    public async Task DisposeInbox()
    {
        if (_inbox is not null)
        {
            await _inbox.DisposeAsync();
        }
    }

    [Test]
    public async Task Stats_count_each_state_and_age_the_oldest_pending_callback()
    {
        using var failed = _inbox.Collect(BotMetrics.InboxFailed);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var writer = await _inbox.StartWriterAsync();
        var now = _inbox.Time.GetUtcNow();
        var handler = new RecordingHandler((item, _, _) => item.Kind == "bad" ? throw new InvalidOperationException("no") : Task.CompletedTask);
        var worker = _inbox.Worker(handler);
        await worker.StartAsync(CancellationToken.None);
        try
        {
            await writer.AppendAsync(InboxHarness.Entry("good") with { ReceivedAt = now.AddMinutes(-1) }, CancellationToken.None);
            await writer.AppendAsync(InboxHarness.Entry("bad", "bad") with { ReceivedAt = now.AddMinutes(-1) }, CancellationToken.None);
            await failed.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(20));
            await handled.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(20));
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
        }
        await writer.AppendAsync(InboxHarness.Entry("waiting-1") with { ReceivedAt = now.AddSeconds(-90) }, CancellationToken.None);
        await writer.AppendAsync(InboxHarness.Entry("waiting-2") with { ReceivedAt = now.AddSeconds(-30) }, CancellationToken.None);

        var stats = await _inbox.Store.GetStatsAsync(CancellationToken.None);

        Assert.That(stats, Is.EqualTo(new InboxStats(Pending: 2, OldestPendingAge: TimeSpan.FromSeconds(90), Parked: 1, Handled: 1)));
    }

    [Test]
    public async Task The_purger_deletes_only_callbacks_handled_before_the_retention_cutoff()
    {
        var writer = await _inbox.StartWriterAsync();
        foreach (var key in new[] { "old-handled", "recent-handled", "old-parked", "old-pending" })
        {
            await writer.AppendAsync(InboxHarness.Entry(key), CancellationToken.None);
        }
        var now = _inbox.Time.GetUtcNow();
        await using (var connection = await _inbox.Database.OpenAsync(CancellationToken.None))
        {
            const string set = "UPDATE inbox SET state = @State, handled_at = @At, received_at = @At WHERE dedupe_key = @Key";
            await connection.ExecuteAsync(set, new { State = "handled", At = now.AddDays(-31).ToUnixTimeMilliseconds(), Key = "old-handled" });
            await connection.ExecuteAsync(set, new { State = "handled", At = now.AddDays(-29).ToUnixTimeMilliseconds(), Key = "recent-handled" });
            await connection.ExecuteAsync(set, new { State = "parked", At = now.AddDays(-40).ToUnixTimeMilliseconds(), Key = "old-parked" });
            await connection.ExecuteAsync("UPDATE inbox SET received_at = @At WHERE dedupe_key = 'old-pending'",
                new { At = now.AddDays(-40).ToUnixTimeMilliseconds() });
        }
        var purger = new InboxPurger(_inbox.Store, Options.Create(new InboxOptions { Retention = TimeSpan.FromDays(30) }), _inbox.Time,
            NullLogger<InboxPurger>.Instance);

        var deleted = await purger.PurgeOnceAsync(CancellationToken.None);

        await using var check = await _inbox.Database.OpenAsync(CancellationToken.None);
        var left = await check.QueryAsync<string>("SELECT dedupe_key FROM inbox ORDER BY dedupe_key");
        Assert.That(deleted, Is.EqualTo(1));
        Assert.That(left, Is.EqualTo(new[] { "old-parked", "old-pending", "recent-handled" }),
            "parked callbacks wait for a human and pending ones for handling, however old");
    }

    [Test]
    public async Task An_empty_inbox_has_no_oldest_pending_age()
    {
        var stats = await _inbox.Store.GetStatsAsync(CancellationToken.None);

        Assert.That(stats, Is.EqualTo(new InboxStats(0, null, 0, 0)));
    }

    [Test]
    public async Task ListSince_streams_callbacks_from_a_point_in_time_oldest_first_across_pages()
    {
        var writer = await _inbox.StartWriterAsync();
        var since = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        await writer.AppendAsync(InboxHarness.Entry("before") with { ReceivedAt = since.AddMilliseconds(-1) }, CancellationToken.None);
        await writer.AppendAsync(InboxHarness.Entry("late") with { ReceivedAt = since.AddHours(2) }, CancellationToken.None);
        // More than one page, all received in the same millisecond, so paging must break ties by id.
        var sameInstant = await Task.WhenAll(Enumerable.Range(0, 1200)
            .Select(i => writer.AppendAsync(InboxHarness.Entry($"burst-{i}") with { ReceivedAt = since.AddHours(1) }, CancellationToken.None)));

        var listed = new List<StoredCallback>();
        await foreach (var item in _inbox.Store.ListSinceAsync(since, CancellationToken.None))
        {
            listed.Add(item);
        }

        Assert.That(listed.Select(i => i.DedupeKey), Does.Not.Contain("before"));
        Assert.That(listed, Has.Count.EqualTo(1201));
        Assert.That(listed.Take(1200).Select(i => i.Id), Is.EqualTo(sameInstant.Select(r => r.Id).Order()));
        Assert.That(listed[^1].DedupeKey, Is.EqualTo("late"));
        Assert.That(listed[^1].ReceivedAt, Is.EqualTo(since.AddHours(2)));
    }

    [Test]
    public async Task Get_of_an_unknown_id_is_null_and_replay_of_it_is_refused()
    {
        Assert.That(await _inbox.Store.GetAsync(424242, CancellationToken.None), Is.Null);
        Assert.That(await _inbox.Store.ReplayAsync(424242, CancellationToken.None), Is.False);
    }
}
