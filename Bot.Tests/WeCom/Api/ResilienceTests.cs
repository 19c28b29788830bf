using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

public sealed class ResilienceTests
{
    private static readonly MarkTagRequest Tagging = new() { UserId = "zhangsan", ExternalUserId = "wmCUSTOMER", AddTags = ["etTAG"] };
    private WireMockServer _weCom = null!;

    [SetUp]
    public void StartWeCom()
    {
        _weCom = WireMockServer.Start();
        _weCom.GivenToken("tok1");
    }

    [TearDown]
    public void StopWeCom() => _weCom.Dispose();

    private void GivenInOrder(string path, params IResponseBuilder[] responses)
    {
        if (responses.Length == 1)
        {
            _weCom.Given(Request.Create().WithPath("/cgi-bin/" + path).UsingPost()).RespondWith(responses[0]);
            return;
        }
        var scenario = path + Guid.NewGuid().ToString("N");
        for (var i = 0; i < responses.Length; i++)
        {
            var request = _weCom.Given(Request.Create().WithPath("/cgi-bin/" + path).UsingPost()).InScenario(scenario);
            if (i > 0)
            {
                request = request.WhenStateIs("s" + i);
            }
            // The last answer re-enters its own state: WireMock does not keep a scenario in a state nothing set.
            request = request.WillSetStateTo("s" + Math.Min(i + 1, responses.Length - 1));
            request.RespondWith(responses[i]);
        }
    }

    [Test]
    public async Task System_busy_is_retried_until_WeCom_answers()
    {
        GivenInOrder("externalcontact/mark_tag", FakeWeCom.Reply(WeComErrorCodes.SystemBusy), FakeWeCom.Reply(WeComErrorCodes.SystemBusy), FakeWeCom.Reply(0));
        using var bot = WeComApiHarness.Create(_weCom);

        await bot.Client.MarkTagAsync(Tagging, CancellationToken.None);

        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(3));
    }

    [Test]
    public void System_busy_from_a_mass_message_is_outcome_unknown_and_not_resent()
    {
        // WeCom may have created the task before answering -1; a second call would give the guide a duplicate task.
        GivenInOrder("externalcontact/add_msg_template", FakeWeCom.Reply(WeComErrorCodes.SystemBusy), FakeWeCom.Reply(0, "\"msgid\":\"msgDUP\""));
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComOutcomeUnknownException>(() => bot.Client.AddMsgTemplateAsync(
            new AddMsgTemplateRequest { ChatType = ChatTypes.Group, Sender = "zhangsan", ChatIds = ["wrCHAT"], Text = new MessageText("今晚开奖") },
            CancellationToken.None));

        Assert.That(error!.Api, Is.EqualTo("externalcontact/add_msg_template"));
        Assert.That(error.InnerException, Is.InstanceOf<WeComApiException>().With.Property(nameof(WeComApiException.ErrCode)).EqualTo(WeComErrorCodes.SystemBusy));
        Assert.That(_weCom.Count("externalcontact/add_msg_template"), Is.EqualTo(1));
    }

    [Test]
    public async Task Http_5xx_is_retried_for_a_read()
    {
        GivenInOrder("externalcontact/groupchat/get",
            Response.Create().WithStatusCode(502).WithBody("<html>bad gateway</html>"),
            FakeWeCom.Reply(0, "\"group_chat\":{\"chat_id\":\"wrCHAT\",\"name\":\"销售客服群\",\"owner\":\"zhangsan\",\"member_list\":[{\"userid\":\"wmA\",\"type\":2,\"join_scene\":3}]}"));
        using var bot = WeComApiHarness.Create(_weCom);

        var chat = await bot.Client.GetGroupChatAsync("wrCHAT", CancellationToken.None);

        Assert.That(chat.Name, Is.EqualTo("销售客服群"));
        Assert.That(chat.Members.Single().JoinScene, Is.EqualTo(3));
        Assert.That(_weCom.Count("externalcontact/groupchat/get"), Is.EqualTo(2));
    }

    [Test]
    public void Transient_errors_give_up_after_the_configured_retries()
    {
        GivenInOrder("externalcontact/mark_tag", FakeWeCom.Reply(WeComErrorCodes.SystemBusy));
        using var bot = WeComApiHarness.Create(_weCom, settings: new Dictionary<string, string?> { ["WeComApi:MaxTransientRetries"] = "2" });

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.MarkTagAsync(Tagging, CancellationToken.None));

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.Transient));
        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(3));
    }

    [TestCase(WeComErrorCodes.InvalidParameter)]
    [TestCase(WeComErrorCodes.InvalidExternalUserId)]
    [TestCase(WeComErrorCodes.RelationshipGone)]
    public void Permanent_errors_are_not_retried(int errCode)
    {
        GivenInOrder("externalcontact/mark_tag", FakeWeCom.Reply(errCode));
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.MarkTagAsync(Tagging, CancellationToken.None));

        Assert.That((error!.ErrCode, error.Class, error.Api), Is.EqualTo((errCode, WeComErrorClass.Permanent, "externalcontact/mark_tag")));
        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(1));
    }

    [Test]
    public void A_welcome_to_a_customer_already_chatting_is_not_retried()
    {
        GivenInOrder("externalcontact/send_welcome_msg", FakeWeCom.Reply(WeComErrorCodes.CustomerAlreadyChatting));
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.SendWelcomeMessageAsync(
            new SendWelcomeRequest { WelcomeCode = "CODE", Text = new MessageText("hi") }, CancellationToken.None));

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.Permanent));
        Assert.That(_weCom.Count("externalcontact/send_welcome_msg"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_welcome_being_sent_by_another_app_is_retried()
    {
        GivenInOrder("externalcontact/send_welcome_msg", FakeWeCom.Reply(WeComErrorCodes.WelcomeBeingSent), FakeWeCom.Reply(0));
        using var bot = WeComApiHarness.Create(_weCom);

        await bot.Client.SendWelcomeMessageAsync(new SendWelcomeRequest { WelcomeCode = "CODE" }, CancellationToken.None);

        Assert.That(_weCom.Count("externalcontact/send_welcome_msg"), Is.EqualTo(2));
    }

    [Test]
    public async Task Too_many_concurrent_calls_is_retried_after_a_delay()
    {
        GivenInOrder("externalcontact/mark_tag", FakeWeCom.Reply(WeComErrorCodes.ConcurrencyLimited), FakeWeCom.Reply(0));
        using var bot = WeComApiHarness.Create(_weCom);

        await bot.Client.MarkTagAsync(Tagging, CancellationToken.None);

        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(2));
    }

    [Test]
    public void Robot_webhook_over_20_per_minute_is_rate_limited_for_the_window_and_not_retried()
    {
        _weCom.Given(Request.Create().WithPath("/cgi-bin/webhook/send").WithParam("key", "ROBOTKEY").UsingPost())
            .RespondWith(FakeWeCom.Reply(WeComErrorCodes.FrequencyLimited));
        using var bot = WeComApiHarness.Create(_weCom);

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.SendRobotWebhookAsync("ROBOTKEY", RobotWebhookMessage.ForText("开奖啦"), CancellationToken.None));

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.RateLimited));
        Assert.That(error.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(_weCom.Count("webhook/send"), Is.EqualTo(1));
        Assert.That(_weCom.Count("gettoken"), Is.Zero, "the robot webhook authenticates with its key, not an access token");
    }

    [Test]
    public async Task Timed_out_mass_message_is_outcome_unknown_and_sent_exactly_once()
    {
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(FakeWeCom.Reply(0, "\"msgid\":\"msgLATE\"").WithDelay(TimeSpan.FromSeconds(1)));
        _weCom.Given(Request.Create().WithPath("/marker").UsingGet()).RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromSeconds(1)));
        using var bot = WeComApiHarness.Create(_weCom, settings: new Dictionary<string, string?> { ["WeComApi:AttemptTimeout"] = "00:00:00.200" });

        var error = Assert.ThrowsAsync<WeComOutcomeUnknownException>(() => bot.Client.AddMsgTemplateAsync(
            new AddMsgTemplateRequest { ChatType = ChatTypes.Group, Sender = "zhangsan", ChatIds = ["wrCHAT"], Text = new MessageText("今晚开奖") },
            CancellationToken.None));
        // Any retry would have been sent before the exception; a marker sent now, delayed like the send, is logged after it.
        using var http = new HttpClient();
        await http.GetAsync(_weCom.Url + "/marker");

        Assert.That(error!.Api, Is.EqualTo("externalcontact/add_msg_template"));
        Assert.That(_weCom.Count("externalcontact/add_msg_template"), Is.EqualTo(1));
    }

    [Test]
    public async Task Timed_out_read_is_retried()
    {
        GivenInOrder("externalcontact/get_corp_tag_list",
            FakeWeCom.Reply(0).WithDelay(TimeSpan.FromSeconds(1)),
            FakeWeCom.Reply(0, "\"tag_group\":[{\"group_id\":\"etG\",\"group_name\":\"来源\",\"tag\":[{\"id\":\"etT\",\"name\":\"抽奖\"}]}]"));
        using var bot = WeComApiHarness.Create(_weCom, settings: new Dictionary<string, string?> { ["WeComApi:AttemptTimeout"] = "00:00:00.200" });

        var groups = await bot.Client.GetCorpTagListAsync(null, null, CancellationToken.None);

        Assert.That(groups.Single().Tags.Single().Name, Is.EqualTo("抽奖"));
    }

    [Test]
    public async Task Circuit_opens_after_repeated_failures_and_recovers_after_the_break()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        GivenInOrder("externalcontact/mark_tag", FakeWeCom.Reply(WeComErrorCodes.SystemBusy), FakeWeCom.Reply(WeComErrorCodes.SystemBusy), FakeWeCom.Reply(0));
        using var bot = WeComApiHarness.Create(_weCom, time, new Dictionary<string, string?>
        {
            ["WeComApi:MaxTransientRetries"] = "0",
            ["WeComApi:CircuitMinimumThroughput"] = "2",
            ["WeComApi:CircuitFailureRatio"] = "0.5",
            ["WeComApi:CircuitBreakDuration"] = "00:00:30",
        });
        Assert.ThrowsAsync<WeComApiException>(() => bot.Client.MarkTagAsync(Tagging, CancellationToken.None));
        Assert.ThrowsAsync<WeComApiException>(() => bot.Client.MarkTagAsync(Tagging, CancellationToken.None));

        var open = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.MarkTagAsync(Tagging, CancellationToken.None));
        Assert.That((open!.ErrCode, open.Class), Is.EqualTo((WeComErrorCodes.CircuitOpen, WeComErrorClass.Transient)));
        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(2), "an open circuit sends nothing");

        time.Advance(TimeSpan.FromSeconds(31));
        await bot.Client.MarkTagAsync(Tagging, CancellationToken.None);
        await bot.Client.MarkTagAsync(Tagging, CancellationToken.None);

        Assert.That(_weCom.Count("externalcontact/mark_tag"), Is.EqualTo(4));
    }

    [Test]
    public async Task Configuration_errors_are_logged_as_errors_and_degrade_health_until_a_success()
    {
        GivenInOrder("message/send", FakeWeCom.Reply(WeComErrorCodes.ApiForbidden), FakeWeCom.Reply(0, "\"msgid\":\"m1\",\"invaliduser\":\"\""));
        using var bot = WeComApiHarness.Create(_weCom);
        var health = bot.Host.Services.GetRequiredService<HealthCheckService>();

        var error = Assert.ThrowsAsync<WeComApiException>(() => bot.Client.SendAppMessageAsync(AppMessage.TextTo("zhangsan", "配置检查"), CancellationToken.None));
        var unhealthy = await health.CheckHealthAsync(CancellationToken.None);
        await bot.Client.SendAppMessageAsync(AppMessage.TextTo("zhangsan", "配置检查"), CancellationToken.None);
        var healthy = await health.CheckHealthAsync(CancellationToken.None);

        Assert.That(error!.Class, Is.EqualTo(WeComErrorClass.Configuration));
        Assert.That(_weCom.Count("message/send"), Is.EqualTo(2), "one failed call, one success; the configuration error was not retried");
        Assert.That(bot.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Error && r.Message.Contains("48002")), Is.True);
        Assert.That(unhealthy.Entries["wecom-api"].Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(unhealthy.Entries["wecom-api"].Description, Does.Contain("message/send"));
        Assert.That(healthy.Entries["wecom-api"].Status, Is.EqualTo(HealthStatus.Healthy));
    }

    [Test]
    public async Task Welcome_message_is_sent_in_WeComs_wire_format()
    {
        GivenInOrder("externalcontact/send_welcome_msg", FakeWeCom.Reply(0));
        using var bot = WeComApiHarness.Create(_weCom);

        await bot.Client.SendWelcomeMessageAsync(new SendWelcomeRequest
        {
            WelcomeCode = "CODE",
            Text = new MessageText("欢迎"),
            Attachments =
            [
                Attachment.ForImage(new ImageAttachment { MediaId = "MEDIA" }),
                Attachment.ForLink(new LinkAttachment { Title = "活动", Url = "https://example.com/a" }),
                Attachment.ForMiniProgram(new MiniProgramAttachment { Title = "抽奖", PicMediaId = "PIC", AppId = "wxAPP", Page = "/p/index" }),
            ],
        }, CancellationToken.None);

        var body = _weCom.Requests("externalcontact/send_welcome_msg").Single().RequestMessage?.Body;
        Assert.That(body, Is.EqualTo(
            """{"welcome_code":"CODE","text":{"content":"欢迎"},"attachments":[{"msgtype":"image","image":{"media_id":"MEDIA"}},{"msgtype":"link","link":{"title":"活动","url":"https://example.com/a"}},{"msgtype":"miniprogram","miniprogram":{"title":"抽奖","pic_media_id":"PIC","appid":"wxAPP","page":"/p/index"}}]}"""));
    }

    [Test]
    public void More_than_nine_welcome_attachments_are_refused_before_sending()
    {
        using var bot = WeComApiHarness.Create(_weCom);
        var request = new SendWelcomeRequest { WelcomeCode = "CODE", Attachments = Enumerable.Range(0, 10).Select(i => Attachment.ForFile("m" + i)).ToList() };

        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bot.Client.SendWelcomeMessageAsync(request, CancellationToken.None));
        Assert.That(_weCom.Count("externalcontact/send_welcome_msg"), Is.Zero);
    }
}
