using Bot.Tests.EndToEnd;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bot.Core.Rules;
using Bot.Tests.Fixtures;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Admin;

/// <summary>
/// The status page as an operator's browser sees it: the real host on a loopback socket (Kestrel, not TestServer),
/// loaded by headless Chromium with the key in the query string, since a browser address bar cannot send a header.
/// </summary>
public sealed partial class StatusPageBrowserTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Test]
    public async Task The_status_page_shows_rules_inbox_outbox_and_lottery_in_a_real_browser()
    {
        using var app = new BotApp(editRules: AdminEndpointTests.OpenWeekendCoffeeNow);
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgSTATUS", fail_list = Array.Empty<string>() }));
        // The bot reads each group's owner (groupchat/get) before its task: WeCom gives it only to the owner.
        FakeWeCom.StubGroupOwners(app.WeCom);
        app.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        app.StartServer();
        var baseUrl = ListeningAddress(app);
        using var client = new HttpClient { BaseAddress = new Uri(baseUrl) };
        client.DefaultRequestHeaders.Add("X-Admin-Key", BotApp.AdminKey);
        await SeedAsync(app, client);

        var url = $"{baseUrl}/admin?key={Uri.EscapeDataString(BotApp.AdminKey)}";
        var dom = await HeadlessChromium.DumpDomAsync(url);

        Assert.That(Cell(dom, "rules-version"), Is.EqualTo(app.Service<RuleSetProvider>().Status.Version).And.Not.Empty);
        Assert.That(Cell(dom, "rules-last-error"), Is.EqualTo("none"));
        Assert.That(Cell(dom, "inbox-handled"), Is.EqualTo("1"));
        Assert.That(Cell(dom, "inbox-parked"), Is.EqualTo("0"));
        Assert.That(Rows(dom, "outbox"), Does.Contain(new[] { "Bulk", "Sent", "1" }), "the bulk lane shows the broadcast item sent");
        var lottery = Rows(dom, "lotteries").Single(r => r[0] == "weekend-coffee");
        Assert.That(lottery[1], Does.Match("^[0-9a-f]{64}$"), "the commitment is published");
        Assert.That(lottery[2], Is.EqualTo("1"), "entries");
        Assert.That(lottery[3], Is.EqualTo("not drawn yet"));

        var screenshot = Path.Combine(app.Directory, "status.png");
        await HeadlessChromium.ScreenshotAsync(url, screenshot);

        Assert.That(File.Exists(screenshot), Is.True, "chromium wrote the screenshot");
        var png = await File.ReadAllBytesAsync(screenshot);
        Assert.That(png.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }));
        // A blank 1200×900 page compresses to a few hundred bytes; tables and text make it far larger.
        Assert.That(png, Has.Length.GreaterThan(10_000));
        TestContext.AddTestAttachment(screenshot, "The /admin status page as headless Chromium renders it");
    }

    [Test]
    public async Task The_status_page_refuses_a_browser_without_the_key()
    {
        using var app = new BotApp();
        app.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        app.StartServer();
        var baseUrl = ListeningAddress(app);

        var dom = await HeadlessChromium.DumpDomAsync($"{baseUrl}/admin");

        Assert.That(dom, Does.Contain("A valid admin API key is required").And.Not.Contain("rules-version"));
    }

    private static string ListeningAddress(BotApp app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

    /// <summary>One handled callback, one sent broadcast item, one lottery entry: something in every section.</summary>
    private static async Task SeedAsync(BotApp app, HttpClient client)
    {
        Assert.That((await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmStatus01", "CODE-STATUS")))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var broadcast = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "status-page", text = "hello", targetKind = 0, sender = "guide01", targets = new[] { "wrChatStatus" },
        });
        Assert.That(broadcast.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var entry = await client.PostAsJsonAsync("/admin/lotteries/weekend-coffee/entries", new { externalUserId = "wmStatus01", tags = new[] { "生命周期/新客" } });
        Assert.That(await entry.Content.ReadAsStringAsync(), Does.Contain("Entered"));

        // The inbox and outbox workers get there in their own time.
        await Eventually.UntilAsync(
            async () => JsonDocument.Parse(await client.GetStringAsync("/admin/status")).RootElement.Clone(),
            status => status.GetProperty("inbox").GetProperty("handled").GetInt64() == 1
                && status.GetProperty("outbox").EnumerateArray()
                    .Any(d => d.GetProperty("lane").GetInt32() == 3 && d.GetProperty("state").GetInt32() == 2 && d.GetProperty("count").GetInt64() == 1),
            status => $"the callback is not handled or the broadcast not sent: {status}",
            Deadline);
    }

    private static string Cell(string dom, string id)
    {
        var match = Regex.Match(dom, $"""id="{Regex.Escape(id)}"[^>]*>(.*?)</td>""", RegexOptions.Singleline);
        Assert.That(match.Success, Is.True, $"the page has an element #{id}");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    private static List<string[]> Rows(string dom, string tableId)
    {
        var table = Regex.Match(dom, $"""<table id="{Regex.Escape(tableId)}">(.*?)</table>""", RegexOptions.Singleline);
        Assert.That(table.Success, Is.True, $"the page has a table #{tableId}");
        return RowPattern().Matches(table.Groups[1].Value)
            .Select(row => CellPattern().Matches(row.Groups[1].Value).Select(c => WebUtility.HtmlDecode(Regex.Replace(c.Groups[1].Value, "<[^>]+>", ""))).ToArray())
            .Where(cells => cells.Length > 0)
            .ToList();
    }

    [GeneratedRegex("<tr>(.*?)</tr>", RegexOptions.Singleline)]
    private static partial Regex RowPattern();

    [GeneratedRegex("<td>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex CellPattern();
}
