using Bot.Tests.EndToEnd;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Bot.Core.RateLimiting;
using Bot.Tests.Fixtures;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Admin;

/// <summary>The operator counters on the status page, read as HTML over the in-memory transport.</summary>
public sealed class StatusPageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Test]
    public async Task The_status_page_counts_welcomes_sent_within_the_deadline_and_sends_held_back_by_a_quota()
    {
        using var app = new BotApp();
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgQUOTA", fail_list = Array.Empty<string>() }));
        // The bot reads each group's owner (groupchat/get) before its task: WeCom gives it only to the owner.
        FakeWeCom.StubGroupOwners(app.WeCom);
        using var client = app.CreateAdminClient();

        Assert.That((await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmWelcome01", "CODE-WELCOME")))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        // A group receives one mass message per day: the second broadcast to the same group has to wait.
        foreach (var name in new[] { "first", "second" })
        {
            var created = await client.PostAsJsonAsync("/admin/broadcasts", new
            {
                name, text = name, targetKind = 0, sender = "guide01", targets = new[] { "wrChatQuota" },
            });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        var page = await Eventually.UntilAsync(
            () => client.GetStringAsync("/admin"),
            page => Cell(page, "welcomes-within-deadline") == "1" && page.Contains($"<td>{QuotaRules.GroupMassReceiving}</td><td>1</td>", StringComparison.Ordinal),
            page => $"the page does not show the welcome and the quota wait:\n{page}",
            Deadline);

        Assert.That(page, Does.Contain("<tr><th>sent</th><td>1</td></tr>"));
        Assert.That(app.WeCom.LogEntries.Count(e => e.RequestMessage?.Path == "/cgi-bin/externalcontact/add_msg_template"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_lottery_drawn_with_no_entries_shows_as_drawn_with_no_winners_and_an_open_one_as_not_drawn_yet()
    {
        using var app = new BotApp(editRules: path =>
        {
            // The sample lottery opened two hours ago and drew an hour ago, while nobody entered; a second one is open.
            var file = Path.Combine(path, "campaigns.yaml");
            var yaml = File.ReadAllText(file);
            var open = yaml[yaml.IndexOf("  - name: weekend-coffee", StringComparison.Ordinal)..yaml.IndexOf("\nseeding:", StringComparison.Ordinal)]
                .Replace("name: weekend-coffee", "name: weekday-tea", StringComparison.Ordinal)
                .Replace("keyword: \"抽奖\"", "keyword: \"喝茶\"", StringComparison.Ordinal)
                .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{At(TimeSpan.FromDays(1))}\"", StringComparison.Ordinal);
            yaml = yaml.Replace("\nseeding:", open + "\nseeding:", StringComparison.Ordinal)
                .Replace("opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{At(TimeSpan.FromHours(-2))}\"", StringComparison.Ordinal)
                .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{At(TimeSpan.FromHours(-1))}\"", StringComparison.Ordinal);
            Assert.That(yaml, Does.Not.Contain("2026-11-28T"), "the lotteries' times were found and replaced");
            File.WriteAllText(file, yaml);
        });
        using var client = app.CreateAdminClient();

        await Bot.Tests.EndToEnd.FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM lottery WHERE name = 'weekend-coffee' AND state = 'drawn'", n => n == 1);
        var page = await client.GetStringAsync("/admin");

        var rows = Regex.Matches(page, "<tr><td>([^<]*)</td><td><code>[^<]*</code></td><td>(\\d+)</td><td>([^<]*)</td></tr>")
            .ToDictionary(m => m.Groups[1].Value, m => (Entries: m.Groups[2].Value, Winners: m.Groups[3].Value));
        Assert.That(rows.Keys, Is.EquivalentTo(new[] { "weekend-coffee", "weekday-tea" }), page);
        Assert.That(rows["weekend-coffee"], Is.EqualTo((Entries: "0", Winners: "drawn, no winners")));
        Assert.That(rows["weekday-tea"], Is.EqualTo((Entries: "0", Winners: "not drawn yet")));
    }

    private static string At(TimeSpan fromNow) =>
        DateTimeOffset.UtcNow.Add(fromNow).ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-dd'T'HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture);

    private static string? Cell(string page, string id)
    {
        var match = Regex.Match(page, $"""id="{Regex.Escape(id)}">([^<]*)<""");
        return match.Success ? match.Groups[1].Value : null;
    }
}
