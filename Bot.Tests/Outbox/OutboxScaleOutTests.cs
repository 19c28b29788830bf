using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;

namespace Bot.Tests.Outbox;

public sealed class OutboxScaleOutTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    private static readonly (string Kind, string Api)[] Mix =
    [
        (OutboxKinds.Welcome, "externalcontact/send_welcome_msg"),
        (OutboxKinds.TagChange, "externalcontact/mark_tag"),
        (OutboxKinds.Broadcast, BroadcastService.Api),
        (OutboxKinds.Reply, "message/send"),
    ];

    [Test]
    public async Task Three_dispatchers_push_2000_mixed_items_through_shared_quotas_without_breaking_losing_or_duplicating()
    {
        var time = TimeProvider.System;
        await using var rig = await OutboxRig.CreateAsync(time);
        // Every API gets 250 calls per 1-second window, so 500 items of each kind need at least two windows.
        static QuotaLimit Scaled(QuotaLimit limit) => limit with { Limit = 250, Window = Window };
        var limiter = new TestQuotaLimiter(time, Scaled, guard: TimeSpan.FromMilliseconds(50));
        var catalog = new QuotaCatalog();
        var succeeded = new System.Collections.Concurrent.ConcurrentDictionary<long, int>();
        // Every 40th item meets a transient error on its first call; WeCom still counts that call against the quota.
        var sender = new RecordingSender(time, (item, call) =>
        {
            if (item.Id % 40 == 0 && call == 1)
            {
                return Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.RetryLater(TimeSpan.Zero, -1, "system busy"));
            }
            succeeded.AddOrUpdate(item.Id, 1, (_, n) => n + 1);
            return Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.Sent($"msg-{item.Id}"));
        });
        var options = new OutboxOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(50) };
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogger<OutboxDispatcher>();
        var instances = Enumerable.Range(0, 3).Select(_ => rig.NewInstance()).ToList();
        foreach (var instance in instances)
        {
            await rig.StartDispatcherAsync(sender, limiter, options, logs, instance);
        }

        var ids = new List<long>();
        for (var i = 0; i < 2000; i++)
        {
            var (kind, api) = Mix[i % Mix.Length];
            var request = OutboxRig.Request(kind, $"target{i}", api,
                deadline: kind == OutboxKinds.Welcome ? time.GetUtcNow() + TimeSpan.FromMinutes(1) : null);
            // Each instance enqueues a share, as each would for the callbacks it received.
            ids.Add((await instances[i % 3].Writer.EnqueueAsync(request, CancellationToken.None)).Id);
        }
        try
        {
            await sender.WhenAsync(_ => succeeded.Count == ids.Count, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            var depth0 = await rig.Store.GetDepthAsync(CancellationToken.None);
            Assert.Fail($"{succeeded.Count} of 2000 sent; depth {string.Join(", ", depth0)}; logs: {string.Join(" | ", logs.Collector.GetSnapshot().Take(10).Select(r => r.Message + r.Exception?.Message))}");
        }
        await OutboxRig.UntilAsync(async () =>
            (await rig.Store.GetDepthAsync(CancellationToken.None)).All(d => d.State == OutboxState.Sent));

        Assert.That(succeeded.Values, Is.All.EqualTo(1), "an item was applied twice");
        Assert.That(ids.Distinct().Count(), Is.EqualTo(2000));
        var depth = await rig.Store.GetDepthAsync(CancellationToken.None);
        Assert.That(depth.Sum(d => d.Count), Is.EqualTo(2000));
        var overQuota = new List<string>();
        // Every counter a call passes (per API per minute and per hour, per customer...), each with its own window.
        var counted = sender.Calls.SelectMany(c => catalog.LimitsFor(c.Item.QuotaSubject).Select(limiter.Scale).Select(limit => (Limit: limit, c.At)));
        foreach (var group in counted.GroupBy(x => x.Limit))
        {
            var times = group.Select(c => c.At).Order().ToArray();
            for (int start = 0, end = 0; start < times.Length; start++)
            {
                while (end < times.Length && times[end] < times[start] + group.Key.Window)
                {
                    end++;
                }
                if (end - start > group.Key.Limit)
                {
                    overQuota.Add($"{group.Key.Key}: {end - start} calls from {times[start]:HH:mm:ss.fff}");
                }
            }
        }
        Assert.That(overQuota, Is.Empty);
        Assert.That(sender.Calls, Has.Count.EqualTo(2000 + 2000 / 40));
    }
}
