using Bot.Core.Contacts;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Contacts;

/// <summary>The ledger as the running host fills it: callbacks in over signed HTTP, mark_tag out to the WireMock WeCom.</summary>
[TestFixture]
public sealed class CustomerLedgerHostTests
{
    [Test]
    public async Task An_add_callback_records_the_follow_and_the_rule_tags_are_recorded_once_mark_tag_answers_ok()
    {
        using var app = new BotApp(editRules: path => FakeWeCom.RemoveWelcomeTimeWindow(path));
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();

        await AutomationFlowTests.PostOkAsync(client, app.SignedPost(BotApp.ContactAdded("wmLedgerA", "WELCOME-LEDGER", state: "store-sh-001", guide: "guide01")));

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM customer_follows WHERE external_user_id = 'wmLedgerA' AND user_id = 'guide01' AND removed_at IS NULL", n => n == 1);
        await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/mark_tag");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM customer_tags WHERE external_user_id = 'wmLedgerA' AND tag = '生命周期/新客'", n => n == 1);

        var ledger = app.Service<CustomerLedger>();
        var guides = await ledger.GuidesAsync(["wmLedgerA"], CancellationToken.None);
        var tagged = await ledger.FindCustomersAsync(["生命周期/新客"], CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(guides["wmLedgerA"], Is.EqualTo("guide01"));
            Assert.That(tagged, Is.EqualTo(new[] { "wmLedgerA" }));
        });
    }

    [Test]
    public async Task A_del_follow_user_callback_ends_the_follow()
    {
        using var app = new BotApp(editRules: path => FakeWeCom.RemoveWelcomeTimeWindow(path));
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var added = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        await AutomationFlowTests.PostOkAsync(client, app.SignedPost(BotApp.ContactAdded("wmLedgerB", "WELCOME-LEDGER-B", guide: "guide01", createTime: added)));
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM customer_follows WHERE external_user_id = 'wmLedgerB' AND removed_at IS NULL", n => n == 1);
        await AutomationFlowTests.PostOkAsync(client, app.SignedPost(Deleted("del_follow_user", "wmLedgerB", "guide01", added + 1)));

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM customer_follows WHERE external_user_id = 'wmLedgerB' AND removed_at IS NOT NULL", n => n == 1);
        Assert.That(await app.Service<CustomerLedger>().GuidesAsync(["wmLedgerB"], CancellationToken.None), Is.Empty);
    }

    private static string Deleted(string changeType, string externalUserId, string guide, long createTime) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{changeType}]]></ChangeType><UserID><![CDATA[{guide}]]></UserID><ExternalUserID><![CDATA[{externalUserId}]]></ExternalUserID></xml>";
}
