using System.Diagnostics;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;
using WireMock.RequestBuilders;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

public sealed class WeComApiLoggingTests
{
    [Test]
    public async Task No_secret_access_token_webhook_key_or_message_body_appears_in_trace_logs_or_traces()
    {
        using var weCom = WireMockServer.Start();
        weCom.GivenTokens("TOKEN-AAA-111", "TOKEN-BBB-222");
        weCom.GivenUser(token: "TOKEN-AAA-111", errCode: WeComErrorCodes.AccessTokenExpired);
        weCom.GivenUser(token: "TOKEN-BBB-222");
        weCom.Given(Request.Create().WithPath("/cgi-bin/webhook/send").UsingPost()).RespondWith(FakeWeCom.Reply(WeComErrorCodes.FrequencyLimited));
        weCom.Given(Request.Create().WithPath("/cgi-bin/message/send").UsingPost()).RespondWith(FakeWeCom.Reply(WeComErrorCodes.OutsideVisibleRange));
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (activities) { activities.Add(a); } },
        };
        ActivitySource.AddActivityListener(listener);
        using var bot = WeComApiHarness.Create(weCom);

        await bot.Client.GetUserAsync("zhangsan", CancellationToken.None);
        Assert.ThrowsAsync<WeComApiException>(() => bot.Client.SendRobotWebhookAsync("ROBOT-KEY-SECRET-77", RobotWebhookMessage.ForText("BODY-TEXT-顾客"), CancellationToken.None));
        Assert.ThrowsAsync<WeComApiException>(() => bot.Client.SendAppMessageAsync(AppMessage.TextTo("zhangsan", "BODY-TEXT-顾客"), CancellationToken.None));

        var records = bot.Logs.GetSnapshot();
        var logText = string.Join("\n", records.Select(r => $"{r.Category} {r.Message} {r.Exception} " +
            string.Join(",", r.StructuredState?.Select(p => p.Key + "=" + p.Value) ?? [])));
        string[] traceText;
        lock (activities)
        {
            traceText = activities.Select(a => a.DisplayName + " " + string.Join(",", a.TagObjects.Select(t => t.Key + "=" + t.Value))).ToArray();
        }
        var everything = logText + "\n" + string.Join("\n", traceText);
        Assert.That(records.Any(r => r.Level == LogLevel.Debug && r.Message.Contains("user/get")), Is.True, "trace logging was captured");
        Assert.That(traceText.Any(t => t.Contains("wecom.api=user/get")), Is.True, "traces were captured");
        // .NET redacts query strings in its own HttpClient logs unless System.Net.Http.DisableUriRedaction is set;
        // the client removes those loggers anyway so that switch can never expose a token.
        Assert.That(records.Where(r => r.Category?.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal) == true), Is.Empty);
        foreach (var secret in new[] { WeComApiHarness.Secret, "TOKEN-AAA-111", "TOKEN-BBB-222", "ROBOT-KEY-SECRET-77", "BODY-TEXT" })
        {
            Assert.That(everything, Does.Not.Contain(secret));
        }
    }
}
