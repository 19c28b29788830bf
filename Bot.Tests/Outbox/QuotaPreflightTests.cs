using Bot.Tests.EndToEnd;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.RateLimiting;
using Bot.Tests.Fixtures;
using Bot.Host.Cli;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Outbox;

/// <summary>POST /admin/broadcasts/preflight and the preflight verb, over the real host and the in-process limiter.</summary>
public sealed class QuotaPreflightTests
{
    private const string AddMsgTemplatePath = "/cgi-bin/externalcontact/add_msg_template";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    [Test]
    public async Task A_group_that_received_todays_mass_message_is_skipped_until_midnight_under_one_per_day()
    {
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" });
        using var client = app.CreateAdminClient();
        await BroadcastAndWaitUntilSentAsync(app, client, "wrChatServedToday", sender: "guide02");

        using var report = await PreflightAsync(client, "guide01", "wrChatServedToday", "wrChatFresh");

        var root = report.RootElement;
        var at = root.GetProperty("at").GetDateTimeOffset();
        var served = Target(root, "wrChatServedToday");
        var fresh = Target(root, "wrChatFresh");
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("receivingRule").GetString(), Is.EqualTo("OnePerDay"));
            Assert.That(served.GetProperty("status").GetString(), Is.EqualTo("Skipped"));
            Assert.That(served.GetProperty("blockedBy").GetString(), Is.EqualTo(QuotaRules.GroupMassReceiving));
            Assert.That(served.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(NextShanghaiMidnight(at)));
            Assert.That(fresh.GetProperty("status").GetString(), Is.EqualTo("Allowed"));
            Assert.That(fresh.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(at));
            Assert.That(served.GetProperty("receivingRuleRemaining").GetInt64(), Is.Zero);
            Assert.That(fresh.GetProperty("receivingRuleRemaining").GetInt64(), Is.Zero, "this broadcast takes the fresh group's one for today");
            Assert.That(root.GetProperty("skipped").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("allowed").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(at));
        });
        // A pre-flight takes nothing: the fresh group can still receive today's message.
        using var again = await PreflightAsync(client, "guide01", "wrChatFresh");
        Assert.That(Target(again.RootElement, "wrChatFresh").GetProperty("status").GetString(), Is.EqualTo("Allowed"));
    }

    [Test]
    public async Task The_same_group_is_allowed_under_days_in_month_per_month()
    {
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "DaysInMonthPerMonth" });
        using var client = app.CreateAdminClient();
        await BroadcastAndWaitUntilSentAsync(app, client, "wrChatServedToday", sender: "guide02");

        using var report = await PreflightAsync(client, "guide01", "wrChatServedToday");

        var served = Target(report.RootElement, "wrChatServedToday");
        var at = TimeZoneInfo.ConvertTime(report.RootElement.GetProperty("at").GetDateTimeOffset(), Shanghai);
        Assert.That(report.RootElement.GetProperty("receivingRule").GetString(), Is.EqualTo("DaysInMonthPerMonth"));
        Assert.That(served.GetProperty("status").GetString(), Is.EqualTo("Allowed"));
        Assert.That(served.GetProperty("blockedBy").ValueKind, Is.EqualTo(JsonValueKind.Null));
        // The month allows as many as it has days; the earlier broadcast and this one take two.
        Assert.That(served.GetProperty("receivingRuleRemaining").GetInt64(), Is.EqualTo(DateTime.DaysInMonth(at.Year, at.Month) - 2));
    }

    [Test]
    public async Task The_same_sender_reaches_a_group_again_the_same_day_under_days_in_month_per_month()
    {
        // Doc 96997 (FACTS §6.3): the member-to-recipient cap is 1/day only by default; the tenant's 群发 setting relaxes
        // it with the receiving cap. The bot used to hold the sender to 1/day whatever the setting.
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "DaysInMonthPerMonth" });
        using var client = app.CreateAdminClient();
        await BroadcastAndWaitUntilSentAsync(app, client, "wrChatServedToday", sender: "guide01");

        using var report = await PreflightAsync(client, "guide01", "wrChatServedToday");

        var served = Target(report.RootElement, "wrChatServedToday");
        var at = TimeZoneInfo.ConvertTime(report.RootElement.GetProperty("at").GetDateTimeOffset(), Shanghai);
        Assert.That(served.GetProperty("status").GetString(), Is.EqualTo("Allowed"));
        Assert.That(served.GetProperty("blockedBy").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(served.GetProperty("receivingRuleRemaining").GetInt64(), Is.EqualTo(DateTime.DaysInMonth(at.Year, at.Month) - 2));
    }

    [Test]
    public async Task The_same_sender_cannot_reach_a_group_twice_a_day_under_one_per_day()
    {
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" });
        using var client = app.CreateAdminClient();
        await BroadcastAndWaitUntilSentAsync(app, client, "wrChatServedToday", sender: "guide01");

        using var report = await PreflightAsync(client, "guide01", "wrChatServedToday");

        var served = Target(report.RootElement, "wrChatServedToday");
        Assert.That(served.GetProperty("status").GetString(), Is.EqualTo("Skipped"));
        Assert.That(served.GetProperty("blockedBy").GetString(), Is.AnyOf(QuotaRules.SenderPerGroupPerDay, QuotaRules.GroupMassReceiving));
    }

    [Test]
    public async Task Seven_groups_under_three_calls_a_minute_finish_two_windows_later()
    {
        using var app = new BotApp(settings: ThreePerMinute());
        using var client = app.CreateAdminClient();

        using var report = await PreflightAsync(client, "guide01", "wrG1", "wrG2", "wrG3", "wrG4", "wrG5", "wrG6", "wrG7");

        var root = report.RootElement;
        var at = root.GetProperty("at").GetDateTimeOffset();
        // The limiter counts a one-minute window in 60 one-second buckets plus the current one: units free after 61 s.
        var window = TimeSpan.FromSeconds(61);
        var times = root.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("at").GetDateTimeOffset() - at).ToList();
        var statuses = root.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("status").GetString()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(times, Is.EqualTo(new[] { TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, window, window, window, 2 * window }));
            Assert.That(statuses, Is.EqualTo(new[] { "Allowed", "Allowed", "Allowed", "Delayed", "Delayed", "Delayed", "Delayed" }));
            Assert.That(Target(root, "wrG7").GetProperty("blockedBy").GetString(), Is.EqualTo(QuotaRules.ApiPerMinute));
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(at + 2 * window));
            Assert.That(root.GetProperty("delayed").GetInt32(), Is.EqualTo(4));
        });
    }

    [Test]
    public async Task A_receiving_rule_paused_past_the_end_of_its_period_is_skipped_and_a_shorter_pause_delays()
    {
        // Tuesday 2026-12-01 10:00 in Shanghai: the day's receiving period ends in 14 h.
        var morning = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.FromHours(8));
        using var bot = new BotApp(settings: new Dictionary<string, string?> { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" });
        using var app = CampaignPreflightTests.OnClock(bot, new FakeTimeProvider(morning));
        using var client = CampaignPreflightTests.AdminClient(app);
        var limiter = app.Services.GetRequiredService<IQuotaLimiter>();
        // What the dispatcher will do when WeCom reports a recipient "already received another mass message".
        var pastMidnight = TimeSpan.FromHours(15);
        await limiter.PauseAsync(new QuotaKey(QuotaRules.GroupMassReceiving, "wrPausedForToday"), pastMidnight, CancellationToken.None);
        await limiter.PauseAsync(new QuotaKey(QuotaRules.GroupMassReceiving, "wrPausedBriefly"), TimeSpan.FromMinutes(10), CancellationToken.None);

        using var report = await PreflightAsync(client, "guide01", "wrPausedForToday", "wrPausedBriefly", "wrFree");

        var root = report.RootElement;
        var today = Target(root, "wrPausedForToday");
        var briefly = Target(root, "wrPausedBriefly");
        Assert.Multiple(() =>
        {
            Assert.That(today.GetProperty("status").GetString(), Is.EqualTo("Skipped"));
            Assert.That(today.GetProperty("blockedBy").GetString(), Is.EqualTo(QuotaRules.GroupMassReceiving));
            Assert.That(today.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(morning + pastMidnight));
            Assert.That(briefly.GetProperty("status").GetString(), Is.EqualTo("Delayed"));
            Assert.That(briefly.GetProperty("blockedBy").GetString(), Is.EqualTo(QuotaRules.GroupMassReceiving));
            Assert.That(briefly.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(morning.AddMinutes(10)));
            Assert.That(Target(root, "wrFree").GetProperty("status").GetString(), Is.EqualTo("Allowed"));
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(morning.AddMinutes(10)));
        });
    }

    [Test]
    public async Task An_invalid_body_is_refused_like_a_broadcast()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();

        var response = await client.PostAsJsonAsync("/admin/broadcasts/preflight", new
        {
            name = "x", text = "x", targetKind = 0, sender = "guide01", targets = Array.Empty<string>(),
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task The_preflight_verb_prints_one_row_per_group_and_the_finish()
    {
        var variables = ThreePerMinute().ToDictionary(p => p.Key.Replace(":", "__", StringComparison.Ordinal), p => p.Value);
        variables["Redis__Configuration"] = "";
        var previous = variables.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        int? exit;
        try
        {
            foreach (var (key, value) in variables)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
            exit = await BotCommands.TryRunAsync(
                ["preflight", "--groups", "wrA,wrB,wrC,wrD", "--sender", "guide01"], output, TextWriter.Null, new FakeTimeProvider());
        }
        finally
        {
            foreach (var (key, value) in previous)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(0));
            Assert.That(lines.Where(l => l.StartsWith("wr", StringComparison.Ordinal)).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]),
                Is.EqualTo(new[] { "Allowed", "Allowed", "Allowed", "Delayed" }));
            Assert.That(lines.Single(l => l.StartsWith("wrD", StringComparison.Ordinal)), Does.EndWith(QuotaRules.ApiPerMinute));
            Assert.That(lines[^1], Does.StartWith("3 allowed, 1 delayed, 0 skipped; estimated finish "));
        });
    }

    private static Dictionary<string, string?> ThreePerMinute() => new()
    {
        [$"Quotas:Rules:{QuotaRules.ApiPerMinute}:Key"] = "{api}",
        [$"Quotas:Rules:{QuotaRules.ApiPerMinute}:Limit"] = "3",
        [$"Quotas:Rules:{QuotaRules.ApiPerMinute}:Window"] = "00:01:00",
    };

    private static async Task BroadcastAndWaitUntilSentAsync(BotApp app, HttpClient client, string chatId, string sender)
    {
        app.WeCom.Given(Request.Create().WithPath(AddMsgTemplatePath).UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgEARLIER", fail_list = Array.Empty<string>() }));
        // The bot reads each group's owner (groupchat/get) before its task: WeCom gives it only to the owner.
        FakeWeCom.StubGroupOwners(app.WeCom);
        var created = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "earlier-today", text = "早安", targetKind = 0, sender, targets = new[] { chatId },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        // The dispatcher takes the quota units before it calls WeCom, so once WeCom has the call the counters hold it.
        await FakeWeCom.WaitForAsync(app.WeCom, AddMsgTemplatePath, timeout: Deadline);
    }

    private static async Task<JsonDocument> PreflightAsync(HttpClient client, string sender, params string[] targets)
    {
        var response = await client.PostAsJsonAsync("/admin/broadcasts/preflight", new
        {
            name = "preflight", text = "新品", targetKind = 0, sender, targets,
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    private static JsonElement Target(JsonElement root, string target) =>
        root.GetProperty("targets").EnumerateArray().Single(t => t.GetProperty("target").GetString() == target);

    private static DateTimeOffset NextShanghaiMidnight(DateTimeOffset at)
    {
        var local = TimeZoneInfo.ConvertTime(at, Shanghai);
        var midnight = new DateTimeOffset(local.Date.AddDays(1), local.Offset);
        return midnight.ToUniversalTime();
    }
}
