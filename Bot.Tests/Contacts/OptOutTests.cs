using Bot.Core.Campaigns.MassMessages;
using Bot.Tests.EndToEnd;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Tests.Fixtures;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Contacts;

public sealed class OptOutTests
{
    internal const string Customer = "wmOPTOUT0001";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Test]
    public async Task An_opted_out_customer_gets_the_confirmation_and_then_no_reply_or_tag_until_opting_back_in()
    {
        using var app = new BotApp();
        app.WeCom.Given(Request.Create().WithPath("/robot/response/*").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        using var client = app.CreateClient();

        await PostAsync(app, client, "退订", 1);
        var optOutConfirmation = await WaitForResponseAsync(app, "/robot/response/1");
        Assert.That(optOutConfirmation, Does.Contain("已为您退订"));

        // A keyword reply (opening-hours) and a keyword tag (coffee-interest): both planned, neither sent.
        await PostAsync(app, client, "请问营业时间", 2);
        await PostAsync(app, client, "有拿铁吗", 3);
        var refused = await WaitForItemsAsync(app, items => items.Count(i => i.State == OutboxState.Failed) == 2);

        Assert.Multiple(() =>
        {
            Assert.That(refused.Where(i => i.State == OutboxState.Failed).Select(i => i.Kind),
                Is.EquivalentTo(new[] { OutboxKinds.Reply, OutboxKinds.TagChange }));
            Assert.That(refused.Where(i => i.State == OutboxState.Failed).Select(i => i.LastError),
                Is.All.EqualTo(OutboxDispatcher.CustomerOptedOut));
            Assert.That(refused.Single(i => i.Kind == OutboxKinds.PreferenceReply).State, Is.EqualTo(OutboxState.Sent));
        });

        // Opting back in restores replies; it also proves the refused reply was not merely slow.
        await PostAsync(app, client, "订阅", 4);
        Assert.That(await WaitForResponseAsync(app, "/robot/response/4"), Does.Contain("已为您恢复订阅"));
        await PostAsync(app, client, "请问营业时间", 5);
        Assert.That(await WaitForResponseAsync(app, "/robot/response/5"), Does.Contain("营业时间为每天"));

        Assert.Multiple(() =>
        {
            var paths = app.WeCom.LogEntries.Select(e => e.RequestMessage?.Path ?? "").ToList();
            Assert.That(paths, Does.Not.Contain("/robot/response/2").And.Not.Contain("/robot/response/3"));
            Assert.That(paths.Where(p => p.Contains("mark_tag", StringComparison.Ordinal)), Is.Empty);
        });
    }

    [Test]
    public async Task A_broadcast_to_customers_skips_the_opted_out_one_visibly_and_reaches_the_others()
    {
        using var app = new BotApp();
        app.WeCom.Given(Request.Create().WithPath("/robot/response/*").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgBROADCAST", fail_list = Array.Empty<string>() }));
        using var client = app.CreateClient();
        await PostAsync(app, client, "退订", 1);
        await WaitForResponseAsync(app, "/robot/response/1");

        using var admin = app.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "winter-menu",
            text = "冬季新品上市",
            targetKind = 1, // Customers
            sender = "guide01",
            targets = new[] { Customer, "wmSTILLIN0001" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var id = (await created.Content.ReadFromJsonAsync<BroadcastSummary>())!.Id;

        // One task carries both; the opted-out customer is refused on their own and the other still receives it.
        var recipients = await Eventually.UntilAsync(
            () => app.Service<OutboxStore>().ListRecipientsAsync(id, CancellationToken.None),
            rs => rs.Any(r => r.State == OutboxRecipientStates.Failed) && rs.Any(r => r.State == OutboxRecipientStates.Sent),
            rs => $"recipients: {string.Join(", ", rs.Select(r => $"{r.Recipient}={r.State}"))}", Timeout);
        Assert.That(recipients.Single(r => r.Recipient == Customer).Error, Is.EqualTo(OutboxDispatcher.CustomerOptedOut));
        var sent = await FakeWeComCalls(app, "/cgi-bin/externalcontact/add_msg_template");
        Assert.That(sent, Has.Count.EqualTo(1));
        Assert.That(sent[0], Does.Contain("wmSTILLIN0001").And.Not.Contain(Customer));
    }

    private static async Task<IReadOnlyList<string>> FakeWeComCalls(BotApp app, string path) =>
        (await FakeWeCom.WaitForAsync(app.WeCom, path, timeout: Timeout)).Select(e => e.RequestMessage!.Body ?? "").ToList();

    [Test]
    public async Task A_replayed_old_opt_out_does_not_undo_a_newer_opt_in()
    {
        using var app = new BotApp();
        _ = app.Services; // starts the host, which applies the migrations
        var store = app.Service<ContactPreferenceStore>();
        var at = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

        await store.SetOptedOutAsync(Customer, optedOut: true, at, callbackId: 1, CancellationToken.None);
        await store.SetOptedOutAsync(Customer, optedOut: false, at.AddMinutes(5), callbackId: 2, CancellationToken.None);
        await store.SetOptedOutAsync(Customer, optedOut: true, at, callbackId: 1, CancellationToken.None);

        Assert.That(await store.IsOptedOutAsync(Customer, CancellationToken.None), Is.False);
    }

    internal static async Task PostAsync(BotApp app, HttpClient client, string text, int n)
    {
        var json = JsonSerializer.Serialize(new
        {
            msgid = $"optout-msg-{n}",
            aibotid = "bot01",
            chattype = "single",
            from = new { userid = Customer },
            response_url = $"{app.WeCom.Url}/robot/response/{n}",
            msgtype = "text",
            text = new { content = text },
        });
        using var response = await client.SendAsync(app.SignedRobotPost(json));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    internal static async Task<string> WaitForResponseAsync(BotApp app, string path)
    {
        var body = (await FakeWeCom.WaitForAsync(app.WeCom, path, timeout: Timeout))[0].RequestMessage!.Body!;
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("markdown").GetProperty("content").GetString() ?? "";
    }

    internal static Task<IReadOnlyList<OutboxItem>> WaitForItemsAsync(BotApp app, Func<IReadOnlyList<OutboxItem>, bool> done) =>
        Eventually.UntilAsync(
            () => app.Service<OutboxStore>().ListByCustomerAsync(Customer, 100, CancellationToken.None), done,
            items => $"the outbox is at: {string.Join(", ", items.Select(i => $"{i.Kind}={i.State}"))}", Timeout);
}
