using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Outbox;

/// <summary>
/// A broadcast over the real host (admin API, dispatcher, limiter, WeCom stub over HTTP) on a fake clock, where WeCom
/// refuses one add_msg_template before applying it: with the in-process limiter and with a real Redis.
/// </summary>
public sealed class RefusedSendTests
{
    private const string AddMsgTemplate = "externalcontact/add_msg_template";

    // Tuesday 2026-12-01 10:00 in Shanghai, on a whole second: the day's receiving period ends in 14 h.
    private static readonly DateTimeOffset Morning = new(2026, 12, 1, 10, 0, 0, TimeSpan.FromHours(8));

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_send_refused_with_45009_gives_back_every_allowance_and_goes_again_after_the_pause_not_at_midnight(bool redis)
    {
        var time = new FakeTimeProvider(Morning);
        var settings = new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" };
        if (redis)
        {
            settings["Redis:Configuration"] = RedisTestServer.Shared.Configuration;
            settings["Redis:KeyPrefix"] = RedisTestServer.NewPrefix();
        }
        using var bot = new BotApp(settings: settings);
        // WeCom refuses the first call for wmRefused with 45009 and accepts every later one.
        var scenario = "refused-once-" + Guid.NewGuid().ToString("N");
        var refusedBody = new WildcardMatcher("*wmRefused*");
        bot.WeCom.Given(Request.Create().WithPath("/cgi-bin/" + AddMsgTemplate).UsingPost().WithBody(refusedBody)).AtPriority(1)
            .InScenario(scenario).WillSetStateTo("refused")
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 45009, errmsg = "api freq out of limit, hint: [test]" }));
        bot.WeCom.Given(Request.Create().WithPath("/cgi-bin/" + AddMsgTemplate).UsingPost().WithBody(refusedBody)).AtPriority(1)
            .InScenario(scenario).WhenStateIs("refused").WillSetStateTo("refused")
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgAFTERPAUSE", fail_list = Array.Empty<string>() }));
        using var app = CampaignPreflightTests.OnClock(bot, time);
        using var client = CampaignPreflightTests.AdminClient(app);
        Assert.That(app.Services.GetRequiredService<IQuotaLimiter>(), redis ? Is.InstanceOf<RedisQuotaLimiter>() : Is.Not.InstanceOf<RedisQuotaLimiter>());

        var created = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "winter-menu", text = "冬季新品", targetKind = 1, sender = "guide01", targets = new[] { "wmRefused" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        await FakeWeCom.WaitForAsync(bot.WeCom, AddMsgTemplate);
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE target = 'wmRefused' AND state = 'pending' AND last_errcode = 45009", n => n == 1);

        // WeCom blocks the API for its minute: the item waits for that and nothing else.
        var pauseEnd = Morning + TimeSpan.FromSeconds(60);
        Assert.That(await FakeWeCom.ScalarAsync(bot.DatabasePath, "SELECT next_attempt_at FROM outbox WHERE target = 'wmRefused'"),
            Is.EqualTo(pauseEnd.ToUnixTimeMilliseconds()));
        // Pre-flight sees the refused customer as one who received nothing today: held by the pause, not skipped.
        using (var report = await PreflightAsync(client, "wmRefused", "wmFresh"))
        {
            var root = report.RootElement;
            var refused = Target(root, "wmRefused");
            Assert.Multiple(() =>
            {
                Assert.That(refused.GetProperty("status").GetString(), Is.EqualTo("Delayed"));
                Assert.That(refused.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(pauseEnd));
                Assert.That(refused.GetProperty("blockedBy").GetString(), Is.EqualTo(QuotaRules.ApiPerMinute));
                Assert.That(refused.ToString(), Is.EqualTo(Target(root, "wmFresh").ToString().Replace("wmFresh", "wmRefused", StringComparison.Ordinal)),
                    "the refused customer's outlook is a fresh customer's");
                Assert.That(root.GetProperty("skipped").GetInt32(), Is.Zero);
            });
        }
        // Every allowance the refused call reserved is back: receiving rule, sender cap, contact budget.
        var subject = BroadcastService.QuotaSubjectFor(BroadcastTargetKind.Customers, "guide01", "wmRefused");
        var limits = app.Services.GetRequiredService<ContactBudget>().AddTo(
            app.Services.GetRequiredService<QuotaCatalog>().LimitsFor(subject), OutboxKinds.Broadcast, "wmRefused", OutboxKinds.TargetsGroup(OutboxKinds.Broadcast), "wmRefused", subject);
        var usages = (await app.Services.GetRequiredService<IQuotaLimiter>().PeekAsync(limits, CancellationToken.None))!;
        Assert.That(usages.Where((_, i) => limits[i].Calendar != QuotaCalendar.None).Select(u => $"{u.Key.Rule} used {u.Used}"), Is.EquivalentTo(new[]
        {
            $"{QuotaRules.CustomerMassReceiving} used 0", $"{QuotaRules.SenderPerCustomerPerDay} used 0", $"{ContactBudgetOptions.CustomerRule} used 0",
        }));

        time.Advance(TimeSpan.FromSeconds(60));
        await FakeWeCom.WaitForAsync(bot.WeCom, AddMsgTemplate, count: 2);
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE target = 'wmRefused' AND state = 'sent' AND remote_ids = 'msgAFTERPAUSE'", n => n == 1);
    }

    // 40096 (invalid external userid) is a refusal: nothing was applied. -1 may come after WeCom applied the call, and a
    // timeout leaves it unknown: both keep the allowance spent, so the customer is not offered a second message today.
    [TestCase(40096, "Allowed", null)]
    [TestCase(-1, "Skipped", QuotaRules.CustomerMassReceiving)]
    [TestCase(null, "Skipped", QuotaRules.CustomerMassReceiving)]
    public async Task Only_a_call_WeCom_did_not_apply_gives_the_allowance_back(int? errcode, string status, string? blockedBy)
    {
        using var app = new BotApp(settings: new Dictionary<string, string?>
        {
            ["Quotas:MassMessageReceivingRule"] = "OnePerDay",
            ["WeComApi:AttemptTimeout"] = "00:00:00.300",
            ["WeComApi:MaxTransientRetries"] = "0",
        });
        var answer = Response.Create().WithBodyAsJson(new { errcode = errcode ?? 0, errmsg = "answer", msgid = "msgLATE" });
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/" + AddMsgTemplate).UsingPost())
            .RespondWith(errcode is null ? answer.WithDelay(TimeSpan.FromSeconds(2)) : answer);
        using var client = app.CreateAdminClient();

        var created = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "winter-menu", text = "冬季新品", targetKind = 1, sender = "guide01", targets = new[] { "wmAnswered" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE target = 'wmAnswered' AND state <> 'sending' AND attempts >= 1", n => n == 1);

        using var report = await PreflightAsync(client, "wmAnswered");
        var target = Target(report.RootElement, "wmAnswered");
        Assert.That(target.GetProperty("status").GetString(), Is.EqualTo(status), target.ToString());
        Assert.That(target.GetProperty("blockedBy").GetString(), Is.EqualTo(blockedBy));
    }

    private static async Task<JsonDocument> PreflightAsync(HttpClient client, params string[] customers)
    {
        var response = await client.PostAsJsonAsync("/admin/broadcasts/preflight", new
        {
            name = "preflight", text = "新品", targetKind = 1, sender = "guide01", targets = customers,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return JsonDocument.Parse(body);
    }

    private static JsonElement Target(JsonElement root, string target) =>
        root.GetProperty("targets").EnumerateArray().Single(t => t.GetProperty("target").GetString() == target);
}
