using System.Net;
using System.Net.Http.Json;
using Bot.Core.Campaigns.MassMessages;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging;

namespace Bot.Tests.Outbox;

/// <summary>
/// Issue 14 (reconciliation): an add_msg_template call that ended in doubt (-1, which WeCom may answer after
/// applying it) was recorded Unknown and left there. It is reconciled through get_groupmsg_list_v2: a task WeCom did
/// create makes the item Sent with that msgid (and tracked), none within the window makes it Failed with its
/// allowances given back. Real host, real HTTP, the WireMock WeCom.
/// </summary>
public sealed class MassMessageReconcileTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["MassMessages:PollInterval"] = "00:00:01",
        ["MassMessages:ReconcileWindow"] = "00:00:02",
    };

    private static async Task<long> BroadcastAsync(BotApp app, string name, string text, params string[] groups)
    {
        using var client = app.CreateAdminClient();
        var created = await client.PostAsJsonAsync("/admin/broadcasts", new { name, text, targetKind = 0, sender = "guide01", targets = groups });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        return (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetInt64();
    }

    [Test]
    public async Task A_task_WeCom_created_before_answering_minus_one_is_found_and_recorded_sent_with_its_msgid()
    {
        using var app = new BotApp(settings: Settings);
        var weCom = FakeMassMessages.Install(app.WeCom);
        // A group task goes as the group's owner, which the bot reads first (guide01 here, the broadcast's sender).
        FakeWeCom.StubGroupOwners(app.WeCom);
        // The first call is applied and answered; the second is applied and answered -1.
        weCom.Then(FakeMassMessages.Answer.Applied, FakeMassMessages.Answer.BusyAfterApplying);

        // Two broadcasts of the same text: their two tasks look alike, and each item must get its own.
        var id = await BroadcastAsync(app, "winter-menu", "冬季新品上市", "wrReconA");
        var second = await BroadcastAsync(app, "winter-menu", "冬季新品上市", "wrReconB");

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            $"SELECT COUNT(*) FROM outbox WHERE broadcast_id IN ({id}, {second}) AND state = 'sent'", n => n == 2);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            $"SELECT COUNT(*) FROM mass_message_tasks t JOIN outbox o ON o.id = t.outbox_id WHERE o.broadcast_id IN ({id}, {second})", n => n == 2);
        Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/add_msg_template"), Has.Count.EqualTo(2), "the call in doubt was not resent");
        Assert.That(weCom.Created, Is.EqualTo(new[] { "msgFake1", "msgFake2" }), "no duplicate task");
        Assert.That(await FakeWeCom.ScalarAsync(app.DatabasePath,
            $"SELECT COUNT(DISTINCT remote_ids) FROM outbox WHERE broadcast_id IN ({id}, {second}) AND remote_ids IN ('msgFake1', 'msgFake2')"), Is.EqualTo(2),
            "each item has its own task: the one in doubt got the task the other item does not already own");
        var query = FakeWeCom.Json(FakeWeCom.Calls(app.WeCom, "externalcontact/get_groupmsg_list_v2")[0]);
        Assert.That(query.GetProperty("chat_type").GetString(), Is.EqualTo("group"));
        Assert.That(query.TryGetProperty("creator", out _), Is.False, "API-created tasks carry no creator");
    }

    [Test]
    public async Task A_call_WeCom_never_applied_is_recorded_failed_after_the_window_and_its_allowances_given_back()
    {
        using var app = new BotApp(settings: Settings);
        var weCom = FakeMassMessages.Install(app.WeCom);
        // A group task goes as the group's owner, which the bot reads first (guide01 here, the broadcast's sender).
        FakeWeCom.StubGroupOwners(app.WeCom);
        weCom.Then(FakeMassMessages.Answer.BusyWithoutApplying);

        var id = await BroadcastAsync(app, "winter-lost", "冬季限定", "wrReconLost");

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            $"SELECT COUNT(*) FROM outbox WHERE broadcast_id = {id} AND state = 'failed' AND last_error LIKE 'not created%'", n => n == 1);
        Assert.That(weCom.Created, Is.Empty);
        Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/add_msg_template"), Has.Count.EqualTo(1));
        await Eventually.UntilAsync(
            () => Task.FromResult(app.Logs.GetSnapshot().Count(r => r.Category == typeof(MassMessageReconciler).FullName && r.Level == LogLevel.Information
                && r.Message.Contains("allowances it reserved are given back", StringComparison.Ordinal))),
            n => n == 1, n => $"{n} refund records");
    }
}
