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

        var page = "";
        var deadline = DateTime.UtcNow + Deadline;
        while (!(Cell(page, "welcomes-within-deadline") == "1" && page.Contains($"<td>{QuotaRules.GroupMassReceiving}</td><td>1</td>", StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"the page did not show the welcome and the quota wait within {Deadline.TotalSeconds} s:\n{page}");
            }
            await Task.Delay(50);
            page = await client.GetStringAsync("/admin");
        }

        Assert.That(page, Does.Contain("<tr><th>sent</th><td>1</td></tr>"));
        Assert.That(app.WeCom.LogEntries.Count(e => e.RequestMessage?.Path == "/cgi-bin/externalcontact/add_msg_template"), Is.EqualTo(1));
    }

    private static string? Cell(string page, string id)
    {
        var match = Regex.Match(page, $"""id="{Regex.Escape(id)}">([^<]*)<""");
        return match.Success ? match.Groups[1].Value : null;
    }
}
