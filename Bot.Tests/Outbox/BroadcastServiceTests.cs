using System.Text.Json.Nodes;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Storage;
using Bot.Core.RateLimiting;
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

    private static async Task OwnedAsync(OutboxRig rig, string owner, params string[] chatIds)
    {
        var groups = new CustomerGroupStore(rig.Instance.Database, TimeProvider.System);
        foreach (var chatId in chatIds)
        {
            await groups.UpsertAsync(chatId, $"群 {chatId}", owner, CancellationToken.None);
        }
    }

    [Test]
    public async Task Starting_a_broadcast_stores_one_bulk_lane_task_per_group_owner_carrying_their_groups()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        await OwnedAsync(rig, "zhangsan", "wrA", "wrC");
        await OwnedAsync(rig, "lisi", "wrB");

        var broadcast = await rig.Instance.Broadcasts.StartAsync(Groups("wrA", "wrB", "wrA", " ", "wrC"), CancellationToken.None);

        Assert.That(broadcast.Total, Is.EqualTo(3));
        Assert.That(broadcast.Tasks, Is.EqualTo(2));
        var items = await rig.Store.ListByStateAsync(OutboxState.Pending, 10, CancellationToken.None);
        Assert.That(items.Select(i => (i.Lane, i.IsIdempotent, i.Kind, i.BroadcastId)).Distinct(),
            Is.EqualTo(new[] { (OutboxLane.Bulk, false, OutboxKinds.Broadcast, (long?)broadcast.Id) }));
        var bodies = items.Select(i => JsonNode.Parse(i.Payload)!).ToDictionary(p => p["sender"]!.GetValue<string>());
        Assert.That(bodies.Keys, Is.EquivalentTo(new[] { "zhangsan", "lisi" }), "a group task goes as the group's owner");
        Assert.That(bodies["zhangsan"]["chat_type"]!.GetValue<string>(), Is.EqualTo("group"));
        Assert.That(bodies["zhangsan"]["chat_id_list"]!.AsArray().Select(n => n!.GetValue<string>()), Is.EqualTo(new[] { "wrA", "wrC" }));
        Assert.That(bodies["lisi"]["chat_id_list"]!.AsArray().Select(n => n!.GetValue<string>()), Is.EqualTo(new[] { "wrB" }));
        Assert.That(bodies["zhangsan"]["attachments"]!.AsArray(), Has.Count.EqualTo(1));
        var recipients = await rig.Store.ListRecipientsAsync(broadcast.Id, CancellationToken.None);
        Assert.That(recipients.Select(r => (r.Recipient, r.State)).Order(),
            Is.EqualTo(new[] { ("wrA", "pending"), ("wrB", "pending"), ("wrC", "pending") }));
        Assert.That((await rig.Instance.Broadcasts.ListAsync(10, CancellationToken.None)).Single(), Is.EqualTo(broadcast with { Tasks = 0 }));
    }

    [Test]
    public async Task Three_hundred_groups_of_four_owners_are_exactly_four_tasks_and_a_group_of_no_known_owner_is_failed_visibly()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        var chats = Enumerable.Range(0, 300).Select(n => $"wrG{n:D4}").ToArray();
        for (var owner = 0; owner < 4; owner++)
        {
            await OwnedAsync(rig, $"owner{owner}", chats.Where((_, n) => n % 4 == owner).ToArray());
        }

        var broadcast = await rig.Instance.Broadcasts.StartAsync(Groups([.. chats, "wrNOBODY"]) with { Sender = null }, CancellationToken.None);

        var items = await rig.Store.ListByStateAsync(OutboxState.Pending, 100, CancellationToken.None);
        Assert.That(items, Has.Count.EqualTo(4));
        Assert.That(items.Select(i => JsonNode.Parse(i.Payload)!["chat_id_list"]!.AsArray().Count), Is.All.EqualTo(75));
        var progress = (await rig.Instance.Broadcasts.GetProgressAsync(broadcast.Id, CancellationToken.None))!;
        Assert.That(progress.Broadcast.Total, Is.EqualTo(301));
        Assert.That(progress.ByState[OutboxState.Failed], Is.EqualTo(1), "the group nobody owns is counted failed, not dropped");
        Assert.That(progress.Remaining, Is.EqualTo(300));
    }

    [Test]
    public async Task A_recipient_whose_allowance_is_spent_waits_in_a_task_of_its_own_and_the_others_go_now()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        await using var rig = await OutboxRig.CreateAsync(time);
        await OwnedAsync(rig, "zhangsan", "wrA", "wrB", "wrC");
        var limiter = new TestQuotaLimiter(time);
        var sender = new RecordingSender(time);
        // wrB already received its mass message of the day.
        var spent = new QuotaCatalog().LimitsFor(BroadcastService.QuotaSubjectFor(BroadcastTargetKind.Groups, "other", "wrB"))
            .Where(l => l.Key.Rule == Bot.Core.RateLimiting.QuotaRules.GroupMassReceiving).ToList();
        Assert.That((await limiter.TryAcquireAsync(spent, CancellationToken.None)).IsAllowed);

        var broadcast = await rig.Instance.Broadcasts.StartAsync(Groups("wrA", "wrB", "wrC"), CancellationToken.None);
        await rig.StartDispatcherAsync(sender, limiter);
        await sender.WhenAsync(s => s.Calls.Count == 1);

        var call = JsonNode.Parse(sender.Calls.Single().Item.Payload)!;
        Assert.That(call["chat_id_list"]!.AsArray().Select(n => n!.GetValue<string>()), Is.EqualTo(new[] { "wrA", "wrC" }));
        await OutboxRig.UntilAsync(async () => (await rig.Store.ListRecipientsAsync(broadcast.Id, CancellationToken.None))
            .Count(r => r.State == OutboxRecipientStates.Sent) == 2);
        var waiting = (await rig.Store.ListByStateAsync(OutboxState.Pending, 10, CancellationToken.None)).Single();
        Assert.That(waiting.Target, Is.EqualTo("wrB"));
        Assert.That(waiting.NextAttemptAt, Is.GreaterThan(time.GetUtcNow().AddHours(1)), "it waits for the next day, not a retry loop");
        var recipients = await rig.Store.ListRecipientsAsync(broadcast.Id, CancellationToken.None);
        Assert.That(recipients.Single(r => r.Recipient == "wrB"), Has.Property(nameof(OutboxRecipient.OutboxId)).EqualTo(waiting.Id)
            .And.Property(nameof(OutboxRecipient.State)).EqualTo(OutboxRecipientStates.Pending));
    }

    [Test]
    public async Task Progress_counts_states_and_estimates_the_finish_from_the_pace_so_far()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        await using var rig = await OutboxRig.CreateAsync(time);
        // Four owners, so four tasks, paced by the API's own counter.
        for (var n = 1; n <= 4; n++)
        {
            await OwnedAsync(rig, $"owner{n}", $"wr{n}");
        }
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
    public async Task A_task_whose_opt_outs_cannot_be_read_goes_back_in_line_uncalled_and_is_not_left_in_doubt()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        await using var rig = await OutboxRig.CreateAsync(time);
        var broadcast = await rig.Instance.Broadcasts.StartAsync(new BroadcastRequest
        {
            Name = "n", Text = "t", TargetKind = BroadcastTargetKind.Customers, Sender = "guide01", Targets = ["wmA", "wmB"],
        }, CancellationToken.None);
        // A database that cannot be opened: the opt-out read throws.
        var unreadable = new ContactPreferenceStore(new BotDatabase(Microsoft.Extensions.Options.Options.Create(
            new Bot.Core.Storage.StorageOptions { ConnectionString = $"Data Source={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "missing", "x.db")};Mode=ReadOnly" })));
        var sender = new RecordingSender(time);

        await rig.StartDispatcherAsync(sender, new TestQuotaLimiter(time), preferences: unreadable);

        await OutboxRig.UntilAsync(async () => (await rig.Store.ListByStateAsync(OutboxState.Pending, 10, CancellationToken.None))
            .Any(i => i.BroadcastId == broadcast.Id && i.NextAttemptAt > time.GetUtcNow() && i.CallStartedAt is null));
        Assert.That(sender.Calls, Is.Empty);
        Assert.That(await rig.Store.ListByStateAsync(OutboxState.Sending, 10, CancellationToken.None), Is.Empty);
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
