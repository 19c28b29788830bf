using System.Net;
using System.Net.Http.Json;
using Bot.Core.Outbox;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using Bot.Tests.Outbox;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.RateLimiting;

/// <summary>
/// 45009 over the real host (admin API, dispatcher, limiter, WeCom stub over HTTP) on a fake clock, where WeCom holds an
/// hour block as doc 90454 says (FACTS §6.1): once the hour limit is hit, every call is refused for 60 minutes.
/// </summary>
public sealed class FrequencyLimitHostTests
{
    private const string AddMsgTemplate = "externalcontact/add_msg_template";

    // Tuesday 2026-12-01 10:00 in Shanghai, on a whole second.
    private static readonly DateTimeOffset Morning = new(2026, 12, 1, 10, 0, 0, TimeSpan.FromHours(8));

    [TestCase(false)]
    [TestCase(true)]
    public async Task An_hour_block_is_waited_out_in_one_pause_instead_of_a_call_every_minute(bool redis)
    {
        var time = new FakeTimeProvider(Morning);
        var settings = new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" };
        if (redis)
        {
            settings["Redis:Configuration"] = RedisTestServer.Shared.Configuration;
            settings["Redis:KeyPrefix"] = RedisTestServer.NewPrefix();
        }
        using var bot = new BotApp(settings: settings);
        // The corp's hour limit for add_msg_template was filled just before (by another app, say): WeCom refuses every
        // call until its 60-minute block ends, with the same errmsg it gives for a minute block.
        var blockEnds = Morning + TimeSpan.FromMinutes(60);
        var calls = 0;
        bot.WeCom.Given(Request.Create().WithPath("/cgi-bin/" + AddMsgTemplate).UsingPost()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(_ =>
            {
                Interlocked.Increment(ref calls);
                var body = time.GetUtcNow() < blockEnds
                    ? """{"errcode":45009,"errmsg":"api freq out of limit, hint: [test], from ip: 127.0.0.1"}"""
                    : """{"errcode":0,"errmsg":"ok","msgid":"msgAFTERHOUR","fail_list":[]}""";
                return new WireMock.ResponseMessage
                {
                    StatusCode = 200,
                    BodyData = new WireMock.Util.BodyData { BodyAsString = body, DetectedBodyType = WireMock.Types.BodyType.String },
                };
            }));
        using var app = CampaignPreflightTests.OnClock(bot, time);
        using var client = CampaignPreflightTests.AdminClient(app);

        var created = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "winter-menu", text = "冬季新品", targetKind = 1, sender = "guide01", targets = new[] { "wmHour" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));

        // The first refusal cannot be told from a minute block: the item waits the minute.
        await FakeWeCom.WaitForAsync(bot.WeCom, AddMsgTemplate);
        await WaitPendingUntilAsync(bot, Morning + TimeSpan.FromSeconds(60));

        // Refused again after the minute block would have lifted: an hour block. The item waits the hour, not a minute.
        time.Advance(TimeSpan.FromSeconds(60));
        await FakeWeCom.WaitForAsync(bot.WeCom, AddMsgTemplate, count: 2);
        var hourPauseEnd = Morning + TimeSpan.FromSeconds(60) + TimeSpan.FromMinutes(60);
        await WaitPendingUntilAsync(bot, hourPauseEnd);

        // Minute after minute of the hour, nothing is called (the fixed 60 s pause called WeCom each minute).
        for (var minute = 1; minute < 60; minute++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
        }
        Assert.That(Volatile.Read(ref calls), Is.EqualTo(2));

        // The pause ends a minute after WeCom's block: the item goes, once, and is sent.
        time.Advance(TimeSpan.FromMinutes(1));
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE target = 'wmHour' AND state = 'sent' AND remote_ids = 'msgAFTERHOUR'", n => n == 1);
        Assert.That(Volatile.Read(ref calls), Is.EqualTo(3), "two refusals and the send; none during the hour");
    }

    private static async Task WaitPendingUntilAsync(BotApp bot, DateTimeOffset nextAttempt) =>
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE target = 'wmHour' AND state = 'pending' AND last_errcode = 45009 "
            + $"AND next_attempt_at = {nextAttempt.ToUnixTimeMilliseconds()}", n => n == 1);
}
