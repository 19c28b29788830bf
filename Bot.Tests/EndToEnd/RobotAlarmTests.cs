using System.Net;
using Bot.Core.Outbox;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// 93000 from a group robot's webhook (key invalid, or the robot removed from the group) over real HTTP: the item
/// fails with the reason, an operator sees the alarm on /readyz, /admin and /metrics and in an Error log, and the
/// robot's next posts wait, unsent and undropped, until the alarm is cleared.
/// </summary>
[TestFixture]
public sealed class RobotAlarmTests
{
    private const string BrokenKey = "broken-robot-key-secret";

    private static string ChatAddMember(string member) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrVipJingan]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{member}</Item></MemChangeList></xml>";

    private static BotApp NewApp() => new(editRules: path =>
    {
        var file = Path.Combine(path, "community.yaml");
        File.WriteAllText(file, File.ReadAllText(file).Replace("batch: 60s", $"batch: 1s\n    robot_key: \"{BrokenKey}\"", StringComparison.Ordinal));
    });

    private static async Task JoinAsync(BotApp app, HttpClient client, string member)
    {
        using var response = await client.SendAsync(app.SignedPost(ChatAddMember(member)));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    // Ahead of StubAll's errcode-0 webhook (priority 0; lower wins).
    private static Guid StubRobotRemoved(BotApp app)
    {
        var guid = Guid.NewGuid();
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/webhook/send").WithParam("key", BrokenKey).UsingPost()).AtPriority(-1).WithGuid(guid)
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 93000, errmsg = "invalid webhook url, hint: [robot removed]" }));
        return guid;
    }

    [Test]
    public async Task A_93000_fails_the_post_raises_a_visible_alarm_and_pauses_the_robot_until_cleared()
    {
        using var app = NewApp();
        FakeWeCom.StubAll(app.WeCom);
        var broken = StubRobotRemoved(app);
        using var client = app.CreateClient();
        using var admin = app.CreateAdminClient();
        var robot = RobotAlarms.NameOf(BrokenKey);

        await JoinAsync(app, client, "wmJoinerOne");
        await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome' AND state = 'failed' AND last_errcode = 93000", n => n == 1);

        var ready = await Eventually.UntilAsync(() => client.GetStringAsync("/readyz"), body => body.Contains(robot, StringComparison.Ordinal), body => body);
        var page = await admin.GetStringAsync("/admin");
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Multiple(() =>
        {
            Assert.That(ready, Does.Contain("\"status\":\"Degraded\"").And.Contain("robot-alarms").And.Not.Contain(BrokenKey));
            Assert.That(page, Does.Contain("id=\"config-alarms\"").And.Contain($"<td>{robot}</td>").And.Not.Contain(BrokenKey));
            Assert.That(metrics, Does.Match(@"bot_config_alarms_total\{[^}]*kind=""robot_webhook""[^}]*\} 1"));
            Assert.That(metrics, Does.Match(@"bot_robots_paused(_ratio)?(\{[^}]*\})? 1"));
            Assert.That(metrics, Does.Not.Contain(BrokenKey));
            Assert.That(app.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Error && r.Message.Contains(robot, StringComparison.Ordinal)
                && r.Message.Contains("93000", StringComparison.Ordinal) && !r.Message.Contains(BrokenKey, StringComparison.Ordinal)), Is.True);
        });

        // The next join's greeting waits: looked at (WeCom's refusal code recorded), still pending, no second webhook call.
        await JoinAsync(app, client, "wmJoinerTwo");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome' AND state = 'pending' AND last_errcode = 93000 AND attempts = 0", n => n == 1);
        Assert.That(FakeWeCom.Calls(app.WeCom, "webhook/send"), Has.Count.EqualTo(1));

        // The operator re-adds the robot and clears the alarm: the waiting greeting goes.
        app.WeCom.DeleteMapping(broken);
        using (var cleared = await admin.PostAsync($"/admin/alarms/robots/{robot}/clear", null))
        {
            Assert.That(cleared.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }
        await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send", count: 2, timeout: TimeSpan.FromSeconds(30));
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome' AND state = 'sent'", n => n == 1);
        Assert.That(await client.GetStringAsync("/readyz"), Does.Not.Contain(robot));
    }

    [Test]
    public async Task The_pause_is_in_the_database_so_every_instance_holds_the_robot()
    {
        using var app = NewApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        // Another instance found the robot broken: only the shared database knows.
        await app.Service<RobotAlarms>().RaiseAsync(
            new RobotAlarm(RobotAlarms.NameOf(BrokenKey), 93000, "invalid webhook url", null, DateTimeOffset.UtcNow), CancellationToken.None);

        await JoinAsync(app, client, "wmJoinerOne");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome' AND state = 'pending' AND last_errcode = 93000", n => n == 1);

        Assert.That(FakeWeCom.Calls(app.WeCom, "webhook/send"), Is.Empty);
    }

    [Test]
    public async Task Clearing_an_unknown_robot_is_not_found_and_clearing_needs_the_admin_key()
    {
        using var app = NewApp();
        FakeWeCom.StubAll(app.WeCom);
        using var admin = app.CreateAdminClient();
        using var anonymous = app.CreateClient();

        using var unknown = await admin.PostAsync("/admin/alarms/robots/robot-000000000000/clear", null);
        using var unauthorised = await anonymous.PostAsync("/admin/alarms/robots/robot-000000000000/clear", null);

        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(unauthorised.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }
}
