using Bot.Core.Handling;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Contacts;

/// <summary>
/// An opted-out customer receives nothing from any path. One customer sends 退订, a control customer does
/// not, and both then go through every outbound path that addresses a customer individually, through the real host:
/// the welcome when they add a guide (send_welcome_msg) and its tags (mark_tag), a one-to-one keyword reply
/// (response_url) and keyword tag, the lottery entry reply in a group and the winner tag after the draw, the
/// group-join tag, and an operator broadcast to customers (add_msg_template with external_userid). Every outbox kind
/// was checked: welcome, tag_change, reply and broadcast carry the customer and are refused; preference_reply (the
/// 退订 confirmation itself) is the one exemption; app_message is only ever addressed to staff (replies to staff
/// app messages); group_welcome, lottery_announcement, seeding_post and group_welcome_template are posts to a whole
/// group (or WeCom material) that cannot leave one member out. The group welcome, though, names its joiners, so an
/// opted-out joiner is left out of the names, and a greeting left with nobody to name is not posted. An opted-out
/// winner still wins (the draw stays verifiable) but the announcement does not name them.
/// </summary>
[TestFixture]
public sealed class OptOutAllPathsTests
{
    private const string OptedOut = "wmOptOutAll001";
    private const string OptedOutName = "退订者";
    private const string Control = "wmControl00001";
    private const string ControlName = "对照者";
    private const string Chat = "wrVipJingan";
    private const string GroupWelcomeKey = "vip-robot-key";
    private const string LotteryKey = "lottery-robot-key";
    private const string WinnerTagId = "etActivityWinner";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    [Test]
    public async Task An_opted_out_customer_gets_nothing_from_any_path_that_reaches_the_control_customer()
    {
        // Entries come first; the draw waits long enough for them on a busy machine and is then awaited, not slept.
        var draws = DateTimeOffset.UtcNow.AddSeconds(20);
        using var app = NewApp(draws);
        using var client = app.CreateClient();

        await PostAsync(client, app.SignedPost(ChatCreated(Chat)));
        await OptOutAsync(app, client);

        // Lottery entry in the group: the entry is the customer's own act and is recorded; only the reply is refused.
        await PostAsync(client, app.SignedRobotPost(RobotText(Chat, OptedOut, "抽奖", ResponseUrl(app, "lottery-optedout"))));
        await PostAsync(client, app.SignedRobotPost(RobotText(Chat, Control, "抽奖", ResponseUrl(app, "lottery-control"))));

        // The customer (re-)adds a guide: welcome and welcome tags.
        await PostAsync(client, app.SignedPost(BotApp.ContactAdded(OptedOut, "WELCOME-OPTEDOUT")));
        await PostAsync(client, app.SignedPost(BotApp.ContactAdded(Control, "WELCOME-CONTROL")));

        // One-to-one keyword reply and keyword tag.
        await PostAsync(client, app.SignedRobotPost(RobotText(null, OptedOut, "请问营业时间", ResponseUrl(app, "hours-optedout"))));
        await PostAsync(client, app.SignedRobotPost(RobotText(null, Control, "请问营业时间", ResponseUrl(app, "hours-control"))));
        await PostAsync(client, app.SignedRobotPost(RobotText(null, OptedOut, "有拿铁吗", ResponseUrl(app, "latte-optedout"))));
        await PostAsync(client, app.SignedRobotPost(RobotText(null, Control, "有拿铁吗", ResponseUrl(app, "latte-control"))));

        // Both join a VIP group in one callback: one batched greeting, and the group-join tag for each.
        await PostAsync(client, app.SignedPost(ChatAddMembers(Chat, OptedOut, Control)));

        using var admin = app.CreateAdminClient();
        long broadcastId;
        using (var created = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "winter-menu",
            text = "冬季新品上市",
            targetKind = BroadcastTargetKind.Customers,
            sender = "guide01",
            targets = new[] { OptedOut, Control },
        }))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            broadcastId = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetInt64();
        }

        // Every path was live: the control customer received each of them.
        var lotteryReply = (await FakeWeCom.WaitForAsync(app.WeCom, "/response/lottery-control", timeout: Timeout)).Single();
        Assert.That(Markdown(lotteryReply), Does.Contain("已参加"), "the control entry must be accepted, or the draw came too early");
        await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/send_welcome_msg", where: e => Field(e, "welcome_code") == "WELCOME-CONTROL", timeout: Timeout);
        await FakeWeCom.WaitForAsync(app.WeCom, "/response/hours-control", timeout: Timeout);
        var greeting = (await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send", where: e => RobotKey(e) == GroupWelcomeKey, timeout: Timeout)).Single();
        var broadcast = (await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/add_msg_template", timeout: Timeout)).Single();
        var announcement = (await FakeWeCom.WaitForAsync(app.WeCom, "webhook/send", where: e => RobotKey(e) == LotteryKey, timeout: Timeout)).Single();
        // Welcome tag, keyword tag, group-join tag and winner tag.
        var controlTags = await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/mark_tag", count: 4, where: e => Field(e, "external_userid") == Control, timeout: Timeout);

        // Every item addressed to the opted-out customer has ended.
        // The broadcast is one task for both customers: the opted-out one is refused as its recipient.
        var recipients = await BroadcastRecipients.WaitForAsync(app, broadcastId, rs => rs.All(r => r.State != OutboxState.Pending), Timeout);
        var items = await WaitForItemsAsync(app, OptedOut, all => all.Count == 8 && all.All(i => i.State is not (OutboxState.Pending or OutboxState.Sending)));
        Assert.Multiple(() =>
        {
            Assert.That(Text(greeting), Does.Contain(ControlName).And.Not.Contain(OptedOutName));
            Assert.That(Field(broadcast, "external_userid[0]"), Is.EqualTo(Control));
            Assert.That(Text(announcement), Does.Contain("开奖啦").And.Contain(ControlName).And.Not.Contain(OptedOutName),
                "both entrants win; the one who opted out is not named");
            Assert.That(Text(announcement), Does.Contain(Bot.Core.Campaigns.Lottery.LotteryWinnerLookup.UnnamedWinner));
            Assert.That(controlTags.SelectMany(e => FakeWeCom.Json(e).GetProperty("add_tag").EnumerateArray()).Select(t => t.GetString()),
                Does.Contain(WinnerTagId));

            var confirmation = items.Single(i => i.Kind == OutboxKinds.PreferenceReply);
            Assert.That(confirmation.State, Is.EqualTo(OutboxState.Sent));
            var refused = items.Where(i => i != confirmation).ToList();
            Assert.That(refused.Select(i => i.Kind), Is.EquivalentTo(new[]
            {
                OutboxKinds.Welcome, OutboxKinds.TagChange, // adding a guide
                OutboxKinds.Reply, OutboxKinds.TagChange,   // one-to-one keywords
                OutboxKinds.Reply, OutboxKinds.TagChange,   // lottery entry reply, winner tag
                OutboxKinds.TagChange,                      // group join
            }));
            Assert.That(recipients.Single(r => r.Target == OptedOut), Is.EqualTo(recipients.Single(r => r.Target == OptedOut) with
            {
                State = OutboxState.Failed, LastError = OutboxDispatcher.CustomerOptedOut,
            }));
            Assert.That(recipients.Single(r => r.Target == Control).State, Is.EqualTo(OutboxState.Sent));
            Assert.That(refused.Select(i => $"{i.Kind}: {i.State}, {i.LastError}, attempts {i.Attempts}"),
                Has.All.EndWith($": {OutboxState.Failed}, {OutboxDispatcher.CustomerOptedOut}, attempts 0"));

            // Nothing WeCom was asked to do names the opted-out customer; only directory reads (GET) may look them up.
            // A welcome names no customer id, only its code.
            Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/send_welcome_msg").Select(e => Field(e, "welcome_code")),
                Is.EqualTo(new[] { "WELCOME-CONTROL" }));
            var addressed = app.WeCom.LogEntries.Where(e => e.RequestMessage!.Method == "POST" && Mentions(e, OptedOut)).Select(e => e.RequestMessage!.Path);
            Assert.That(addressed, Is.Empty);
            var responses = app.WeCom.LogEntries.Select(e => e.RequestMessage!.Path).Where(p => p.StartsWith("/response/", StringComparison.Ordinal) && p.Contains("optedout", StringComparison.Ordinal));
            Assert.That(responses, Is.EqualTo(new[] { "/response/optout-optedout" }));
        });

        // Operators see each refusal and why, and the lottery entry the customer made.
        var explanation = await admin.GetFromJsonAsync<Explanation>($"/admin/customers/{OptedOut}/explain", Json);
        Assert.That(explanation!.Outbox.Count(i => i.State == OutboxState.Failed && i.LastError == OutboxDispatcher.CustomerOptedOut), Is.EqualTo(7));
        Assert.That(explanation.LotteryEntries.Select(e => e.Lottery), Is.EqualTo(new[] { "weekend-coffee" }));
    }

    [Test]
    public async Task A_group_welcome_whose_only_joiner_opted_out_is_not_posted()
    {
        using var app = NewApp(DateTimeOffset.UtcNow.AddDays(30));
        using var client = app.CreateClient();
        await OptOutAsync(app, client);

        await PostAsync(client, app.SignedPost(ChatAddMembers(Chat, OptedOut)));

        var store = app.Service<OutboxStore>();
        var greeting = await Eventually.UntilAsync(
            async () => (await store.ListByStateAsync(OutboxState.Sent, 100, CancellationToken.None)).FirstOrDefault(i => i.Kind == OutboxKinds.GroupWelcome),
            item => item is not null, _ => "the group welcome is not sent", Timeout);
        var tag = (await WaitForItemsAsync(app, OptedOut, all => all.Any(i => i.Kind == OutboxKinds.TagChange && i.State == OutboxState.Failed)))
            .Single(i => i.Kind == OutboxKinds.TagChange);

        Assert.Multiple(() =>
        {
            Assert.That(greeting!.RemoteIds, Is.EqualTo("no-op: every joiner opted out"));
            Assert.That(tag.LastError, Is.EqualTo(OutboxDispatcher.CustomerOptedOut));
            Assert.That(FakeWeCom.Calls(app.WeCom, "webhook/send"), Is.Empty);
            Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/mark_tag"), Is.Empty);
        });
    }

    private static BotApp NewApp(DateTimeOffset draws)
    {
        var app = new BotApp(
            editRules: path =>
            {
                FakeWeCom.RemoveWelcomeTimeWindow(path);
                Edit(Path.Combine(path, "community.yaml"), "batch: 60s", $"batch: 2s\n    robot_key: \"{GroupWelcomeKey}\"");
                Edit(Path.Combine(path, "campaigns.yaml"), "opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{DateTimeOffset.UtcNow.AddHours(-1):yyyy-MM-ddTHH:mm:ssK}\"");
                Edit(Path.Combine(path, "campaigns.yaml"), "draws: \"2026-11-28T20:00:00+08:00\"",
                    $"draws: \"{draws:yyyy-MM-ddTHH:mm:ssK}\"\n    robot_key: \"{LotteryKey}\"\n    tag_winners: [\"活动/中奖\"]");
            },
            settings: new Dictionary<string, string?> { ["Lottery:PollInterval"] = "00:00:01" });
        FakeWeCom.StubAll(app.WeCom, new Dictionary<string, (string, string[])>
        {
            [OptedOut] = (OptedOutName, ["生命周期/新客"]),
            [Control] = (ControlName, ["生命周期/新客"]),
        });
        // Every tag the paths use exists, so no add_corp_tag is needed (its stub answers one fixed tag only).
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_corp_tag_list").UsingPost()).AtPriority(-1)
            .RespondWith(Response.Create().WithBodyAsJson(new
            {
                errcode = 0,
                errmsg = "ok",
                tag_group = new[]
                {
                    TagGroup("etGroupSrc", "客户来源", (FakeWeCom.SourceTagId, "上海门店")),
                    TagGroup("etGroupLife", "生命周期", (FakeWeCom.NewCustomerTagId, "新客")),
                    TagGroup("etGroupInterest", "兴趣", ("etInterestCoffee", "咖啡")),
                    TagGroup("etGroupLevel", "客户等级", ("etLevelVip", "VIP群成员")),
                    TagGroup("etGroupActivity", "活动", (WinnerTagId, "中奖")),
                },
            }));
        return app;
    }

    private static object TagGroup(string id, string name, (string Id, string Name) tag) => new
    {
        group_id = id,
        group_name = name,
        create_time = 1,
        order = 0,
        deleted = false,
        tag = new[] { new { id = tag.Id, name = tag.Name, create_time = 1, order = 0, deleted = false } },
    };

    private static void Edit(string file, string from, string to)
    {
        var text = File.ReadAllText(file);
        Assert.That(text, Does.Contain(from), $"the example rules changed: {file}");
        File.WriteAllText(file, text.Replace(from, to, StringComparison.Ordinal));
    }

    private static async Task OptOutAsync(BotApp app, HttpClient client)
    {
        await PostAsync(client, app.SignedRobotPost(RobotText(null, OptedOut, "退订", ResponseUrl(app, "optout-optedout"))));
        var confirmation = (await FakeWeCom.WaitForAsync(app.WeCom, "/response/optout-optedout", timeout: Timeout)).Single();
        Assert.That(Markdown(confirmation), Does.Contain("已为您退订"));
    }

    private static async Task PostAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        using (var response = await client.SendAsync(request))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    private static Task<IReadOnlyList<OutboxItem>> WaitForItemsAsync(BotApp app, string customer, Func<IReadOnlyList<OutboxItem>, bool> done) =>
        Eventually.UntilAsync(
            () => app.Service<OutboxStore>().ListByCustomerAsync(customer, 100, CancellationToken.None), done,
            items => $"the outbox of {customer} is at: {string.Join(", ", items.Select(i => $"{i.Kind}={i.State}"))}", Timeout);

    private static string ResponseUrl(BotApp app, string name) => $"{app.WeCom.Url}/response/{name}";

    private static string RobotText(string? chatId, string from, string text, string responseUrl) => JsonSerializer.Serialize(new
    {
        msgid = Guid.NewGuid().ToString("N"),
        aibotid = "aibTEST",
        chatid = chatId,
        chattype = chatId is null ? "single" : "group",
        from = new { userid = from },
        response_url = responseUrl,
        msgtype = "text",
        text = new { content = text },
    }, new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull });

    private static string ChatCreated(string chatId) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chatId}]]></ChatId><ChangeType><![CDATA[create]]></ChangeType></xml>";

    private static string ChatAddMembers(string chatId, params string[] members) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chatId}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeCnt>{members.Length}</MemChangeCnt><MemChangeList>{string.Concat(members.Select(m => $"<Item>{m}</Item>"))}</MemChangeList></xml>";

    private static bool Mentions(ILogEntry entry, string customer) =>
        (entry.RequestMessage!.Body ?? "").Contains(customer, StringComparison.Ordinal)
        || entry.RequestMessage.Url.Contains(customer, StringComparison.Ordinal);

    private static string? RobotKey(ILogEntry entry) => entry.RequestMessage!.Query!.TryGetValue("key", out var key) ? key.Single() : null;

    private static string Markdown(ILogEntry entry) => FakeWeCom.Json(entry).GetProperty("markdown").GetProperty("content").GetString() ?? "";

    private static string Text(ILogEntry entry) => FakeWeCom.Json(entry).GetProperty("text").GetProperty("content").GetString() ?? "";

    /// <summary>A top-level string field, or the first element of an array field written as "name[0]".</summary>
    private static string? Field(ILogEntry entry, string name)
    {
        var json = FakeWeCom.Json(entry);
        var first = name.EndsWith("[0]", StringComparison.Ordinal);
        return json.TryGetProperty(first ? name[..^3] : name, out var value)
            ? (first ? value[0] : value).GetString()
            : null;
    }

    private sealed record Explanation(string ExternalUserId, IReadOnlyList<ExplainedItem> Outbox, IReadOnlyList<ExplainedEntry> LotteryEntries);

    private sealed record ExplainedItem(string Kind, OutboxState State, string? LastError);

    private sealed record ExplainedEntry(string Lottery);
}
