using System.Net;
using System.Text.Json;
using Bot.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// Robot replies through a response_url over real HTTP: WeCom answers {errcode, errmsg} with HTTP 200 also when the
/// URL was already used or is past its hour, so the errcode decides whether the reply was delivered.
/// </summary>
[TestFixture]
public sealed class ResponseUrlReplyTests
{
    private const string Question = "@bot 营业时间是几点";

    private static string RobotText(string responseUrl) => JsonSerializer.Serialize(new
    {
        msgid = Guid.NewGuid().ToString("N"),
        aibotid = "aibTEST",
        chatid = "wrSomeGroup",
        chattype = "group",
        from = new { userid = "wmAsker" },
        response_url = responseUrl,
        msgtype = "text",
        text = new { content = Question },
    });

    private static async Task<(string State, long? ErrCode, string? Error)> ReplyOutcomeAsync(BotApp app)
    {
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'reply' AND completed_at IS NOT NULL", n => n == 1);
        await using var connection = new SqliteConnection($"Data Source={app.DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT state, last_errcode, last_error FROM outbox WHERE kind = 'reply'";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.That(await reader.ReadAsync(), Is.True);
        return (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
    }

    [Test]
    public async Task A_fresh_response_url_takes_the_reply_and_it_is_recorded_sent()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var url = FakeResponseUrls.Url(app.WeCom, "fresh");

        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(RobotText(url)));
        await FakeWeCom.WaitForAsync(app.WeCom, "/response/fresh");

        Assert.That((await ReplyOutcomeAsync(app)).State, Is.EqualTo("sent"));
    }

    [Test]
    public async Task A_reply_to_an_already_used_response_url_is_failed_with_the_reason_and_not_retried()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var url = FakeResponseUrls.Url(app.WeCom, "used");
        // Someone answered at this URL already (say an instance that replied and crashed before recording it).
        using (var first = await new HttpClient().PostAsync(new Uri(url), new StringContent("{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"x\"}}")))
        {
            Assert.That(await first.Content.ReadAsStringAsync(), Does.Contain("\"errcode\":0"));
        }

        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(RobotText(url)));
        var (state, errCode, error) = await ReplyOutcomeAsync(app);

        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo("failed"));
            Assert.That(errCode, Is.EqualTo(FakeResponseUrls.SpentErrCode));
            Assert.That(error, Does.Contain("response_url used or expired"));
            // The bot's one POST plus the earlier one: a spent URL is not tried again.
            Assert.That(FakeWeCom.Calls(app.WeCom, "/response/used"), Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task A_reply_to_a_response_url_past_its_hour_is_failed_with_the_reason()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        // WeCom issued it over an hour ago (the callback reached us late); by our clock it just arrived.
        var url = FakeResponseUrls.Url(app.WeCom, "expired", DateTimeOffset.UtcNow.AddMinutes(-61));

        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(RobotText(url)));
        var (state, errCode, error) = await ReplyOutcomeAsync(app);

        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo("failed"));
            Assert.That(errCode, Is.EqualTo(FakeResponseUrls.SpentErrCode));
            Assert.That(error, Does.Contain("response_url used or expired").And.Contain("expired"));
            Assert.That(FakeWeCom.Calls(app.WeCom, "/response/expired"), Has.Count.EqualTo(1));
        });
    }
}
