using System.Globalization;
using System.Net;
using System.Text.Json;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Core.Campaigns.Seeding;
using Bot.Tests.Fixtures;
using Bot.Host.Cli;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Bot.Tests.Outbox;

/// <summary>
/// GET /admin/seeding/{script}/preflight, GET /admin/lotteries/{name}/preflight and their preflight verbs, over the
/// real host on a fake clock and the in-process limiter.
/// </summary>
[NonParallelizable] // The verbs read their database and rules folder from the process environment, as in production.
public sealed class CampaignPreflightTests
{
    // Tuesday 2026-12-01 10:00 in Shanghai, on a whole second so sliding-window buckets line up with it.
    private static readonly DateTimeOffset Morning = new(2026, 12, 1, 10, 0, 0, TimeSpan.FromHours(8));

    private static readonly Dictionary<string, string?> OnePerDay = new() { ["Quotas:MassMessageReceivingRule"] = "OnePerDay" };

    private const string FlashLottery = "flash-draw";
    private const string FlashRobotKey = "robot-key-flash";

    [Test]
    public async Task A_group_that_got_todays_mass_message_has_its_seeding_post_planned_today_skipped_until_midnight()
    {
        using var bot = new BotApp(settings: OnePerDay);
        using var app = OnClock(bot, new FakeTimeProvider(Morning));
        using var client = AdminClient(app);
        // Another sender's mass message already reached the group today.
        await TakeAsync(app, new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "guide09", ChatIds: ["wrServed"]));

        using var report = await GetOkAsync(client, "/admin/seeding/vip-warm-up/preflight?groups=wrServed,wrFresh");

        var root = report.RootElement;
        var served = Posts(root, "wrServed");
        var fresh = Posts(root, "wrFresh");
        var tenPast = Morning.AddMinutes(10);
        // Under one a day the planner already moved the second post to tomorrow, and quiet hours to 08:00.
        var tomorrowEight = new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.FromHours(8));
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("receivingRule").GetString(), Is.EqualTo("OnePerDay"));
            Assert.That(root.GetProperty("start").GetDateTimeOffset(), Is.EqualTo(Morning));
            Assert.That(served.Select(Row), Is.EqualTo(new[]
            {
                ("trumpet01", tenPast, "Skipped", new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.FromHours(8)), (string?)QuotaRules.GroupMassReceiving),
                ("trumpet02", tomorrowEight, "Allowed", tomorrowEight, null),
            }));
            Assert.That(fresh.Select(Row), Is.EqualTo(new[]
            {
                ("trumpet01", tenPast, "Allowed", tenPast, (string?)null),
                ("trumpet02", tomorrowEight, "Allowed", tomorrowEight, null),
            }));
            Assert.That(served.Concat(fresh).Select(p => p.GetProperty("scheduled").GetBoolean()), Is.All.False);
            // One a day: whichever post goes (or was already sent) uses its day's one.
            Assert.That(served.Concat(fresh).Select(p => p.GetProperty("receivingRuleRemaining").GetInt64()), Is.All.Zero);
            Assert.That(root.GetProperty("allowed").GetInt32(), Is.EqualTo(3));
            Assert.That(root.GetProperty("skipped").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(tomorrowEight));
        });
    }

    [Test]
    public async Task Posts_already_scheduled_in_a_group_are_shown_and_the_new_run_is_planned_after_them()
    {
        var time = new FakeTimeProvider(Morning);
        using var bot = new BotApp(settings: OnePerDay);
        using var app = OnClock(bot, time);
        using var client = AdminClient(app);
        Assert.That(await app.Services.GetRequiredService<SeedingService>().OnGroupCreatedAsync("wrBusy", "VIP 咖啡群", Morning, CancellationToken.None), Is.EqualTo(1));
        var stored = await app.Services.GetRequiredService<SeedingStore>().GetScheduleAsync("wrBusy", CancellationToken.None);

        using var report = await GetOkAsync(client, "/admin/seeding/vip-warm-up/preflight?groups=wrBusy");

        var root = report.RootElement;
        var posts = Posts(root, "wrBusy");
        var eight = (int day) => new DateTimeOffset(2026, 12, day, 8, 0, 0, TimeSpan.FromHours(8));
        Assert.Multiple(() =>
        {
            Assert.That(posts.Select(p => p.GetProperty("scheduled").GetBoolean()), Is.EqualTo(new[] { true, true, false, false }));
            Assert.That(posts.Take(2).Select(p => p.GetProperty("plannedAt").GetDateTimeOffset()), Is.EqualTo(stored.Select(s => s.Due)));
            // The stored run has today and tomorrow; under one a day the new run waits for the 3rd and the 4th.
            Assert.That(posts.Skip(2).Select(p => p.GetProperty("plannedAt").GetDateTimeOffset()), Is.EqualTo(new[] { eight(3), eight(4) }));
            Assert.That(posts.Skip(2).Select(p => p.GetProperty("note").GetString()), Has.All.Contains("receiving rule (OnePerDay) is used up"));
            Assert.That(posts.Select(p => p.GetProperty("status").GetString()), Is.All.EqualTo("Allowed"));
            Assert.That(root.GetProperty("allowed").GetInt32(), Is.EqualTo(2), "the counts cover the new run only");
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(eight(4)));
        });
    }

    [Test]
    public async Task A_robot_announcement_is_delayed_while_the_robots_minute_is_full()
    {
        using var bot = new BotApp(editRules: FlashLotteryRules, settings: OnePerDay);
        using var app = OnClock(bot, new FakeTimeProvider(Morning));
        using var client = AdminClient(app);
        await EnterFlashLotteryAsync(app);
        for (var i = 0; i < 20; i++)
        {
            await TakeAsync(app, new QuotaSubject(QuotaRules.WebhookSend, RobotKey: FlashRobotKey));
        }

        using var report = await GetOkAsync(client, $"/admin/lotteries/{FlashLottery}/preflight");

        var root = report.RootElement;
        var groups = root.GetProperty("groups").EnumerateArray().ToList();
        // 20 a minute per robot, counted in one-second buckets: the units taken now free 61 s later.
        var free = Morning.AddSeconds(61);
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("state").GetString(), Is.EqualTo("open"));
            Assert.That(root.GetProperty("announceAt").GetDateTimeOffset(), Is.EqualTo(Morning.AddSeconds(30)));
            Assert.That(groups.Select(g => g.GetProperty("chatId").GetString()), Is.EqualTo(new[] { "wrL1", "wrL2" }));
            Assert.That(groups.Select(g => g.GetProperty("channel").GetString()), Is.All.EqualTo("robot"));
            Assert.That(groups.Select(g => g.GetProperty("status").GetString()), Is.All.EqualTo("Delayed"));
            Assert.That(groups.Select(g => g.GetProperty("blockedBy").GetString()), Is.All.EqualTo(QuotaRules.RobotPerMinute));
            Assert.That(groups.Select(g => g.GetProperty("at").GetDateTimeOffset()), Is.All.EqualTo(free));
            Assert.That(root.GetProperty("delayed").GetInt32(), Is.EqualTo(2));
            Assert.That(root.GetProperty("estimatedFinishAt").GetDateTimeOffset(), Is.EqualTo(free));
        });
    }

    [Test]
    public async Task An_unknown_script_or_lottery_is_a_404_problem()
    {
        using var bot = new BotApp();
        using var app = OnClock(bot, new FakeTimeProvider(Morning));
        using var client = AdminClient(app);

        var script = await client.GetAsync("/admin/seeding/no-such-script/preflight");
        var lottery = await client.GetAsync("/admin/lotteries/no-such-lottery/preflight");
        var scriptBody = await script.Content.ReadAsStringAsync();
        var lotteryBody = await lottery.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(script.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(script.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(scriptBody, Does.Contain("no-such-script"));
            Assert.That(lottery.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(lotteryBody, Does.Contain("no-such-lottery"));
        });
    }

    [Test]
    public async Task Both_preflights_answer_503_while_the_shared_limiter_cannot_be_reached()
    {
        using var redis = RedisTestServer.StartPrivate();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var time = new FakeTimeProvider(Morning);
        var limiter = new RedisQuotaLimiter(connection, Options.Create(new RedisOptions { Configuration = redis.Configuration, KeyPrefix = RedisTestServer.NewPrefix() }),
            Options.Create(new QuotaOptions()), time, NullLogger<RedisQuotaLimiter>.Instance);
        using var bot = new BotApp(editRules: FlashLotteryRules);
        using var app = bot.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(time).AddSingleton<IQuotaLimiter>(limiter)));
        using var client = AdminClient(app);
        await EnterFlashLotteryAsync(app);
        using (await GetOkAsync(client, $"/admin/lotteries/{FlashLottery}/preflight"))
        {
        }

        redis.Stop();
        var seeding = await client.GetAsync("/admin/seeding/vip-warm-up/preflight?groups=wrA");
        var lottery = await client.GetAsync($"/admin/lotteries/{FlashLottery}/preflight");
        var seedingBody = await seeding.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(seeding.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(seeding.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(seedingBody, Does.Contain("quota limiter cannot be reached"));
            Assert.That(lottery.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        });
    }

    [Test]
    public async Task The_seeding_verb_prints_one_row_per_post_and_the_runs_finish()
    {
        // The app is not started: it only provides a fresh database path and a copy of the rule files.
        using var bot = new BotApp();
        var (exit, lines, _) = await RunVerbAsync(bot, ["preflight", "--seeding", "vip-warm-up", "--groups", "wrA,wrB"]);

        var rows = lines.Where(l => l.StartsWith("wr", StringComparison.Ordinal)).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(0));
            Assert.That(rows.Select(r => $"{r[0]} {r[1]} {r[2]} {r[3]}"), Is.EqualTo(new[]
            {
                "wrA new 0 trumpet01", "wrA new 1 trumpet02", "wrB new 0 trumpet01", "wrB new 1 trumpet02",
            }));
            // Columns: group, run, step, sender, planned (date time Z), status, at (date time Z), blocked by.
            Assert.That(rows.Select(r => $"{r[4]} {r[5]} {r[6]}"), Is.EqualTo(new[]
            {
                "2026-12-01 02:10:00Z Allowed", "2026-12-02 00:00:00Z Allowed", "2026-12-01 02:10:00Z Allowed", "2026-12-02 00:00:00Z Allowed",
            }));
            Assert.That(lines[^1], Is.EqualTo("new run: 4 allowed, 0 delayed, 0 skipped; estimated finish 2026-12-02 00:00:00Z"));
        });
    }

    [Test]
    public async Task The_lottery_verb_prints_each_group_with_its_channel_at_the_draw_time()
    {
        using var bot = new BotApp(editRules: FlashLotteryRules, settings: OnePerDay);
        using var app = OnClock(bot, new FakeTimeProvider(Morning));
        await EnterFlashLotteryAsync(app);

        var (exit, lines, _) = await RunVerbAsync(bot, ["preflight", "--lottery", FlashLottery]);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(0));
            Assert.That(lines[0], Does.StartWith($"lottery {FlashLottery} (open) announces at 2026-12-01 02:00:30Z, receiving rule OnePerDay"));
            // The verb's own in-process counters are empty, so both groups are reached at the draw.
            Assert.That(lines.Where(l => l.StartsWith("wr", StringComparison.Ordinal)).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))),
                Is.EqualTo(new[] { "wrL1 robot Allowed 2026-12-01 02:00:30Z -", "wrL2 robot Allowed 2026-12-01 02:00:30Z -" }));
            Assert.That(lines[^1], Is.EqualTo("2 allowed, 0 delayed, 0 skipped; estimated finish 2026-12-01 02:00:30Z"));
        });
    }

    [Test]
    public async Task The_verbs_exit_1_naming_an_unknown_script_or_lottery()
    {
        using var bot = new BotApp();
        var (seedingExit, _, seedingError) = await RunVerbAsync(bot, ["preflight", "--seeding", "no-such-script"]);
        var (lotteryExit, _, lotteryError) = await RunVerbAsync(bot, ["preflight", "--lottery", "no-such-lottery"]);

        Assert.Multiple(() =>
        {
            Assert.That(seedingExit, Is.EqualTo(1));
            Assert.That(seedingError, Does.Contain("no seeding script named 'no-such-script'"));
            Assert.That(lotteryExit, Is.EqualTo(1));
            Assert.That(lotteryError, Does.Contain("no lottery named 'no-such-lottery'"));
        });
    }

    internal static WebApplicationFactory<Program> OnClock(BotApp bot, FakeTimeProvider time) =>
        bot.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(time)));

    internal static HttpClient AdminClient(WebApplicationFactory<Program> app)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("X-Admin-Key", BotApp.AdminKey);
        return client;
    }

    /// <summary>Takes one unit of every counter the subject passes, as the dispatcher does before it sends.</summary>
    internal static async Task TakeAsync(WebApplicationFactory<Program> app, QuotaSubject subject)
    {
        var limits = app.Services.GetRequiredService<QuotaCatalog>().LimitsFor(subject);
        var decision = await app.Services.GetRequiredService<IQuotaLimiter>().TryAcquireAsync(limits, CancellationToken.None);
        Assert.That(decision.IsAllowed, Is.True, $"taking {subject} was refused: {decision}");
    }

    private static async Task<JsonDocument> GetOkAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return JsonDocument.Parse(body);
    }

    private static List<JsonElement> Posts(JsonElement root, string chatId) =>
        root.GetProperty("posts").EnumerateArray().Where(p => p.GetProperty("chatId").GetString() == chatId).ToList();

    private static (string?, DateTimeOffset, string?, DateTimeOffset, string?) Row(JsonElement post) => (
        post.GetProperty("sender").GetString(),
        post.GetProperty("plannedAt").GetDateTimeOffset(),
        post.GetProperty("status").GetString(),
        post.GetProperty("at").GetDateTimeOffset(),
        post.GetProperty("blockedBy").GetString());

    /// <summary>A lottery open since an hour ago that draws 30 s from <see cref="Morning"/>, announced by a robot.</summary>
    private static void FlashLotteryRules(string rulesPath) =>
        File.WriteAllText(Path.Combine(rulesPath, "flash.yaml"), $$$"""
            lotteries:
              - name: {{{FlashLottery}}}
                groups: ["VIP*"]
                keyword: "快抽"
                opens: "{{{Morning.AddHours(-1):O}}}"
                draws: "{{{Morning.AddSeconds(30):O}}}"
                prizes:
                  - name: "免费拿铁"
                    count: 1
                announce: "「{{lottery.name}}」开奖：{{winners}}"
                channel: robot
                robot_key: "{{{FlashRobotKey}}}"
            """);

    private static async Task EnterFlashLotteryAsync(WebApplicationFactory<Program> app)
    {
        var lotteries = app.Services.GetRequiredService<LotteryService>();
        foreach (var (customer, chat) in new[] { ("wmL1a", "wrL2"), ("wmL1b", "wrL1"), ("wmL1c", "wrL1") })
        {
            Assert.That(await lotteries.EnterAsync(FlashLottery, customer, chat, [], "test", CancellationToken.None), Is.EqualTo(LotteryEntryOutcome.Entered));
        }
    }

    private static async Task<(int? Exit, string[] Lines, string Error)> RunVerbAsync(BotApp bot, string[] args)
    {
        var variables = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Bot"] = $"Data Source={bot.DatabasePath}",
            ["Rules__Path"] = bot.RulesPath,
            ["Redis__Configuration"] = "",
            ["Quotas__MassMessageReceivingRule"] = "OnePerDay",
        };
        var previous = variables.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        int? exit;
        try
        {
            foreach (var (key, value) in variables)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
            exit = await BotCommands.TryRunAsync(args, output, error, new FakeTimeProvider(Morning));
        }
        finally
        {
            foreach (var (key, value) in previous)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }
        return (exit, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), error.ToString());
    }
}
