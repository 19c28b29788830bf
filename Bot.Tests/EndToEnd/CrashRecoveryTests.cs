using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bot.Core.Outbox;
using Bot.Tests.Fixtures;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using Microsoft.Extensions.Time.Testing;
using WireMock.Server;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// The real Bot.Host process, killed while WeCom has not answered, then started again on the same database: what it
/// acknowledged is stored, handled, and every welcome reaches WeCom exactly once.
/// </summary>
[TestFixture]
public sealed class CrashRecoveryTests
{
    private const int Callbacks = 200;

    // Claims of the killed process must lapse quickly, or the 20 s welcome codes die waiting for them.
    private static readonly Dictionary<string, string?> ShortLeases = new()
    {
        ["Inbox:LeaseDuration"] = "00:00:02",
        ["Outbox:LeaseDuration"] = "00:00:02",
    };

    [Test]
    public async Task Callbacks_acknowledged_before_a_kill_are_all_handled_after_a_restart_and_each_welcome_is_sent_once()
    {
        using var workspace = new ProcessWorkspace("wecombot-crash");
        var (rules, database) = (workspace.Rules, workspace.Database);

        // First life: WeCom takes the welcome requests and never answers in time. It is stopped only at the end: a
        // WireMock stop waits for its delayed answers, and the welcome codes live 20 s. Both keep more than the
        // default request log, which would drop the calls being counted.
        var silent = WireMockServer.Start(new WireMock.Settings.WireMockServerSettings { MaxRequestLogCount = 100_000 });
        FakeWeCom.StubAll(silent, answerWelcomes: false);
        silent.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithDelay(TimeSpan.FromSeconds(60)).WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        var answering = WireMockServer.Start(new WireMock.Settings.WireMockServerSettings { MaxRequestLogCount = 100_000 });
        FakeWeCom.StubAll(answering);
        var acknowledged = new ConcurrentBag<string>();
        try
        {
            using (var first = await BotProcess.StartAsync(silent.Url!, database, rules, ShortLeases))
            using (var http = first.CreateClient())
            {
                await Parallel.ForEachAsync(Enumerable.Range(0, Callbacks), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
                {
                    var code = $"CRASH-{i:D3}";
                    using var request = BotProcess.SignedPost(BotApp.ContactAdded($"wmCrash{i:D3}", code, state: "store-sh-001"));
                    using var response = await http.SendAsync(request, ct);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        acknowledged.Add(code);
                    }
                });
                // Handling is in flight: welcomes are claimed and WeCom holds them unanswered (WireMock logs a request only once it answers).
                await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND claim_token IS NOT NULL", n => n > 0, TimeSpan.FromSeconds(10));
                first.Kill();
            }
            Assert.That(acknowledged, Has.Count.EqualTo(Callbacks), "every callback should have been acknowledged before the kill");

            using (await BotProcess.StartAsync(answering.Url!, database, rules, ShortLeases))
            {
                await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM inbox WHERE state = 'handled'", n => n == Callbacks, TimeSpan.FromSeconds(30));
                await FakeWeCom.WaitForAsync(answering, "externalcontact/send_welcome_msg", count: Callbacks, timeout: TimeSpan.FromSeconds(30));

                Assert.That(await FakeWeCom.ScalarAsync(database, "SELECT COUNT(*) FROM inbox"), Is.EqualTo(Callbacks));
                var answeredCodes = FakeWeCom.Calls(answering, "externalcontact/send_welcome_msg")
                    .Where(e => FakeWeCom.StatusOf(e) == 200)
                    .Select(e => FakeWeCom.Json(e).GetProperty("welcome_code").GetString()!)
                    .ToList();
                Assert.That(answeredCodes.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "a welcome code WeCom accepted was sent again");
                Assert.That(answeredCodes, Is.EquivalentTo(acknowledged));
            }
        }
        finally
        {
            silent.Stop();
            answering.Stop();
        }
    }

    [Test]
    public async Task A_welcome_whose_host_died_after_WeCom_answered_is_unknown_after_the_restart_not_expired_before_sending()
    {
        // The second life runs in-process on this app's database and rules; the first is a real process killed mid-call.
        using var bot = new BotApp(editRules: rules => FakeWeCom.RemoveWelcomeTimeWindow(rules));
        FakeWeCom.StubAll(bot.WeCom, answerWelcomes: false);
        BotProcess? first = null;
        var calls = 0;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bot.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithCallback(_ =>
            {
                // WeCom applies the welcome and answers errcode 0, but the host dies before it can record that.
                if (Interlocked.Increment(ref calls) == 1)
                {
                    first!.Kill();
                    killed.TrySetResult();
                }
                return new WireMock.ResponseMessage
                {
                    StatusCode = 200,
                    BodyData = new WireMock.Util.BodyData
                    {
                        BodyAsString = """{"errcode":0,"errmsg":"ok"}""",
                        DetectedBodyType = WireMock.Types.BodyType.String,
                    },
                };
            }));
        using (first = await BotProcess.StartAsync(bot.WeCom.Url!, bot.DatabasePath, bot.RulesPath, ShortLeases))
        using (var http = first.CreateClient())
        {
            using var response = await http.SendAsync(BotProcess.SignedPost(BotApp.ContactAdded("wmAnswered", "WELCOME-ANSWERED")));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            await killed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.That(await FakeWeCom.ScalarAsync(bot.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state = 'sending'"), Is.EqualTo(1),
            "the outcome was never written");

        // The host comes back after the claim's lease and the welcome code's 20 s have both run out.
        using var second = Outbox.CampaignPreflightTests.OnClock(bot, new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1)));
        using var admin = Outbox.CampaignPreflightTests.AdminClient(second);
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state NOT IN ('pending', 'sending')", n => n == 1);

        var unknown = await admin.GetFromJsonAsync<List<OutboxItem>>("/admin/outbox/unknown", Json);
        var expired = await admin.GetFromJsonAsync<List<OutboxItem>>("/admin/outbox/expired", Json);
        var welcome = unknown!.SingleOrDefault(i => i.Kind == OutboxKinds.Welcome);
        Assert.Multiple(() =>
        {
            Assert.That(expired!.Where(i => i.Kind == OutboxKinds.Welcome).Select(i => i.LastError), Is.Empty, "a welcome WeCom may have applied is not expired");
            Assert.That(welcome, Is.Not.Null, "the welcome is in doubt: unknown");
            Assert.That(welcome?.LastError, Does.Contain("may have been applied").And.Not.Contain("before sending"));
            Assert.That(calls, Is.EqualTo(1), "the dead welcome code is not sent again");
        });
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };
}
