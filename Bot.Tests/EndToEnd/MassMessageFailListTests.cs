using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Outbox;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// add_msg_template as WeCom really answers it, through the real host and HTTP: errcode 0 with the refused targets in
/// fail_list (issue 14, defects 1 and 3). The WireMock WeCom refuses unknown external ids and chat ids whose owner is
/// not the task's sender (<see cref="FakeWeCom.StubMassMessageTasks"/>).
/// </summary>
public sealed class MassMessageFailListTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Test]
    public async Task A_customer_WeCom_lists_in_fail_list_is_failed_with_its_reason_and_its_receiving_allowance_is_given_back()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        const string unknown = FakeWeCom.UnknownCustomerPrefix + "0001";

        var id = await BroadcastAsync(app, BroadcastTargetKind.Customers, "guide01", "wmKNOWN0001", unknown);
        var recipients = await WaitForRecipientsAsync(app, id, 2);

        // One task carries both; WeCom takes one and lists the other in fail_list.
        var refused = recipients.Single(r => r.Recipient == unknown);
        var task = (await app.Service<OutboxStore>().ListByStateAsync(OutboxState.Sent, 10, CancellationToken.None)).Single(i => i.BroadcastId == id);
        var preflight = await PreflightAsync(app, BroadcastTargetKind.Customers, "guide01", unknown, "wmKNOWN0001");
        Assert.Multiple(() =>
        {
            Assert.That(recipients.Single(r => r.Recipient == "wmKNOWN0001").State, Is.EqualTo(OutboxRecipientStates.Sent));
            Assert.That(refused.State, Is.EqualTo(OutboxRecipientStates.Failed), "WeCom refused it: it was not sent");
            Assert.That(refused.Error, Does.Contain("无效或无法发送的 external_userid 或 chatid").And.Contain(unknown));
            Assert.That(task.RemoteIds, Is.Not.Null, "the task WeCom created carries the customer it took");
            Assert.That(preflight[unknown], Is.EqualTo("Allowed"), "the refused customer's receiving-rule allowance was given back");
            Assert.That(preflight["wmKNOWN0001"], Is.EqualTo("Skipped"), "the delivered customer's allowance stays spent (1 per day)");
        });
    }

    /// <summary>The broadcast's recipients once <paramref name="count"/> of them are settled (sent or failed).</summary>
    internal static Task<IReadOnlyList<OutboxRecipient>> WaitForRecipientsAsync(BotApp app, long broadcastId, int count) =>
        Eventually.UntilAsync(
            () => app.Service<OutboxStore>().ListRecipientsAsync(broadcastId, CancellationToken.None),
            rs => rs.Count(r => r.State is OutboxRecipientStates.Sent or OutboxRecipientStates.Failed) >= count,
            rs => $"broadcast {broadcastId} recipients: {string.Join(", ", rs.Select(r => $"{r.Recipient}={r.State}"))}", Timeout);

    [Test]
    public async Task A_group_broadcast_goes_to_each_group_as_its_owner_whoever_the_operator_named()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);

        // groupchat/get (the fake) says guide01 owns every group; a task as guide02 would be refused in fail_list.
        var id = await BroadcastAsync(app, BroadcastTargetKind.Groups, "guide02", "wrOWNED0001");
        var items = await WaitForSettledAsync(app, id, 1);

        var call = (await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/add_msg_template")).Single();
        Assert.Multiple(() =>
        {
            Assert.That(FakeWeCom.Json(call).GetProperty("sender").GetString(), Is.EqualTo(FakeWeCom.DefaultGroupOwner));
            Assert.That(items.Single().State, Is.EqualTo(OutboxState.Sent));
            Assert.That(items.Single().LastError, Is.Null);
        });
    }

    [Test]
    public async Task A_group_task_WeCom_refuses_in_fail_list_is_failed_not_sent()
    {
        using var app = new BotApp();
        // The owner changed after the group was cached: WeCom refuses the stored owner's task for it.
        FakeWeCom.StubAll(app.WeCom);
        FakeWeCom.StubMassMessageTasks(app.WeCom, new Dictionary<string, string> { ["wrMOVED0001"] = "guide09" }, priority: 10);

        var id = await BroadcastAsync(app, BroadcastTargetKind.Groups, "guide01", "wrMOVED0001");
        var item = (await WaitForSettledAsync(app, id, 1)).Single();

        Assert.Multiple(() =>
        {
            Assert.That(item.State, Is.EqualTo(OutboxState.Failed));
            Assert.That(item.LastError, Does.Contain("wrMOVED0001").And.Contain("fail_list"));
        });
    }

    // A regression guard, not a defect test: without a sender the rule already fell back to the owner; the defect was a
    // rule naming another sender, which rules check now refuses (GroupTaskSenderRuleTests).
    [Test]
    public async Task A_group_welcome_by_mass_message_is_a_task_of_the_groups_owner()
    {
        using var app = new BotApp(editRules: rules =>
        {
            var file = Path.Combine(rules, "community.yaml");
            File.WriteAllText(file, File.ReadAllText(file).Replace("    batch: 60s", "    channel: mass_message", StringComparison.Ordinal));
        });
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var joined = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrVipJingan]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>wmJOINER0001</Item></MemChangeList></xml>";

        Assert.That((await client.SendAsync(app.SignedPost(joined))).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var call = (await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/add_msg_template", timeout: Timeout)).Single();
        var body = FakeWeCom.Json(call);
        Assert.Multiple(() =>
        {
            Assert.That(body.GetProperty("chat_type").GetString(), Is.EqualTo("group"));
            Assert.That(body.GetProperty("sender").GetString(), Is.EqualTo(FakeWeCom.DefaultGroupOwner), "groupchat/get names the owner");
        });
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome' AND state = 'sent'", n => n == 1, Timeout);
    }

    internal static async Task<long> BroadcastAsync(BotApp app, BroadcastTargetKind kind, string? sender, params string[] targets)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "fail-list", text = "冬季新品上市", targetKind = (int)kind, sender, targets,
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<BroadcastSummary>())!.Id;
    }

    private static async Task<Dictionary<string, string>> PreflightAsync(BotApp app, BroadcastTargetKind kind, string sender, params string[] targets)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PostAsJsonAsync("/admin/broadcasts/preflight", new
        {
            name = "again", text = "再发一次", targetKind = (int)kind, sender, targets,
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var report = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return report.RootElement.GetProperty("targets").EnumerateArray()
            .ToDictionary(t => t.GetProperty("target").GetString()!, t => t.GetProperty("status").GetString()!);
    }

    /// <summary>The broadcast's items once <paramref name="count"/> of them are settled (sent or failed).</summary>
    internal static async Task<IReadOnlyList<OutboxItem>> WaitForSettledAsync(BotApp app, long broadcastId, int count)
    {
        var store = app.Service<OutboxStore>();
        return await Eventually.UntilAsync(
            async () => (IReadOnlyList<OutboxItem>)(await store.ListByStateAsync(OutboxState.Sent, 1000, CancellationToken.None))
                .Concat(await store.ListByStateAsync(OutboxState.Failed, 1000, CancellationToken.None))
                .Where(i => i.BroadcastId == broadcastId).ToList(),
            items => items.Count >= count,
            items => $"broadcast {broadcastId} is at: {string.Join(", ", items.Select(i => $"{i.Target}={i.State}"))}", Timeout);
    }
}
