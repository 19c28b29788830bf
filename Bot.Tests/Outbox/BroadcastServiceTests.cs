using System.Text.Json.Nodes;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

public sealed class BroadcastServiceTests
{
    private static BroadcastRequest Groups(params string[] chatIds) => new()
    {
        Name = "November offer",
        Text = "本周福利",
        AttachmentsJson = """[{"msgtype":"link","link":{"title":"t","url":"https://example.com"}}]""",
        TargetKind = BroadcastTargetKind.Groups,
        Sender = "zhangsan",
        Targets = chatIds,
    };

    [Test]
    public async Task Starting_a_broadcast_stores_one_bulk_lane_item_per_distinct_group()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());

        var broadcast = await rig.Instance.Broadcasts.StartAsync(Groups("wrA", "wrB", "wrA", " "), CancellationToken.None);

        Assert.That(broadcast.Total, Is.EqualTo(2));
        var items = await rig.Store.ListByStateAsync(OutboxState.Pending, 10, CancellationToken.None);
        Assert.That(items.Select(i => i.Target).Order(), Is.EqualTo(new[] { "wrA", "wrB" }));
        Assert.That(items.Select(i => (i.Lane, i.IsIdempotent, i.Kind, i.BroadcastId)).Distinct(),
            Is.EqualTo(new[] { (OutboxLane.Bulk, false, OutboxKinds.Broadcast, (long?)broadcast.Id) }));
        var payload = JsonNode.Parse(items.Single(i => i.Target == "wrA").Payload)!;
        Assert.That(payload["chat_type"]!.GetValue<string>(), Is.EqualTo("group"));
        Assert.That(payload["chat_id_list"]!.AsArray().Select(n => n!.GetValue<string>()), Is.EqualTo(new[] { "wrA" }));
        Assert.That(payload["sender"]!.GetValue<string>(), Is.EqualTo("zhangsan"));
        Assert.That(payload["attachments"]!.AsArray(), Has.Count.EqualTo(1));
        Assert.That(items[0].QuotaSubject.ChatIds, Has.Count.EqualTo(1));
        Assert.That((await rig.Instance.Broadcasts.ListAsync(10, CancellationToken.None)).Single(), Is.EqualTo(broadcast));
    }

    [Test]
    public async Task Progress_counts_states_and_estimates_the_finish_from_the_pace_so_far()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        await using var rig = await OutboxRig.CreateAsync(time);
        var broadcast = await rig.Instance.Broadcasts.StartAsync(Groups("wr1", "wr2", "wr3", "wr4"), CancellationToken.None);
        var started = time.GetUtcNow();
        // Two sends per 10 s: the first two go at +5 s, the other two wait for the window.
        var limiter = new TestQuotaLimiter(time, l => l with { Limit = 2, Window = TimeSpan.FromSeconds(10) });
        var sender = new RecordingSender(time);
        time.Advance(TimeSpan.FromSeconds(5));
        await rig.StartDispatcherAsync(sender, limiter);
        await sender.WhenAsync(s => s.Calls.Count == 2);
        await OutboxRig.UntilAsync(async () =>
        {
            var p = await rig.Instance.Broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None);
            return p!.ByState[OutboxState.Sent] == 2 && p.ByState[OutboxState.Pending] == 2;
        });

        var progress = (await rig.Instance.Broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None))!;
        Assert.That(progress.Remaining, Is.EqualTo(2));
        Assert.That(progress.FinishedAt, Is.Null);
        Assert.That(progress.EstimatedFinishAt, Is.EqualTo(started + TimeSpan.FromSeconds(10)));

        rig.Advance(TimeSpan.FromSeconds(10));
        await sender.WhenAsync(s => s.Calls.Count == 4);
        await OutboxRig.UntilAsync(async () =>
            (await rig.Instance.Broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None))!.Remaining == 0);
        var done = (await rig.Instance.Broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None))!;
        Assert.That(done.FinishedAt, Is.EqualTo(started + TimeSpan.FromSeconds(15)));
        Assert.That(done.ByState[OutboxState.Sent], Is.EqualTo(4));
    }

    [Test]
    public void A_broadcast_without_targets_is_refused()
    {
        Assert.ThrowsAsync<System.ComponentModel.DataAnnotations.ValidationException>(async () =>
        {
            await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
            await rig.Instance.Broadcasts.StartAsync(Groups(), CancellationToken.None);
        });
    }

    [Test]
    public async Task Progress_of_an_unknown_broadcast_is_null()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        Assert.That(await rig.Instance.Broadcasts.GetProgressAsync(42, CancellationToken.None), Is.Null);
    }
}
