using Bot.Core.Observability;
using Bot.Core.Handling;
using Bot.Core.Inbox;
using Bot.Tests.Storage;

namespace Bot.Tests.Inbox;

[TestFixture(TestStorage.Sqlite)]
[TestFixture(TestStorage.LiveSqlServer)]
public sealed class InboxWorkerTests(TestStorage storage)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private InboxHarness _inbox = null!;
    private readonly List<InboxWorker> _workers = [];

    [SetUp]
    public void RequireDatabase() => TestDatabase.RequireAvailable(storage);

    [TearDown]
    public async Task StopAll()
    {
        foreach (var worker in _workers)
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
        }
        _workers.Clear();
        if (_inbox is not null)
        {
            await _inbox.DisposeAsync();
        }
    }

    [Test]
    public async Task Each_stored_callback_is_handled_once_and_marked_handled()
    {
        _inbox = await InboxHarness.CreateAsync(storage, o => o.BatchSize = 16);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var handler = new RecordingHandler();
        var writer = await _inbox.StartWriterAsync();
        await StartAsync(_inbox.Worker(handler));

        var ids = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => writer.AppendAsync(InboxHarness.Entry($"key-{i}"), CancellationToken.None)));
        await handled.WaitForMeasurementsAsync(100, Timeout);

        Assert.That(handler.Calls.Select(c => c.Item.Id), Is.EquivalentTo(ids.Select(r => r.Id)), "every item exactly once");
        Assert.That(handler.Calls.Select(c => c.Item.Id), Is.Ordered, "in arrival order");
        var stats = await _inbox.Store.GetStatsAsync(CancellationToken.None);
        Assert.That(stats, Is.EqualTo(new InboxStats(0, null, 0, 100)));
        var record = await _inbox.Store.GetAsync(ids[0].Id, CancellationToken.None);
        Assert.That(record!.HandledAt, Is.EqualTo(_inbox.Time.GetUtcNow()));
    }

    [Test]
    public async Task A_failing_handler_is_retried_with_backoff_then_parked_with_its_error_and_replay_brings_it_back()
    {
        _inbox = await InboxHarness.CreateAsync(storage, o =>
        {
            o.MaxAttempts = 3;
            o.RetryBaseDelay = TimeSpan.FromSeconds(2);
        });
        using var failed = _inbox.Collect(BotMetrics.InboxFailed);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var start = _inbox.Time.GetUtcNow();
        var handler = new RecordingHandler((_, call, _) => call <= 3 ? throw new InvalidOperationException("template 'welcome' is missing") : Task.CompletedTask)
        {
            Clock = _inbox.Time,
        };
        var writer = await _inbox.StartWriterAsync();
        await StartAsync(_inbox.Worker(handler, jitter: 1.0));

        var id = (await writer.AppendAsync(InboxHarness.Entry("msg-fails"), CancellationToken.None)).Id;
        await failed.WaitForMeasurementsAsync(1, Timeout);
        var afterFirst = await _inbox.Store.GetAsync(id, CancellationToken.None);
        _inbox.Time.Advance(TimeSpan.FromSeconds(2));
        await failed.WaitForMeasurementsAsync(2, Timeout);
        var afterSecond = await _inbox.Store.GetAsync(id, CancellationToken.None);
        _inbox.Time.Advance(TimeSpan.FromSeconds(4));
        await failed.WaitForMeasurementsAsync(3, Timeout);
        var parked = await _inbox.Store.GetAsync(id, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(afterFirst!.State, Is.EqualTo(InboxState.Pending));
            Assert.That(afterFirst.Attempts, Is.EqualTo(1));
            Assert.That(afterFirst.NextAttemptAt, Is.EqualTo(start + TimeSpan.FromSeconds(2)), "first retry after the base delay");
            Assert.That(afterFirst.LastError, Does.Contain("template 'welcome' is missing"));
            Assert.That(afterSecond!.NextAttemptAt, Is.EqualTo(start + TimeSpan.FromSeconds(2 + 4)), "the delay doubles");
            Assert.That(handler.Calls.Select(c => c.At), Is.EqualTo(new[] { start, start.AddSeconds(2), start.AddSeconds(6) }), "no attempt before it is due");
            Assert.That(handler.Calls.Select(c => c.Item.Attempts), Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(parked!.State, Is.EqualTo(InboxState.Parked));
            Assert.That(parked.Attempts, Is.EqualTo(3));
            Assert.That(parked.LastError, Is.EqualTo("InvalidOperationException: template 'welcome' is missing"));
            Assert.That(failed.LastMeasurement!.Tags["outcome"], Is.EqualTo("parked"));
        });
        Assert.That((await _inbox.Store.ListParkedAsync(10, CancellationToken.None)).Select(r => r.Id), Is.EqualTo(new[] { id }));
        Assert.That((await _inbox.Store.GetStatsAsync(CancellationToken.None)).Parked, Is.EqualTo(1));

        Assert.That(await _inbox.Store.ReplayAsync(id, CancellationToken.None), Is.True);
        await handled.WaitForMeasurementsAsync(1, Timeout);

        var replayed = await _inbox.Store.GetAsync(id, CancellationToken.None);
        Assert.That(replayed!.State, Is.EqualTo(InboxState.Handled));
        Assert.That(handler.Calls[^1].Item.Attempts, Is.Zero, "a replay starts a fresh set of attempts");
        Assert.That(await _inbox.Store.ReplayAsync(id, CancellationToken.None), Is.False, "only parked callbacks are replayed");
    }

    [Test]
    public async Task Two_workers_on_one_database_never_handle_one_callback_twice()
    {
        _inbox = await InboxHarness.CreateAsync(storage, o => o.BatchSize = 10);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var writer = await _inbox.StartWriterAsync();
        await Task.WhenAll(Enumerable.Range(0, 500).Select(i => writer.AppendAsync(InboxHarness.Entry($"key-{i}"), CancellationToken.None)));
        // Each worker's first call waits for the other's, so both provably hold leases at the same time.
        var firstA = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstB = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = new RecordingHandler(async (_, _, _) =>
        {
            firstA.TrySetResult();
            await firstB.Task.WaitAsync(Timeout);
        });
        var b = new RecordingHandler(async (_, _, _) =>
        {
            firstB.TrySetResult();
            await firstA.Task.WaitAsync(Timeout);
        });

        await StartAsync(_inbox.Worker(a));
        await StartAsync(_inbox.Worker(b, new InboxSignal()));
        await handled.WaitForMeasurementsAsync(500, Timeout);

        var all = a.Calls.Concat(b.Calls).Select(c => c.Item.Id).ToList();
        Assert.That(all, Has.Count.EqualTo(500));
        Assert.That(all, Is.Unique);
        Assert.That(a.Calls, Is.Not.Empty);
        Assert.That(b.Calls, Is.Not.Empty);
        Assert.That((await _inbox.Store.GetStatsAsync(CancellationToken.None)).Handled, Is.EqualTo(500));
    }

    [Test]
    public async Task A_callback_whose_worker_died_mid_handling_is_handled_by_another_worker_once_the_lease_expires()
    {
        _inbox = await InboxHarness.CreateAsync(storage);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Ignores cancellation, as a process that froze or died would never report back.
        var dying = new RecordingHandler(async (_, _, _) =>
        {
            entered.TrySetResult();
            await hung.Task;
        });
        var survivor = new RecordingHandler();
        var writer = await _inbox.StartWriterAsync();
        var crashed = _inbox.Worker(dying);
        await crashed.StartAsync(CancellationToken.None);

        var id = (await writer.AppendAsync(InboxHarness.Entry("msg-crash"), CancellationToken.None)).Id;
        await entered.Task.WaitAsync(Timeout);
        await crashed.StopAsync(new CancellationToken(canceled: true));
        crashed.Dispose();
        await StartAsync(_inbox.Worker(survivor, new InboxSignal()));
        _inbox.Time.Advance(_inbox.Options.LeaseDuration + TimeSpan.FromSeconds(1));
        await handled.WaitForMeasurementsAsync(1, Timeout);
        hung.SetResult();

        Assert.That(survivor.Calls.Select(c => c.Item.Id), Is.EqualTo(new[] { id }));
        Assert.That((await _inbox.Store.GetAsync(id, CancellationToken.None))!.State, Is.EqualTo(InboxState.Handled));
    }

    [Test]
    public async Task A_worker_stopped_mid_handling_gives_the_callback_back_at_once()
    {
        _inbox = await InboxHarness.CreateAsync(storage);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var polite = new RecordingHandler(async (_, _, ct) =>
        {
            entered.TrySetResult();
            await Task.Delay(System.Threading.Timeout.Infinite, ct);
        });
        var next = new RecordingHandler { Clock = _inbox.Time };
        var writer = await _inbox.StartWriterAsync();
        var first = _inbox.Worker(polite);
        await first.StartAsync(CancellationToken.None);

        var id = (await writer.AppendAsync(InboxHarness.Entry("msg-stop"), CancellationToken.None)).Id;
        await entered.Task.WaitAsync(Timeout);
        await first.StopAsync(CancellationToken.None);
        first.Dispose();
        var record = await _inbox.Store.GetAsync(id, CancellationToken.None);
        await StartAsync(_inbox.Worker(next, new InboxSignal()));
        await handled.WaitForMeasurementsAsync(1, Timeout);

        Assert.That(record!.State, Is.EqualTo(InboxState.Pending));
        Assert.That(record.Attempts, Is.Zero, "a shutdown is not a failure");
        Assert.That(next.Calls.Select(c => c.At), Is.All.EqualTo(_inbox.Time.GetUtcNow()), "taken over without waiting for the lease");
    }

    [Test]
    public async Task Callbacks_with_different_ordering_keys_are_handled_side_by_side_and_those_sharing_a_key_in_order()
    {
        _inbox = await InboxHarness.CreateAsync(storage, o => { o.BatchSize = 64; o.HandlerConcurrency = 8; });
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var handler = new KeyedHandler();
        var writer = await _inbox.StartWriterAsync();
        // Stored before the worker starts, so one claim takes them all: "slow" first, then ten other keys and one
        // key with five callbacks. One at a time, "slow" would wait for the others forever.
        await writer.AppendAsync(InboxHarness.Entry("slow#0"), CancellationToken.None);
        for (var i = 0; i < 10; i++)
        {
            await writer.AppendAsync(InboxHarness.Entry($"other{i}#0"), CancellationToken.None);
            if (i < 5)
            {
                await writer.AppendAsync(InboxHarness.Entry($"ordered#{i}"), CancellationToken.None);
            }
        }
        await StartAsync(_inbox.Worker(handler));

        await handled.WaitForMeasurementsAsync(16, Timeout);

        Assert.That(handler.Keys.ToList().IndexOf("slow#0"), Is.GreaterThan(0), "another key was handled while slow waited");
        Assert.That(handler.Keys.Where(k => k.StartsWith("ordered", StringComparison.Ordinal)),
            Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"ordered#{i}")), "one key's callbacks in arrival order");
        Assert.That(handler.Keys, Has.Count.EqualTo(16));
    }

    [Test]
    public async Task A_callback_of_a_kind_with_a_deadline_is_leased_for_a_quarter_of_it_and_not_handled_once_that_lease_ran_out()
    {
        const string welcomeKind = "change_external_contact/add_external_contact";
        _inbox = await InboxHarness.CreateAsync(storage);
        using var handled = _inbox.Collect(BotMetrics.InboxHandled);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // One lane (no ordering keys): the chat callback holds up the welcome behind it.
        var handler = new RecordingHandler(async (item, _, _) =>
        {
            if (item.Kind != welcomeKind)
            {
                entered.TrySetResult();
                await slow.Task;
            }
        })
        {
            Clock = _inbox.Time,
            Deadlines = new Dictionary<string, TimeSpan> { [welcomeKind] = TimeSpan.FromSeconds(20) },
        };
        var writer = await _inbox.StartWriterAsync();
        await writer.AppendAsync(InboxHarness.Entry("chat", "change_external_chat/create"), CancellationToken.None);
        var welcome = (await writer.AppendAsync(InboxHarness.Entry("welcome", welcomeKind), CancellationToken.None)).Id;
        var claimedAt = _inbox.Time.GetUtcNow();
        await StartAsync(_inbox.Worker(handler));
        await entered.Task.WaitAsync(Timeout);
        var leases = await LeasesAsync();

        _inbox.Time.Advance(TimeSpan.FromSeconds(6));
        slow.SetResult();
        await handled.WaitForMeasurementsAsync(2, Timeout);

        Assert.That(leases, Is.EquivalentTo(new Dictionary<string, DateTimeOffset>
        {
            ["change_external_chat/create"] = claimedAt + _inbox.Options.LeaseDuration,
            [welcomeKind] = claimedAt + TimeSpan.FromSeconds(5),
        }));
        var welcomeCalls = handler.Calls.Where(c => c.Item.Id == welcome).ToList();
        Assert.That(welcomeCalls.Select(c => c.At), Is.EqualTo(new[] { claimedAt + TimeSpan.FromSeconds(6) }),
            "handled once, under a fresh lease, not under the one that ran out");
    }

    private async Task<Dictionary<string, DateTimeOffset>> LeasesAsync()
    {
        await using var connection = await _inbox.Database.OpenAsync(CancellationToken.None);
        var rows = await Dapper.SqlMapper.QueryAsync<(string Kind, long LeaseUntil)>(connection, "SELECT kind, lease_until FROM inbox WHERE lease_until IS NOT NULL");
        return rows.ToDictionary(r => r.Kind, r => DateTimeOffset.FromUnixTimeMilliseconds(r.LeaseUntil));
    }

    /// <summary>Orders by the part of the entry's key before '#'; "slow" waits until another key has been handled.</summary>
    private sealed class KeyedHandler : ICallbackHandler
    {
        private readonly TaskCompletionSource _otherHandled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _keys = new();

        public IReadOnlyList<string> Keys => [.. _keys];

        public PreparedCallback Prepare(StoredCallback item) => new(item, Key(item).Split('#')[0]);

        public async Task HandleAsync(PreparedCallback callback, CancellationToken ct)
        {
            var key = Key(callback.Item);
            if (key == "slow#0")
            {
                await _otherHandled.Task.WaitAsync(ct);
            }
            else
            {
                _otherHandled.TrySetResult();
            }
            _keys.Enqueue(key);
        }

        private static string Key(StoredCallback item) => item.Body["<xml><Key>".Length..item.Body.IndexOf("</Key>", StringComparison.Ordinal)];
    }

    [TestCase(1, 0.0, 1000)]
    [TestCase(1, 1.0, 2000)]
    [TestCase(3, 1.0, 8000)]
    [TestCase(3, 0.5, 6000)]
    [TestCase(30, 1.0, 600_000)]
    public void Retry_delay_grows_exponentially_with_equal_jitter_up_to_the_cap(int failedAttempts, double random, int expectedMs) =>
        Assert.That(
            InboxWorker.RetryDelay(failedAttempts, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10), random),
            Is.EqualTo(TimeSpan.FromMilliseconds(expectedMs)));

    private async Task StartAsync(InboxWorker worker)
    {
        _workers.Add(worker);
        await worker.StartAsync(CancellationToken.None);
    }
}
