using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

public sealed class OutboxDispatcherTests
{
    private const string WelcomeApi = "externalcontact/send_welcome_msg";
    private const string TagApi = "externalcontact/mark_tag";
    private const string AppApi = "message/send";

    [Test]
    public async Task A_welcome_enqueued_behind_1000_broadcasts_goes_out_within_its_deadline()
    {
        await using var rig = await OutboxRig.CreateAsync(TimeProvider.System);
        var options = new OutboxOptions();
        var broadcasts = Enumerable.Range(0, 1000)
            .Select(i => OutboxRig.Request(OutboxKinds.Broadcast, $"wrChat{i}", BroadcastService.Api)).ToList();
        await rig.Writer.EnqueueBatchAsync(broadcasts, CancellationToken.None);
        // Each broadcast call takes 10 ms, so the flood lasts over a second at 8 in flight.
        var sender = new RecordingSender(TimeProvider.System, async (item, _) =>
        {
            if (item.Kind == OutboxKinds.Broadcast)
            {
                await Task.Delay(10);
            }
            return new OutboxSendOutcome.Sent(null);
        });
        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(TimeProvider.System), options);
        await sender.WhenAsync(s => s.Calls.Count >= 50);

        var callsBefore = sender.Calls.Count;
        var enqueuedAt = TimeProvider.System.GetUtcNow();
        var welcome = await rig.Writer.EnqueueAsync(
            OutboxRig.Request(OutboxKinds.Welcome, "wmNew", WelcomeApi, deadline: enqueuedAt + OutboxKinds.WelcomeDeadline), CancellationToken.None);
        await sender.WhenAsync(s => s.CallCount(welcome.Id) == 1);

        var calls = sender.Calls.ToList();
        var welcomeIndex = calls.FindIndex(c => c.Item.Id == welcome.Id);
        Assert.That(welcomeIndex - callsBefore, Is.LessThanOrEqualTo(2 * options.DispatcherConcurrency),
            "broadcasts started between the welcome's enqueue and its send");
        Assert.That(calls[welcomeIndex].At - enqueuedAt, Is.LessThan(OutboxKinds.WelcomeDeadline));
        Assert.That(calls.Count(c => c.Item.Kind == OutboxKinds.Broadcast), Is.LessThan(500), "the welcome waited for the flood");
    }

    [Test]
    public async Task An_item_past_its_deadline_is_expired_and_never_sent()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var welcome = await rig.Writer.EnqueueAsync(
            OutboxRig.Request(OutboxKinds.Welcome, "wmLate", WelcomeApi, deadline: time.GetUtcNow() + OutboxKinds.WelcomeDeadline), CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(21));
        var marker = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.TagChange, "wmMarker", TagApi), CancellationToken.None);
        var sender = new RecordingSender(time);

        // One slot: the lane-0 welcome is processed to the end before the lane-1 marker is claimed.
        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(time), new OutboxOptions { DispatcherConcurrency = 1 });
        await sender.WhenAsync(s => s.CallCount(marker.Id) == 1);

        Assert.That(sender.CallCount(welcome.Id), Is.Zero);
        var stored = await rig.Store.GetAsync(welcome.Id, CancellationToken.None);
        Assert.That(stored!.State, Is.EqualTo(OutboxState.Expired));
        Assert.That(await rig.Store.ListByStateAsync(OutboxState.Expired, 10, CancellationToken.None), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task An_outcome_unknown_item_is_never_resent_and_is_surfaced()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var logs = new FakeLogger<Core.Outbox.OutboxDispatcher>();
        var app = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Reply, "zhangsan", AppApi), CancellationToken.None);
        var sender = new RecordingSender(time, (item, _) => Task.FromResult<OutboxSendOutcome>(item.Id == app.Id
            ? new OutboxSendOutcome.OutcomeUnknown("timed out after 10 s")
            : new OutboxSendOutcome.Sent(null)));
        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(time), new OutboxOptions { DispatcherConcurrency = 1 }, logs);
        await sender.WhenAsync(s => s.CallCount(app.Id) == 1);

        // Long past any lease or retry delay; then a later item proves the dispatcher has run again.
        rig.Advance(TimeSpan.FromMinutes(10));
        var marker = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.TagChange, "wmMarker", TagApi), CancellationToken.None);
        await sender.WhenAsync(s => s.CallCount(marker.Id) == 1);

        Assert.That(sender.CallCount(app.Id), Is.EqualTo(1));
        var unknown = await rig.Store.ListByStateAsync(OutboxState.Unknown, 10, CancellationToken.None);
        Assert.That(unknown.Select(i => (i.Id, i.LastError)), Is.EqualTo(new[] { (app.Id, (string?)"timed out after 10 s") }));
        Assert.That(logs.Collector.GetSnapshot().Count(r => r.Level == LogLevel.Warning && r.Message.Contains("unknown outcome")), Is.EqualTo(1));
    }

    [Test]
    public async Task A_crash_mid_send_resends_the_idempotent_item_once_and_marks_the_other_unknown()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var tag = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.TagChange, "wmA", TagApi), CancellationToken.None);
        var app = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Reply, "zhangsan", AppApi), CancellationToken.None);
        var stuck = new TaskCompletionSource<OutboxSendOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstSender = new RecordingSender(time, (_, _) => stuck.Task);
        var first = await rig.StartDispatcherAsync(firstSender, new TestQuotaLimiter(time));
        await firstSender.WhenAsync(s => s.Calls.Count == 2);

        // The instance dies while both calls hang: nothing is recorded, the claims simply stop being renewed.
        using (var gone = new CancellationTokenSource())
        {
            await gone.CancelAsync();
            await first.StopAsync(gone.Token);
        }
        time.Advance(new OutboxOptions().LeaseDuration + TimeSpan.FromSeconds(1));
        var second = rig.NewInstance();
        var logs = new FakeLogger<Core.Outbox.OutboxDispatcher>();
        var secondSender = new RecordingSender(time);
        await rig.StartDispatcherAsync(secondSender, new TestQuotaLimiter(time), logger: logs, instance: second);
        await secondSender.WhenAsync(s => s.CallCount(tag.Id) == 1);
        var marker = await second.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Reply, "wmMarker", "kf/send_msg"), CancellationToken.None);
        await secondSender.WhenAsync(s => s.CallCount(marker.Id) == 1);

        // The first instance's hung calls return late: its claims are gone, so it must not overwrite anything.
        stuck.SetResult(new OutboxSendOutcome.Sent("late"));
        await first.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);

        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(tag.Id, CancellationToken.None))!.State == OutboxState.Sent);
        Assert.That(secondSender.CallCount(app.Id), Is.Zero, "a non-idempotent item must never be resent");
        Assert.That(secondSender.CallCount(tag.Id), Is.EqualTo(1));
        var tagRow = (await rig.Store.GetAsync(tag.Id, CancellationToken.None))!;
        var appRow = (await rig.Store.GetAsync(app.Id, CancellationToken.None))!;
        Assert.That((tagRow.State, tagRow.RemoteIds), Is.EqualTo((OutboxState.Sent, (string?)$"msg-{tag.Id}")));
        Assert.That(appRow.State, Is.EqualTo(OutboxState.Unknown));
        Assert.That(logs.Collector.GetSnapshot().Count(r => r.Level == LogLevel.Warning && r.Message.Contains("vanished")), Is.EqualTo(1));
    }

    [Test]
    public async Task A_rate_limited_answer_pauses_the_quota_and_the_item_goes_after_the_pause_without_counting_an_attempt()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var limiter = new TestQuotaLimiter(time);
        var key = new QuotaKey("api-per-minute", BroadcastService.Api);
        var sender = new RecordingSender(time, (_, call) => Task.FromResult<OutboxSendOutcome>(call == 1
            ? new OutboxSendOutcome.RateLimited(key, TimeSpan.FromSeconds(60), 45009)
            : new OutboxSendOutcome.Sent("msgid-1")));
        var item = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Broadcast, "wrChat1", BroadcastService.Api), CancellationToken.None);
        await rig.StartDispatcherAsync(sender, limiter);
        await sender.WhenAsync(s => s.CallCount(item.Id) == 1);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(item.Id, CancellationToken.None))!.State == OutboxState.Pending);

        Assert.That(limiter.Pauses, Is.EqualTo(new[] { (key, TimeSpan.FromSeconds(60)) }));
        var waiting = (await rig.Store.GetAsync(item.Id, CancellationToken.None))!;
        Assert.That((waiting.Attempts, waiting.NextAttemptAt, waiting.LastErrcode), Is.EqualTo((0, time.GetUtcNow().AddSeconds(60), (int?)45009)));

        rig.Advance(TimeSpan.FromSeconds(59));
        Assert.That(sender.CallCount(item.Id), Is.EqualTo(1));
        rig.Advance(TimeSpan.FromSeconds(1));
        await sender.WhenAsync(s => s.CallCount(item.Id) == 2);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(item.Id, CancellationToken.None))!.State == OutboxState.Sent);
    }

    [Test]
    public async Task While_the_limiter_is_unavailable_items_wait_and_all_go_when_it_recovers()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var limiter = new TestQuotaLimiter(time) { Available = false };
        var sender = new RecordingSender(time);
        var requests = Enumerable.Range(0, 20).Select(i => OutboxRig.Request(OutboxKinds.TagChange, $"wm{i}", TagApi)).ToList();
        var ids = (await rig.Writer.EnqueueBatchAsync(requests, CancellationToken.None)).Select(r => r.Id).ToList();
        await rig.StartDispatcherAsync(sender, limiter);
        await OutboxRig.UntilAsync(async () =>
        {
            var depth = await rig.Store.GetDepthAsync(CancellationToken.None);
            return limiter.AcquireCalls > 0 && depth.All(d => d.State == OutboxState.Pending)
                && (await rig.Store.ListByStateAsync(OutboxState.Pending, 50, CancellationToken.None)).All(i => i.NextAttemptAt > time.GetUtcNow());
        });
        Assert.That(sender.Calls, Is.Empty);

        rig.Advance(TimeSpan.FromSeconds(5));
        await OutboxRig.UntilAsync(() => Task.FromResult(limiter.AcquireCalls > 1));
        limiter.Available = true;
        // Items come back on their own retry schedule; step the clock until every one has gone (bounded).
        for (var step = 0; step < 30 && !ids.All(id => sender.CallCount(id) == 1); step++)
        {
            rig.Advance(TimeSpan.FromSeconds(1));
            try
            {
                await sender.WhenAsync(s => ids.All(id => s.CallCount(id) == 1), TimeSpan.FromMilliseconds(500));
            }
            catch (TimeoutException)
            {
                // Not all sent yet: the next step moves the clock on.
            }
        }
        Assert.That(ids.Select(sender.CallCount), Is.All.EqualTo(1), "every item is sent exactly once after the limiter recovers");

        await OutboxRig.UntilAsync(async () => (await rig.Store.GetDepthAsync(CancellationToken.None)).All(d => d.State == OutboxState.Sent));
        var sent = await rig.Store.ListByStateAsync(OutboxState.Sent, 50, CancellationToken.None);
        Assert.That(sent.Select(i => i.Attempts), Is.All.EqualTo(1), "waiting for the limiter does not count as an attempt");
    }

    [Test]
    public async Task A_transient_failure_is_retried_with_backoff_until_max_attempts_then_recorded_as_failed()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var options = new OutboxOptions { MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromSeconds(2) };
        var sender = new RecordingSender(time, (_, _) => Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.RetryLater(TimeSpan.Zero, -1, "system busy")));
        var item = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.TagChange, "wmA", TagApi), CancellationToken.None);
        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(time), options);

        await sender.WhenAsync(s => s.CallCount(item.Id) == 1);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(item.Id, CancellationToken.None))!.State == OutboxState.Pending);
        rig.Advance(TimeSpan.FromSeconds(2));
        await sender.WhenAsync(s => s.CallCount(item.Id) == 2);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(item.Id, CancellationToken.None))!.State == OutboxState.Pending);
        var second = (await rig.Store.GetAsync(item.Id, CancellationToken.None))!;
        Assert.That(second.NextAttemptAt, Is.EqualTo(time.GetUtcNow().AddSeconds(4)), "the delay doubles");
        rig.Advance(TimeSpan.FromSeconds(4));
        await sender.WhenAsync(s => s.CallCount(item.Id) == 3);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(item.Id, CancellationToken.None))!.State == OutboxState.Failed);

        var failed = (await rig.Store.GetAsync(item.Id, CancellationToken.None))!;
        Assert.That((failed.Attempts, failed.LastErrcode), Is.EqualTo((3, (int?)-1)));
    }
}
