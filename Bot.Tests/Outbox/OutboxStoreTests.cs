using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

public sealed class OutboxStoreTests
{
    [Test]
    public async Task Enqueueing_the_same_idempotency_key_twice_stores_one_item()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        var request = OutboxRig.Request(OutboxKinds.Welcome, "wmCustomer1", "externalcontact/send_welcome_msg", key: "welcome:cb-1");

        var first = await rig.Writer.EnqueueAsync(request, CancellationToken.None);
        var second = await rig.Writer.EnqueueAsync(request with { Payload = """{"changed":true}""" }, CancellationToken.None);

        Assert.That(first, Is.TypeOf<EnqueueResult.Enqueued>());
        Assert.That(second, Is.EqualTo(new EnqueueResult.Duplicate(first.Id)));
        var depth = await rig.Store.GetDepthAsync(CancellationToken.None);
        Assert.That(depth, Is.EqualTo(new[] { new OutboxDepth(OutboxLane.Welcome, OutboxState.Pending, 1) }));
        Assert.That((await rig.Store.GetAsync(first.Id, CancellationToken.None))!.Payload, Is.EqualTo(request.Payload));
    }

    [Test]
    public async Task A_batch_with_a_repeated_key_stores_it_once_and_reports_the_duplicate()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        var a = OutboxRig.Request(OutboxKinds.TagChange, "wmA", "externalcontact/mark_tag");
        var b = OutboxRig.Request(OutboxKinds.TagChange, "wmB", "externalcontact/mark_tag");

        var results = await rig.Writer.EnqueueBatchAsync([a, b, a], CancellationToken.None);

        Assert.That(results.Select(r => r.GetType()), Is.EqualTo(new[] { typeof(EnqueueResult.Enqueued), typeof(EnqueueResult.Enqueued), typeof(EnqueueResult.Duplicate) }));
        Assert.That(results[2].Id, Is.EqualTo(results[0].Id));
    }

    [Test]
    public async Task Items_enqueued_in_a_callers_transaction_vanish_when_it_rolls_back()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        await using (var connection = await rig.Instance.Database.OpenAsync(CancellationToken.None))
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await rig.Writer.EnqueueBatchAsync([OutboxRig.Request(OutboxKinds.Reply, "wmA", "kf/send_msg")], connection, tx, CancellationToken.None);
            await tx.RollbackAsync();
        }

        Assert.That(await rig.Store.GetDepthAsync(CancellationToken.None), Is.Empty);
    }

    [Test]
    public async Task Kind_sets_lane_and_idempotency_and_provenance_round_trips()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        await using var rig = await OutboxRig.CreateAsync(time);
        var subject = new QuotaSubject("externalcontact/add_msg_template", Sender: "zhangsan", ChatIds: ["wrChat1"]);
        var broadcast = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Broadcast, "wrChat1", "x") with
        {
            QuotaSubject = subject,
            Provenance = new OutboxProvenance("cb-9", "welcome-new", "rules/welcome.yaml", 12, "v7"),
        }, CancellationToken.None);
        var welcome = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Welcome, "wmA", "x", deadline: time.GetUtcNow().AddSeconds(20)), CancellationToken.None);

        var b = (await rig.Store.GetAsync(broadcast.Id, CancellationToken.None))!;
        var w = (await rig.Store.GetAsync(welcome.Id, CancellationToken.None))!;

        Assert.That((b.Lane, b.IsIdempotent, w.Lane, w.IsIdempotent), Is.EqualTo((OutboxLane.Bulk, false, OutboxLane.Welcome, true)));
        Assert.That(b.Provenance, Is.EqualTo(new OutboxProvenance("cb-9", "welcome-new", "rules/welcome.yaml", 12, "v7")));
        Assert.That(b.QuotaSubject.Sender, Is.EqualTo("zhangsan"));
        Assert.That(b.QuotaSubject.ChatIds, Is.EqualTo(new[] { "wrChat1" }));
        Assert.That(w.Deadline, Is.EqualTo(time.GetUtcNow().AddSeconds(20)));
        Assert.That(w.CreatedAt, Is.EqualTo(time.GetUtcNow()));
    }

    [Test]
    public async Task A_customers_items_are_listed_newest_first()
    {
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
        var older = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Welcome, "wmA", "x", customer: "wmA"), CancellationToken.None);
        await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.Welcome, "wmB", "x", customer: "wmB"), CancellationToken.None);
        var newer = await rig.Writer.EnqueueAsync(OutboxRig.Request(OutboxKinds.TagChange, "wmA", "x", customer: "wmA"), CancellationToken.None);

        var items = await rig.Store.ListByCustomerAsync("wmA", 10, CancellationToken.None);

        Assert.That(items.Select(i => i.Id), Is.EqualTo(new[] { newer.Id, older.Id }));
    }

    [Test]
    public void A_kind_without_defaults_must_say_its_lane()
    {
        var request = OutboxRig.Request("custom_kind", "x", "x");
        Assert.ThrowsAsync<ArgumentException>(async () =>
        {
            await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider());
            await rig.Writer.EnqueueAsync(request, CancellationToken.None);
        });
    }
}
