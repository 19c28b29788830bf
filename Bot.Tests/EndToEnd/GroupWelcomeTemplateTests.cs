using Bot.Tests.Fixtures;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.EndToEnd;

public sealed class GroupWelcomeTemplateTests
{
    [Test]
    public async Task A_welcome_template_rule_creates_wecoms_group_welcome_material_once()
    {
        using var app = new BotApp(editRules: rules =>
        {
            var file = Path.Combine(rules, "community.yaml");
            File.WriteAllText(file, File.ReadAllText(file).Replace("    batch: 60s", "    channel: welcome_template", StringComparison.Ordinal));
        });
        FakeWeCom.StubAll(app.WeCom);
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/group_welcome_template/add").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", template_id = "msgTEMPLATE1" }));

        using var client = app.CreateClient(); // starts the host: the rules load and sync
        var calls = await FakeWeCom.WaitForAsync(app.WeCom, "/cgi-bin/externalcontact/group_welcome_template/add");

        var text = FakeWeCom.Json(calls[0]).GetProperty("text").GetProperty("content").GetString();
        Assert.That(text, Does.StartWith("欢迎 %NICKNAME% 加入"), "WeCom fills in each joiner's name");
        // A marker: the outbox records the template id, and no second creation was queued for the same text.
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome_template' AND state = 'sent'", n => n == 1);
        Assert.That(await FakeWeCom.ScalarAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'group_welcome_template'"), Is.EqualTo(1));
        Assert.That(FakeWeCom.Calls(app.WeCom, "/cgi-bin/externalcontact/group_welcome_template/add"), Has.Count.EqualTo(1));
    }
}
