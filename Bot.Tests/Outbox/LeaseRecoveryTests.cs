using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

/// <summary>
/// Lease recovery tells an item whose call may have reached WeCom (in doubt) from one that provably never started its
/// call: the real dispatcher, killed at either point, and a second instance that takes over after the lease.
/// </summary>
public sealed class LeaseRecoveryTests
{
    private const string WelcomeApi = "externalcontact/send_welcome_msg";
    private const string AppApi = "message/send";

    [Test]
    public async Task A_crash_before_the_call_expires_a_welcome_before_sending_and_sends_a_non_idempotent_item_once()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var welcome = await rig.Writer.EnqueueAsync(
            OutboxRig.Request(OutboxKinds.Welcome, "wmLate", WelcomeApi, deadline: time.GetUtcNow() + OutboxKinds.WelcomeDeadline), CancellationToken.None);
        var app = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.AppMessage, "zhangsan", AppApi), CancellationToken.None);
        // Both items are claimed and wait in the limiter when the instance dies: neither call has started.
        var limiter = new StuckLimiter(new TestQuotaLimiter(time));
        var firstSender = new RecordingSender(time);
        var first = await rig.StartDispatcherAsync(firstSender, limiter);
        await limiter.Entered(2).WaitAsync(TimeSpan.FromSeconds(10));
        using (var gone = new CancellationTokenSource())
        {
            await gone.CancelAsync();
            await first.StopAsync(gone.Token);
        }

        // Past the lease, and past the welcome's 20 s.
        time.Advance(new OutboxOptions().LeaseDuration + TimeSpan.FromSeconds(1));
        var second = rig.NewInstance();
        var secondSender = new RecordingSender(time);
        await rig.StartDispatcherAsync(secondSender, new TestQuotaLimiter(time), instance: second);
        await secondSender.WhenAsync(s => s.CallCount(app.Id) == 1);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!.State == OutboxState.Expired);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(app.Id, CancellationToken.None))!.State == OutboxState.Sent);

        // The first instance wakes up late: its claims are gone, so it calls nothing.
        limiter.Release();
        await first.ExecuteTask!.ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        var welcomeRow = (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!;
        Assert.Multiple(() =>
        {
            Assert.That(welcomeRow.LastError, Is.EqualTo("deadline passed before sending"), "its call provably never started");
            Assert.That(welcomeRow.CallStartedAt, Is.Null);
            Assert.That(secondSender.CallCount(welcome.Id), Is.Zero);
            Assert.That(secondSender.CallCount(app.Id), Is.EqualTo(1), "a call that never started is made once, not recorded as unknown");
            Assert.That(firstSender.Calls, Is.Empty);
        });
    }

    [Test]
    public async Task An_idempotent_item_in_doubt_goes_again_in_time_and_stays_in_doubt_if_that_call_does_not_settle_it()
    {
        var time = new FakeTimeProvider();
        await using var rig = await OutboxRig.CreateAsync(time);
        var options = new OutboxOptions { LeaseDuration = TimeSpan.FromSeconds(5) };
        var welcome = await rig.Writer.EnqueueAsync(
            OutboxRig.Request(OutboxKinds.Welcome, "wmDoubt", WelcomeApi, deadline: time.GetUtcNow() + OutboxKinds.WelcomeDeadline), CancellationToken.None);
        // The first call reaches WeCom and hangs; the instance dies before any answer.
        var hung = new TaskCompletionSource<OutboxSendOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstSender = new RecordingSender(time, (_, _) => hung.Task);
        var first = await rig.StartDispatcherAsync(firstSender, new TestQuotaLimiter(time), options);
        await firstSender.WhenAsync(s => s.CallCount(welcome.Id) == 1);
        using (var gone = new CancellationTokenSource())
        {
            await gone.CancelAsync();
            await first.StopAsync(gone.Token);
        }

        // Within the welcome's 20 s it may go again (a second send_welcome_msg is refused, never duplicated); this
        // time WeCom is busy and the retry would come after the deadline.
        time.Advance(TimeSpan.FromSeconds(6));
        var second = rig.NewInstance();
        var secondSender = new RecordingSender(time, (_, _) =>
            Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.RetryLater(TimeSpan.FromSeconds(30), -1, "system busy")));
        await rig.StartDispatcherAsync(secondSender, new TestQuotaLimiter(time), options, instance: second);
        await secondSender.WhenAsync(s => s.CallCount(welcome.Id) == 1);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!.State is not (OutboxState.Pending or OutboxState.Sending));

        hung.SetResult(new OutboxSendOutcome.Sent("late"));
        await first.ExecuteTask!.ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        var row = (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!;
        Assert.Multiple(() =>
        {
            Assert.That(row.State, Is.EqualTo(OutboxState.Unknown), row.LastError);
            Assert.That(row.LastError, Does.StartWith(OutboxDispatcher.CallInDoubt));
            Assert.That(row.CallStartedAt, Is.EqualTo(firstSender.Calls.Single().At), "the first call is the one in doubt");
        });
    }

    /// <summary>A limiter whose decisions hang until released (and ignore cancellation), like an instance frozen mid-decision.</summary>
    private sealed class StuckLimiter(IQuotaLimiter inner) : IQuotaLimiter
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
        private readonly Lock _gate = new();
        private int _entered;

        public Task Entered(int count)
        {
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                if (_entered >= count)
                {
                    return Task.CompletedTask;
                }
                _waiters.Add((count, signal));
            }
            return signal.Task;
        }

        public void Release() => _release.TrySetResult();

        public async ValueTask<QuotaDecision> TryAcquireAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                _entered++;
                foreach (var waiter in _waiters.Where(w => w.Count <= _entered).ToList())
                {
                    waiter.Signal.TrySetResult();
                    _waiters.Remove(waiter);
                }
            }
            await _release.Task;
            return await inner.TryAcquireAsync(limits, CancellationToken.None);
        }

        public ValueTask RefundAsync(IReadOnlyList<QuotaLimit> limits, DateTimeOffset takenAt, CancellationToken cancellationToken) =>
            inner.RefundAsync(limits, takenAt, cancellationToken);

        public ValueTask PauseAsync(QuotaKey key, TimeSpan duration, CancellationToken cancellationToken) => inner.PauseAsync(key, duration, cancellationToken);

        public ValueTask<IReadOnlyList<QuotaUsage>?> PeekAsync(IReadOnlyList<QuotaLimit> limits, CancellationToken cancellationToken) =>
            inner.PeekAsync(limits, cancellationToken);
    }
}
