using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Inbox;
using Bot.Core.Campaigns.Lottery;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

/// <summary>Callbacks in over HTTP, WeCom calls out to WireMock: welcome, tags, group welcome, keyword reply, lottery.</summary>
[TestFixture]
public sealed class AutomationFlowTests
{
    private const string WelcomePath = "externalcontact/send_welcome_msg";
    private const string MarkTagPath = "externalcontact/mark_tag";

    private static string ChatAddMember(string chatId, string member) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chatId}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{member}</Item></MemChangeList></xml>";

    internal static string ChatCreated(string chatId) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chatId}]]></ChatId><ChangeType><![CDATA[create]]></ChangeType></xml>";

    internal static string RobotText(string chatId, string from, string text, string responseUrl) => JsonSerializer.Serialize(new
    {
        msgid = Guid.NewGuid().ToString("N"),
        aibotid = "aibTEST",
        chatid = chatId,
        chattype = "group",
        from = new { userid = from },
        response_url = responseUrl,
        msgtype = "text",
        text = new { content = text },
    });

    internal static async Task PostOkAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        using (var response = await client.SendAsync(request))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    internal static async Task WaitInboxDrainedAsync(BotApp app)
    {
        await Eventually.UntilAsync(
            () => app.Service<InboxStore>().GetStatsAsync(CancellationToken.None),
            stats => stats.Pending == 0, stats => $"the inbox still holds {stats.Pending} pending", TimeSpan.FromSeconds(10));
    }

    private static string WelcomeCode(WireMock.Logging.ILogEntry entry) => FakeWeCom.Json(entry).GetProperty("welcome_code").GetString()!;

    private static string MarkTagUser(WireMock.Logging.ILogEntry entry) => FakeWeCom.Json(entry).GetProperty("external_userid").GetString()!;

    [Test]
    public async Task A_new_contact_gets_one_rendered_welcome_and_one_tagging_and_a_WeCom_retry_changes_nothing()
    {
        using var app = new BotApp(editRules: path => FakeWeCom.RemoveWelcomeTimeWindow(path));
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var first = BotApp.ContactAdded("wmCustomerA", "WELCOME-A", state: "store-sh-001");

        await PostOkAsync(client, app.SignedPost(first));
        var welcome = (await FakeWeCom.WaitForAsync(app.WeCom, WelcomePath)).Single();
        var tags = (await FakeWeCom.WaitForAsync(app.WeCom, MarkTagPath)).Single();

        var body = FakeWeCom.Json(welcome);
        Assert.That(body.GetProperty("welcome_code").GetString(), Is.EqualTo("WELCOME-A"));
        Assert.That(body.GetProperty("text").GetProperty("content").GetString(), Is.EqualTo("您好 张三，我是小王，欢迎光临上海门店！回复「抽奖」参加周末抽奖。"));
        var link = body.GetProperty("attachments")[0].GetProperty("link");
        Assert.That(link.GetProperty("url").GetString(), Is.EqualTo("https://shop.example.com/gift?from=store-sh-001"));
        Assert.That(link.GetProperty("title").GetString(), Is.EqualTo("新客礼包"));
        var tagBody = FakeWeCom.Json(tags);
        Assert.That(tagBody.GetProperty("external_userid").GetString(), Is.EqualTo("wmCustomerA"));
        Assert.That(tagBody.GetProperty("userid").GetString(), Is.EqualTo("guide01"));
        Assert.That(tagBody.GetProperty("add_tag").EnumerateArray().Select(t => t.GetString()),
            Is.EquivalentTo(new[] { FakeWeCom.SourceTagId, FakeWeCom.NewCustomerTagId }));

        // WeCom's retry: the same plaintext, encrypted afresh under a new nonce and signature.
        await PostOkAsync(client, app.SignedPost(first));
        await PostOkAsync(client, app.SignedPost(BotApp.ContactAdded("wmCustomerB", "WELCOME-B", state: "store-sh-002")));
        await FakeWeCom.WaitForAsync(app.WeCom, WelcomePath, where: e => WelcomeCode(e) == "WELCOME-B");
        await FakeWeCom.WaitForAsync(app.WeCom, MarkTagPath, where: e => MarkTagUser(e) == "wmCustomerB");

        Assert.That(FakeWeCom.Calls(app.WeCom, WelcomePath).Count(e => WelcomeCode(e) == "WELCOME-A"), Is.EqualTo(1));
        Assert.That(FakeWeCom.Calls(app.WeCom, MarkTagPath).Count(e => MarkTagUser(e) == "wmCustomerA"), Is.EqualTo(1));
        Assert.That(await FakeWeCom.ScalarAsync(app.DatabasePath, "SELECT COUNT(*) FROM inbox"), Is.EqualTo(2));
    }

    [Test]
    public async Task A_slow_and_a_busy_directory_delay_the_welcome_by_the_lookup_budget_only()
    {
        using var app = new BotApp(
            editRules: path => FakeWeCom.RemoveWelcomeTimeWindow(path),
            settings: new Dictionary<string, string?> { ["Handling:WelcomeLookupBudget"] = "00:00:01", ["WeComApi:AttemptTimeout"] = "00:00:02" });
        FakeWeCom.StubAll(app.WeCom);
        // The customer lookup outlasts every attempt, the guide lookup is answered "system busy" each time: with their
        // retries, either one alone would hold the welcome for seconds (for minutes with the default timeouts).
        app.WeCom.Given(WireMock.RequestBuilders.Request.Create().WithPath("/cgi-bin/externalcontact/get").WithParam("external_userid", "wmSlowDirectory").UsingGet())
            .AtPriority(0)
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }).WithDelay(TimeSpan.FromSeconds(3)));
        app.WeCom.Given(WireMock.RequestBuilders.Request.Create().WithPath("/cgi-bin/user/get").UsingGet())
            .AtPriority(-1)
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithBodyAsJson(new { errcode = -1, errmsg = "system busy" }));
        using var client = app.CreateClient();

        await PostOkAsync(client, app.SignedPost(BotApp.ContactAdded("wmSlowDirectory", "WELCOME-SLOW", state: "store-sh-001")));
        var welcome = (await FakeWeCom.WaitForAsync(app.WeCom, WelcomePath, timeout: TimeSpan.FromSeconds(6))).Single();

        // The rule's text, without the names nobody could fetch in time.
        Assert.That(FakeWeCom.Json(welcome).GetProperty("text").GetProperty("content").GetString(),
            Is.EqualTo("您好 ，我是，欢迎光临上海门店！回复「抽奖」参加周末抽奖。"));
        Assert.That(WelcomeCode(welcome), Is.EqualTo("WELCOME-SLOW"));
    }

    [Test]
    public async Task A_contact_added_without_a_welcome_code_is_tagged_but_not_welcomed()
    {
        using var app = new BotApp(editRules: path => FakeWeCom.RemoveWelcomeTimeWindow(path));
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();

        await PostOkAsync(client, app.SignedPost(BotApp.ContactAdded("wmNoCode", "", state: "store-sh-001")));
        var tags = (await FakeWeCom.WaitForAsync(app.WeCom, MarkTagPath)).Single();

        Assert.That(MarkTagUser(tags), Is.EqualTo("wmNoCode"));
        // Actions of one callback are enqueued together, so a planned welcome would be in the outbox by now.
        Assert.That(await FakeWeCom.ScalarAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome'"), Is.Zero);
        Assert.That(FakeWeCom.Calls(app.WeCom, WelcomePath), Is.Empty);
    }

    [Test]
    public async Task Three_joiners_within_the_batch_window_get_one_robot_greeting_naming_them_all()
    {
        using var app = new BotApp(editRules: path =>
        {
            var file = Path.Combine(path, "community.yaml");
            File.WriteAllText(file, File.ReadAllText(file).Replace("batch: 60s", "batch: 2s\n    robot_key: \"vip-robot-key\"", StringComparison.Ordinal));
        });
        FakeWeCom.StubAll(app.WeCom, new Dictionary<string, (string, string[])>
        {
            ["wmJoinerOne"] = ("李雷", []),
            ["wmJoinerTwo"] = ("韩梅梅", []),
            ["wmJoinerThree"] = ("王五", []),
        });
        using var client = app.CreateClient();

        foreach (var member in new[] { "wmJoinerOne", "wmJoinerTwo", "wmJoinerThree" })
        {
            await PostOkAsync(client, app.SignedPost(ChatAddMember("wrVipJingan", member)));
        }
        var post = (await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send")).Single();
        await WaitInboxDrainedAsync(app);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE completed_at IS NULL", n => n == 0);

        Assert.That(FakeWeCom.Calls(app.WeCom, "webhook/send"), Has.Count.EqualTo(1));
        Assert.That(post.RequestMessage!.Query!["key"].Single(), Is.EqualTo("vip-robot-key"));
        var text = FakeWeCom.Json(post).GetProperty("text").GetProperty("content").GetString();
        Assert.That(text, Does.Contain("李雷").And.Contain("韩梅梅").And.Contain("王五").And.Contain("VIP 静安店"));
    }

    [Test]
    public async Task A_robot_keyword_message_is_answered_once_at_its_response_url()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var responseUrl = app.WeCom.Url + "/response/abc";

        await PostOkAsync(client, app.SignedRobotPost(RobotText("wrSomeGroup", "wmAsker", "@bot 营业时间是几点", responseUrl)));
        var reply = (await FakeWeCom.WaitForAsync(app.WeCom, "/response/abc")).Single();
        await WaitInboxDrainedAsync(app);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE completed_at IS NULL", n => n == 0);

        Assert.That(FakeWeCom.Calls(app.WeCom, "/response/abc"), Has.Count.EqualTo(1));
        Assert.That(FakeWeCom.Json(reply).GetProperty("markdown").GetProperty("content").GetString(), Does.Contain("门店营业时间为每天 10:00-22:00。"));
    }

    [Test]
    public async Task A_lottery_takes_the_eligible_entrant_draws_announces_and_publishes_verifiable_data()
    {
        var now = DateTimeOffset.UtcNow;
        using var app = new BotApp(
            editRules: path =>
            {
                var file = Path.Combine(path, "campaigns.yaml");
                File.WriteAllText(file, File.ReadAllText(file)
                    .Replace("opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{now.AddHours(-1):yyyy-MM-ddTHH:mm:ssK}\"", StringComparison.Ordinal)
                    .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{now.AddSeconds(6):yyyy-MM-ddTHH:mm:ssK}\"\n    robot_key: \"lottery-robot-key\"", StringComparison.Ordinal));
            },
            settings: new Dictionary<string, string?> { ["Lottery:PollInterval"] = "00:00:01" });
        FakeWeCom.StubAll(app.WeCom, new Dictionary<string, (string, string[])>
        {
            ["wmEligible"] = ("赵六", ["生命周期/新客"]),
            ["wmIneligible"] = ("钱七", []),
        });
        using var client = app.CreateClient();
        var responseUrl = app.WeCom.Url + "/response/lottery";

        await PostOkAsync(client, app.SignedPost(ChatCreated("wrVipJingan")));
        await WaitInboxDrainedAsync(app);
        await PostOkAsync(client, app.SignedRobotPost(RobotText("wrVipJingan", "wmEligible", "抽奖", responseUrl)));
        await PostOkAsync(client, app.SignedRobotPost(RobotText("wrVipJingan", "wmIneligible", "抽奖", responseUrl)));
        var replies = await FakeWeCom.WaitForAsync(app.WeCom, "/response/lottery", count: 2);
        var announcement = (await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send", timeout: TimeSpan.FromSeconds(20))).Single();

        Assert.That(replies.Select(r => FakeWeCom.Json(r).GetProperty("markdown").GetProperty("content").GetString()), Has.One.Contains("已参加").And.One.Contains("仅限指定客户"));
        Assert.That(announcement.RequestMessage!.Query!["key"].Single(), Is.EqualTo("lottery-robot-key"));
        Assert.That(FakeWeCom.Json(announcement).GetProperty("text").GetProperty("content").GetString(), Does.Contain("赵六").And.Contain("开奖啦"));

        var audit = await client.GetFromJsonAsync<LotteryAudit>("/lottery/weekend-coffee/audit", JsonSerializerOptions.Web);
        Assert.That(audit, Is.Not.Null);
        Assert.That(audit!.Commitment, Is.Not.Null.And.Not.Empty);
        Assert.That(audit.Seed, Is.Not.Null.And.Not.Empty);
        Assert.That(audit.Entries, Is.EqualTo(new[] { "wmEligible" }));
        Assert.That(audit.Winners!.Select(w => w.ExternalUserId), Is.EqualTo(new[] { "wmEligible" }));
        var verification = LotteryVerifier.Verify(audit.Seed!, audit.Commitment!, audit.Entries!, audit.Prizes, audit.Winners!, audit.EntryListHash);
        Assert.That(verification.IsValid, Is.True, verification.Reason);
        var tampered = LotteryVerifier.Verify(audit.Seed!, audit.Commitment!, ["wmEligible", "wmIneligible"], audit.Prizes, audit.Winners!, audit.EntryListHash);
        Assert.That(tampered.IsValid, Is.False);
    }
}
