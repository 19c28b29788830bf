using System.Net;
using System.Text.Json;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

public sealed class ObservabilityAndSeedingTests
{
    [Test]
    public async Task Metrics_count_accepted_and_refused_callbacks_for_prometheus()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        Assert.That((await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmMetric1", "CODE-METRIC")))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var forged = app.SignedPost(BotApp.ContactAdded("wmMetric2", "CODE-FORGED"));
        forged.RequestUri = new Uri(forged.RequestUri!.ToString().Replace("msg_signature=", "msg_signature=0", StringComparison.Ordinal), UriKind.Relative);
        Assert.That((await client.SendAsync(forged)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));

        var metrics = await client.GetStringAsync("/metrics");

        Assert.That(metrics, Does.Match(@"bot_callbacks_received_total\{[^}]*kind=""change_external_contact/add_external_contact""\} 1"));
        Assert.That(metrics, Does.Match(@"bot_callbacks_rejected_total\{[^}]*reason=""BadSignature""\} 1"));
        Assert.That(metrics, Does.Not.Contain("test-secret-value").And.Not.Contain("TESTTOKEN"), "no secret or token in metrics");
    }

    [Test]
    public async Task A_sent_welcome_is_counted_as_a_final_outbox_outcome_on_metrics()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        Assert.That((await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmOutcome1", "CODE-OUTCOME")))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await FakeWeCom.WaitForAsync(app.WeCom, "/cgi-bin/externalcontact/send_welcome_msg");

        // The outcome is counted when the sent state is written, just after WeCom answered.
        var metrics = await Eventually.UntilAsync(
            () => client.GetStringAsync("/metrics"),
            text => text.Contains("bot_outbox_outcomes_total{", StringComparison.Ordinal) && text.Contains("kind=\"welcome\"", StringComparison.Ordinal),
            text => "no welcome among the outbox outcomes:\n" + string.Join('\n', text.Split('\n').Where(l => l.StartsWith("bot_outbox", StringComparison.Ordinal))));

        Assert.That(metrics, Does.Match(@"bot_outbox_outcomes_total\{[^}]*kind=""welcome""[^}]*state=""sent""[^}]*\} 1|bot_outbox_outcomes_total\{[^}]*state=""sent""[^}]*kind=""welcome""[^}]*\} 1"));
    }

    [Test]
    public async Task A_seeding_script_on_the_robot_channel_posts_through_the_group_robot_not_as_a_mass_message()
    {
        using var app = new BotApp(editRules: rules =>
        {
            var path = Path.Combine(rules, "campaigns.yaml");
            var yaml = File.ReadAllText(path);
            var seeding = yaml[yaml.IndexOf("seeding:", StringComparison.Ordinal)..];
            File.WriteAllText(path, yaml.Replace(seeding, """
                seeding:
                  - name: vip-robot-warm-up
                    groups: ["VIP*"]
                    start: group_created
                    channel: robot
                    robot_key: "seed-robot-key"
                    posts:
                      - after: 0s
                        by: trumpet01
                        text: "新群开张，欢迎大家！"

                """, StringComparison.Ordinal));
        });
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var created = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrSEEDROBOT1]]></ChatId><ChangeType><![CDATA[create]]></ChangeType></xml>";

        Assert.That((await client.SendAsync(app.SignedPost(created))).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var posted = await FakeWeCom.WaitForAsync(app.WeCom, "/cgi-bin/webhook/send");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'seeding_post' AND target = 'wrSEEDROBOT1' AND state = 'sent'", n => n == 1);
        Assert.Multiple(() =>
        {
            Assert.That(posted[0].RequestMessage!.Query!["key"].ToString(), Is.EqualTo("seed-robot-key"));
            Assert.That(FakeWeCom.Json(posted[0]).GetProperty("text").GetProperty("content").GetString(), Is.EqualTo("新群开张，欢迎大家！"));
            Assert.That(FakeWeCom.Calls(app.WeCom, "/cgi-bin/externalcontact/add_msg_template"), Is.Empty,
                "a robot post needs no trumpet to confirm it");
        });
    }

    [Test]
    public async Task A_new_vip_group_gets_the_trumpet_schedule_spread_over_two_days_under_a_one_per_day_rule()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        using var client = app.CreateClient();
        var created = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrSEED1]]></ChatId><ChangeType><![CDATA[create]]></ChangeType></xml>";

        Assert.That((await client.SendAsync(app.SignedPost(created))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await client.SendAsync(app.SignedPost(created))).StatusCode, Is.EqualTo(HttpStatusCode.OK), "a WeCom retry");
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM seeding_posts WHERE chat_id = 'wrSEED1'", n => n >= 2);

        using var admin = app.CreateAdminClient();
        using var schedule = JsonDocument.Parse(await admin.GetStringAsync("/admin/seeding?chatId=wrSEED1"));
        var posts = schedule.RootElement.EnumerateArray().ToList();
        Assert.That(posts, Has.Count.EqualTo(2), "one run, however often the create event arrives");
        Assert.That(posts.Select(p => p.GetProperty("sender").GetString()), Is.EqualTo(new[] { "trumpet01", "trumpet02" }));
        var shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
        var days = posts.Select(p => TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(p.GetProperty("dueAt").GetInt64()), shanghai).Date).ToList();
        Assert.That(days[1], Is.GreaterThan(days[0]), "the second post waits for the next day's slot");
        Assert.That(posts[1].GetProperty("note").GetString(), Does.Contain("receiving rule"));
    }
}
