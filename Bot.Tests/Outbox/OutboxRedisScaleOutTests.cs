using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Tests.Outbox;

/// <summary>
/// Three dispatchers, each with its own database connection and its own Redis connection to one real redis-server,
/// share the quotas through the Redis limiter; Redis dies mid-run and comes back.
/// </summary>
public sealed class OutboxRedisScaleOutTests
{
    private const int PerSecond = 200;

    private static readonly (string Kind, string Api)[] Mix =
    [
        (OutboxKinds.Welcome, "externalcontact/send_welcome_msg"),
        (OutboxKinds.TagChange, "externalcontact/mark_tag"),
        (OutboxKinds.Broadcast, BroadcastService.Api),
        (OutboxKinds.Reply, "message/send"),
    ];

    [Test]
    public async Task Three_dispatchers_on_one_redis_keep_quotas_lose_nothing_and_send_once_through_a_redis_outage()
    {
        using var redis = RedisTestServer.StartPrivate();
        var quotas = new QuotaOptions();
        // Scaled down so 2,000 items need several windows: every API gets 200 calls per sliding second.
        quotas.Rules[QuotaRules.ApiPerMinute] = new QuotaRuleOptions { Key = "{api}", Limit = PerSecond, Window = "00:00:01" };
        foreach (var rule in new[] { QuotaRules.ApiPerHour, QuotaRules.ApiConcurrency, QuotaRules.CustomerTagEdit, QuotaRules.AppMessagePerMinute, QuotaRules.AppMessagePerHour })
        {
            quotas.Rules[rule] = new QuotaRuleOptions { Enabled = false };
        }
        var catalog = new QuotaCatalog(Options.Create(quotas), TimeProvider.System);
        var prefix = RedisTestServer.NewPrefix();
        var connections = new List<ConnectionMultiplexer>();
        var time = TimeProvider.System;
        await using var rig = await OutboxRig.CreateAsync(time);
        var sent = new System.Collections.Concurrent.ConcurrentDictionary<long, int>();
        var sender = new RecordingSender(time, (item, _) =>
        {
            sent.AddOrUpdate(item.Id, 1, (_, n) => n + 1);
            return Task.FromResult<OutboxSendOutcome>(new OutboxSendOutcome.Sent($"msg-{item.Id}"));
        });
        var instances = Enumerable.Range(0, 3).Select(_ => rig.NewInstance()).ToList();
        try
        {
            foreach (var instance in instances)
            {
                var configuration = ConfigurationOptions.Parse(redis.Configuration);
                configuration.AsyncTimeout = 500;
                var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
                connections.Add(connection);
                var limiter = new RedisQuotaLimiter(connection, Options.Create(new RedisOptions { Configuration = redis.Configuration, KeyPrefix = prefix }),
                    Options.Create(quotas), time, NullLogger<RedisQuotaLimiter>.Instance);
                await rig.StartDispatcherAsync(sender, limiter, new OutboxOptions { UnavailableRetryDelay = TimeSpan.FromMilliseconds(200) }, instance: instance, catalog: catalog);
            }

            var ids = new List<long>();
            for (var i = 0; i < 2000; i++)
            {
                var (kind, api) = Mix[i % Mix.Length];
                var request = OutboxRig.Request(kind, $"target{i}", api);
                ids.Add((await instances[i % 3].Writer.EnqueueAsync(request, CancellationToken.None)).Id);
            }

            // Let part of the run go, then take Redis away for longer than a window, and bring it back empty.
            await sender.WhenAsync(_ => sent.Count >= 400, TimeSpan.FromSeconds(30));
            redis.Stop();
            var stoppedAt = DateTimeOffset.UtcNow;
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var sentWhileDown = sender.Calls.Count(c => c.At > stoppedAt + TimeSpan.FromMilliseconds(600));
            redis.Start();
            await sender.WhenAsync(_ => sent.Count == ids.Count, TimeSpan.FromSeconds(60));

            Assert.That(sentWhileDown, Is.Zero, "with Redis gone, quota-limited sends pause (fail closed)");
            Assert.That(sent.Values, Is.All.EqualTo(1), "no item is sent twice");
            await OutboxRig.UntilAsync(async () => (await rig.Store.GetDepthAsync(CancellationToken.None)).All(d => d.State == OutboxState.Sent));
            var overQuota = new List<string>();
            foreach (var api in sender.Calls.GroupBy(c => c.Item.QuotaSubject.Api))
            {
                var times = api.Select(c => c.At).Order().ToArray();
                for (int start = 0, end = 0; start < times.Length; start++)
                {
                    // Send times are recorded after the limiter decided, by threads that may be descheduled for a while
                    // on a busy machine, so the check allows 200 ms of skew. Without the limiter the 500 items of an
                    // API go out well inside one such window, so the check still catches a broken limiter.
                    while (end < times.Length && times[end] < times[start] + TimeSpan.FromMilliseconds(800))
                    {
                        end++;
                    }
                    if (end - start > PerSecond)
                    {
                        overQuota.Add($"{api.Key}: {end - start} calls from {times[start]:HH:mm:ss.fff}");
                    }
                }
            }
            Assert.That(overQuota, Is.Empty);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }
}
