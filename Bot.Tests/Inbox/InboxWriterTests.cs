using Bot.Core.Inbox;
using Bot.Core.Storage;
using Bot.Tests.Storage;
using Dapper;

namespace Bot.Tests.Inbox;

[TestFixture(TestStorage.Sqlite)]
[TestFixture(TestStorage.LiveSqlServer)]
public sealed class InboxWriterTests(TestStorage storage)
{
    private InboxHarness _inbox = null!;

    [SetUp]
    public async Task CreateInbox()
    {
        TestDatabase.RequireAvailable(storage);
        _inbox = await InboxHarness.CreateAsync(storage);
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
    public async Task Two_thousand_concurrent_appends_are_all_stored_in_shared_transactions()
    {
        using var batchSizes = _inbox.CollectBatchSizes();
        var writer = await _inbox.StartWriterAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 2000)
            .Select(i => Task.Run(() => writer.AppendAsync(InboxHarness.Entry($"key-{i}"), CancellationToken.None))));

        Assert.That(results, Is.All.InstanceOf<InboxAppendResult.Stored>());
        Assert.That(results.Select(r => r.Id).Distinct().Count(), Is.EqualTo(2000));
        Assert.That(await CountRowsAsync(), Is.EqualTo(2000));
        var sizes = batchSizes.GetMeasurementSnapshot().Select(m => m.Value).ToList();
        Assert.That(sizes.Sum(), Is.EqualTo(2000));
        Assert.That(sizes.Max(), Is.GreaterThan(1), "concurrent appends share a transaction");
    }

    [Test]
    public async Task Concurrent_duplicates_are_reported_as_duplicates_and_stored_once()
    {
        var writer = await _inbox.StartWriterAsync();
        var keys = Enumerable.Range(0, 2000).Select(i => $"key-{i % 500}").ToList();

        var results = await Task.WhenAll(keys.Select(key => Task.Run(async () => (key, result: await writer.AppendAsync(InboxHarness.Entry(key), CancellationToken.None)))));

        Assert.That(await CountRowsAsync(), Is.EqualTo(500));
        foreach (var group in results.GroupBy(r => r.key))
        {
            var stored = group.Where(r => r.result is InboxAppendResult.Stored).ToList();
            Assert.That(stored, Has.Count.EqualTo(1), $"{group.Key} is stored once");
            Assert.That(group.Select(r => r.result.Id), Is.All.EqualTo(stored[0].result.Id), $"{group.Key}: duplicates name the stored row");
        }
        Assert.That(results.Count(r => r.result is InboxAppendResult.Duplicate), Is.EqualTo(1500));
    }

    [Test]
    public async Task Retry_of_a_stored_callback_is_acknowledged_and_not_stored_twice()
    {
        var writer = await _inbox.StartWriterAsync();
        var first = await writer.AppendAsync(InboxHarness.Entry("msg-1"), CancellationToken.None);

        var retry = await writer.AppendAsync(InboxHarness.Entry("msg-1"), CancellationToken.None);

        Assert.That(first, Is.InstanceOf<InboxAppendResult.Stored>());
        Assert.That(retry, Is.EqualTo(new InboxAppendResult.Duplicate(first.Id)));
        Assert.That(await CountRowsAsync(), Is.EqualTo(1));
    }

    [Test]
    public async Task A_stored_callback_is_pending_with_its_fields_and_due_at_once()
    {
        var writer = await _inbox.StartWriterAsync();
        var entry = InboxHarness.Entry("msg-fields", "text");

        var id = (await writer.AppendAsync(entry, CancellationToken.None)).Id;
        var record = await _inbox.Store.GetAsync(id, CancellationToken.None);

        Assert.That(record, Is.EqualTo(new InboxRecord(
            id, entry.DedupeKey, entry.Kind, entry.ReceivedAt, entry.Body, InboxState.Pending, 0, _inbox.Time.GetUtcNow(), null, null)));
    }

    [Test]
    public async Task A_failed_batch_fails_its_waiters_stores_none_of_them_and_the_writer_carries_on()
    {
        await ExecuteAsync(_inbox.Db.Provider == StorageProvider.Sqlite
            ? "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbox WHEN NEW.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END;"
            : "CREATE TRIGGER dbo.refuse_poison ON dbo.inbox AFTER INSERT AS IF EXISTS (SELECT 1 FROM inserted WHERE kind = N'poison') THROW 50000, N'poison refused', 1;");
        var writer = await _inbox.StartWriterAsync();

        var appends = Enumerable.Range(0, 200)
            .Select(i => (key: $"key-{i}", task: writer.AppendAsync(InboxHarness.Entry($"key-{i}", i == 100 ? "poison" : "text"), CancellationToken.None)))
            .ToList();
        await Task.WhenAll(appends.Select(a => a.task.ContinueWith(static _ => { }, TaskScheduler.Default)));
        var afterwards = await writer.AppendAsync(InboxHarness.Entry("after"), CancellationToken.None);

        Assert.That(appends[100].task.IsFaulted, "the poisoned append fails");
        var storedKeys = (await QueryKeysAsync()).ToHashSet();
        foreach (var (key, task) in appends)
        {
            Assert.That(storedKeys.Contains(key), Is.EqualTo(task.IsCompletedSuccessfully), $"{key}: stored exactly when its append succeeded");
        }
        Assert.That(appends.Count(a => a.task.IsFaulted), Is.GreaterThan(0));
        Assert.That(afterwards, Is.InstanceOf<InboxAppendResult.Stored>());
    }

    [Test]
    public async Task Stopping_the_writer_commits_every_queued_append_and_refuses_later_ones()
    {
        var writer = await _inbox.StartWriterAsync();
        var queued = Enumerable.Range(0, 500).Select(i => writer.AppendAsync(InboxHarness.Entry($"key-{i}"), CancellationToken.None)).ToList();

        await writer.StopAsync(CancellationToken.None);

        Assert.That(queued.Select(t => t.Status), Is.All.EqualTo(TaskStatus.RanToCompletion));
        Assert.That(await CountRowsAsync(), Is.EqualTo(500));
        Assert.ThrowsAsync<InvalidOperationException>(() => writer.AppendAsync(InboxHarness.Entry("late"), CancellationToken.None));
    }

    [Test]
    public async Task An_entry_the_database_would_refuse_is_rejected_before_it_can_fail_a_batch()
    {
        var writer = await _inbox.StartWriterAsync();

        Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync(InboxHarness.Entry(new string('k', 257)), CancellationToken.None));
        Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync(InboxHarness.Entry("k", ""), CancellationToken.None));
        Assert.That(await CountRowsAsync(), Is.Zero);
    }

    private async Task<long> CountRowsAsync()
    {
        await using var connection = await _inbox.Database.OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM inbox");
    }

    private async Task<IEnumerable<string>> QueryKeysAsync()
    {
        await using var connection = await _inbox.Database.OpenAsync(CancellationToken.None);
        return await connection.QueryAsync<string>("SELECT dedupe_key FROM inbox");
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = await _inbox.Database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(sql);
    }
}
