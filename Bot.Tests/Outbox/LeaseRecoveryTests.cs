using Bot.Core.Outbox;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

/// <summary>
/// Lease recovery tells an item whose call may have reached WeCom (in doubt) from one that provably never started its
/// call: an instance that died right after its claim, or in the middle of a call, and the real dispatcher that takes
/// over after the lease.
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
        var app = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Reply, "zhangsan", AppApi), CancellationToken.None);
        // An instance claims both and dies before it starts either call.
        var lease = new OutboxOptions().LeaseDuration;
        Assert.That(await rig.Store.ClaimAsync(2, time.GetUtcNow(), time.GetUtcNow() + lease, CancellationToken.None), Has.Count.EqualTo(2));

        // Past the lease, and past the welcome's 20 s.
        time.Advance(lease + TimeSpan.FromSeconds(1));
        var sender = new RecordingSender(time);
        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(time));
        await sender.WhenAsync(s => s.CallCount(app.Id) == 1);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!.State == OutboxState.Expired);
        await OutboxRig.UntilAsync(async () => (await rig.Store.GetAsync(app.Id, CancellationToken.None))!.State == OutboxState.Sent);

        var welcomeRow = (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!;
        Assert.Multiple(() =>
        {
            Assert.That(welcomeRow.LastError, Is.EqualTo("deadline passed before sending"), "its call provably never started");
            Assert.That(welcomeRow.CallStartedAt, Is.Null);
            Assert.That(sender.CallCount(welcome.Id), Is.Zero);
            Assert.That(sender.CallCount(app.Id), Is.EqualTo(1), "a call that never started is made once, not recorded as unknown");
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
}
