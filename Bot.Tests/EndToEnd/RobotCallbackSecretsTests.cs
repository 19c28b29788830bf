using System.Net;
using Bot.Core.Inbox;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// A tenant may give the intelligent robot its own Token and EncodingAESKey. Then robot callbacks are opened with
/// those, and a robot callback sealed with the app's secrets is refused, through the real host.
/// </summary>
public sealed class RobotCallbackSecretsTests
{
    private const string RobotToken = "robottoken";
    private const string RobotKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    [Test]
    public async Task A_robot_with_its_own_secrets_is_verified_with_them_and_not_with_the_apps()
    {
        using var app = new BotApp(settings: new Dictionary<string, string?>
        {
            ["WeCom:RobotToken"] = RobotToken,
            ["WeCom:RobotEncodingAesKey"] = RobotKey,
        });
        using var client = app.CreateClient();

        using var own = await client.SendAsync(app.SignedRobotPost(Message("robot-own-1")));
        var appSealed = new CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, "");
        using var foreign = await client.SendAsync(Sealed(appSealed, Message("robot-app-1")));

        Assert.Multiple(async () =>
        {
            Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            var stats = await app.Service<InboxStore>().GetStatsAsync(CancellationToken.None);
            Assert.That(stats.Pending + stats.Handled + stats.Parked, Is.EqualTo(1), "only the robot-sealed callback is stored");
        });
        // And the app's own callbacks still use the app's secrets.
        using var appCallback = await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmROBOTSECRETS1", "code-robot-secrets")));
        Assert.That(appCallback.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public void Half_a_robot_secret_pair_is_refused_at_start_up()
    {
        var options = new WeComOptions
        {
            CorpId = BotApp.CorpId, AgentId = "1", Secret = "s", Token = BotApp.Token, EncodingAesKey = BotApp.EncodingAesKey,
            RobotToken = RobotToken,
        };

        var result = new WeComOptionsValidator().Validate(null, options);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.FailureMessage, Does.Contain("must be set together"));
    }

    private static string Message(string id) =>
        System.Text.Json.JsonSerializer.Serialize(new
        {
            msgid = id, aibotid = "bot01", chattype = "single", from = new { userid = "zhangsan" },
            response_url = "http://127.0.0.1:9/r", msgtype = "text", text = new { content = "你好" },
        });

    private static HttpRequestMessage Sealed(CallbackCrypto crypto, string json)
    {
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var encrypt = crypto.Encrypt(json);
        var signature = crypto.Sign(timestamp, "424242", encrypt);
        return new HttpRequestMessage(HttpMethod.Post, $"/wecom/bot/callback?msg_signature={signature}&timestamp={timestamp}&nonce=424242")
        {
            Content = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { encrypt }), System.Text.Encoding.UTF8, "application/json"),
        };
    }
}
