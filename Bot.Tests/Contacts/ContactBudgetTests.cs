using Bot.Tests.EndToEnd;
using System.Net;
using System.Net.Http.Json;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Tests.Fixtures;
using Bot.Tests.Outbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Contacts;

/// <summary>
/// The weekly contact budget per customer and per group: through the real host (admin API, dispatcher, limiter, WeCom
/// stub), and with two dispatchers sharing a real Redis. The receiving rule is set to days-in-month and every broadcast
/// has its own sender, so that the budget is the only counter that can hold a later message.
/// </summary>
[NonParallelizable] // The CLI reads its configuration from the process environment, as in production.
public sealed class ContactBudgetTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Test]
    public async Task Over_the_customer_budget_a_dropping_kind_is_dropped_visibly_and_never_reaches_wecom()
    {
        using var app = new BotApp(settings: Settings(new()
        {
            ["ContactBudget:PerCustomerPerWeek"] = "1",
            ["ContactBudget:Kinds:broadcast"] = "Drop",
        }));
        GivenAddMsgTemplate(app);

        var one = await BroadcastAsync(app, "guide01", 1, "wmBUDGET01", "wmBUDGET02");
        await WaitForAsync(app, one, items => items.Count == 2 && items.All(i => i.State == OutboxState.Sent));
        var two = await BroadcastAsync(app, "guide02", 1, "wmBUDGET01", "wmBUDGET03");
        var items = await WaitForAsync(app, two, items => items.Count == 2 && items.All(i => i.State is OutboxState.Sent or OutboxState.Failed));

        var dropped = items.Single(i => i.Target == "wmBUDGET01");
        using var admin = app.CreateAdminClient();
        var explained = await admin.GetStringAsync("/admin/customers/wmBUDGET01/explain");
        Assert.Multiple(() =>
        {
            Assert.That(dropped.State, Is.EqualTo(OutboxState.Failed));
            Assert.That(dropped.LastError, Is.EqualTo($"{OutboxDispatcher.OverContactBudget} ({ContactBudgetOptions.CustomerRule}:wmBUDGET01)"));
            Assert.That(explained, Does.Contain(OutboxDispatcher.OverContactBudget), "the operator sees why in explain");
            Assert.That(items.Single(i => i.Target == "wmBUDGET03").State, Is.EqualTo(OutboxState.Sent));
            var second = Bodies(app).Where(b => b.Contains("guide02", StringComparison.Ordinal)).ToList();
            Assert.That(second, Has.Count.EqualTo(1), "only the in-budget customer of the second broadcast reached WeCom");
            Assert.That(second[0], Does.Contain("wmBUDGET03").And.Not.Contain("wmBUDGET01"));
        });
    }

    [Test]
    public async Task Pre_flight_over_http_and_the_cli_shows_a_spent_customer_budget_as_skipped_until_next_week()
    {
        var settings = Settings(new()
        {
            ["Redis:Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
            ["ContactBudget:PerCustomerPerWeek"] = "1",
        });
        using var app = new BotApp(settings: settings);
        Assert.That(app.Service<IQuotaLimiter>(), Is.InstanceOf<RedisQuotaLimiter>());
        GivenAddMsgTemplate(app);
        var sent = await BroadcastAsync(app, "guide01", 1, "wmPREFLIGHT1");
        await WaitForAsync(app, sent, items => items.Count == 1 && items.All(i => i.State == OutboxState.Sent));

        using var admin = app.CreateAdminClient();
        using var response = await admin.PostAsJsonAsync("/admin/broadcasts/preflight", new
        {
            name = "next", text = "下周见", targetKind = 1, sender = "guide02", targets = new[] { "wmPREFLIGHT1", "wmPREFLIGHT2" },
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var report = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var targets = report.RootElement.GetProperty("targets").EnumerateArray().ToDictionary(t => t.GetProperty("target").GetString()!);

        var cli = await RunCliAsync(settings, ["preflight", "--customers", "wmPREFLIGHT1,wmPREFLIGHT2", "--sender", "guide02"]);

        Assert.Multiple(() =>
        {
            var spent = targets["wmPREFLIGHT1"];
            Assert.That(spent.GetProperty("status").GetString(), Is.EqualTo("Skipped"));
            Assert.That(spent.GetProperty("blockedBy").GetString(), Is.EqualTo(ContactBudgetOptions.CustomerRule));
            Assert.That(spent.GetProperty("at").GetDateTimeOffset(), Is.EqualTo(NextMondayInShanghai(DateTimeOffset.UtcNow)).Within(TimeSpan.FromSeconds(5)));
            Assert.That(targets["wmPREFLIGHT2"].GetProperty("status").GetString(), Is.EqualTo("Allowed"));
            Assert.That(cli.Exit, Is.EqualTo(0));
            Assert.That(cli.Lines.Single(l => l.StartsWith("wmPREFLIGHT1", StringComparison.Ordinal)),
                Does.Contain("Skipped").And.EndWith(ContactBudgetOptions.CustomerRule), "the CLI reads the same shared counters");
            Assert.That(cli.Lines.Single(l => l.StartsWith("wmPREFLIGHT2", StringComparison.Ordinal)), Does.Contain("Allowed"));
        });
    }

    [Test]
    public async Task Two_dispatchers_sharing_redis_spend_one_budget_per_customer()
    {
        var time = TimeProvider.System;
        await using var rig = await OutboxRig.CreateAsync(time);
        var sender = new RecordingSender(time);
        var quotas = new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.DaysInMonthPerMonth };
        var catalog = new QuotaCatalog(Options.Create(quotas), time);
        var options = new ContactBudgetOptions { PerCustomerPerWeek = 2 };
        options.Kinds[OutboxKinds.Broadcast] = OverBudget.Drop;
        var budget = new ContactBudget(Options.Create(options));
        var redisOptions = new RedisOptions { Configuration = RedisTestServer.Shared.Configuration, KeyPrefix = RedisTestServer.NewPrefix() };
        var connections = new List<ConnectionMultiplexer>();
        try
        {
            var instances = new[] { rig.Instance, rig.NewInstance() };
            foreach (var instance in instances)
            {
                var connection = await ConnectionMultiplexer.ConnectAsync(RedisTestServer.Shared.Configuration);
                connections.Add(connection);
                var limiter = new RedisQuotaLimiter(connection, Options.Create(redisOptions), Options.Create(quotas), time,
                    NullLogger<RedisQuotaLimiter>.Instance);
                await rig.StartDispatcherAsync(sender, limiter, instance: instance, catalog: catalog, budget: budget);
            }

            // Six senders each broadcast once to the same customer, written through both instances.
            for (var i = 0; i < 6; i++)
            {
                await instances[i % 2].Writer.EnqueueAsync(new OutboxRequest
                {
                    Kind = OutboxKinds.Broadcast,
                    Target = "wmSHARED01",
                    ExternalUserId = "wmSHARED01",
                    Payload = "{}",
                    IdempotencyKey = $"budget-shared-{i}",
                    QuotaSubject = new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: $"guide{i}", ExternalUserIds: ["wmSHARED01"]),
                }, CancellationToken.None);
            }

            // Wait until all six are settled: reading the sent ones as soon as four had failed raced the last send.
            var (sent, failed) = await Eventually.UntilAsync(
                async () => (Sent: await rig.Store.ListByStateAsync(OutboxState.Sent, 10, CancellationToken.None),
                    Failed: await rig.Store.ListByStateAsync(OutboxState.Failed, 10, CancellationToken.None)),
                settled => settled.Sent.Count + settled.Failed.Count == 6,
                settled => $"{settled.Sent.Count} sent and {settled.Failed.Count} failed of 6", Timeout);
            Assert.Multiple(() =>
            {
                Assert.That(sent, Has.Count.EqualTo(2), "the budget is one count in Redis, not one per dispatcher");
                Assert.That(sender.Calls, Has.Count.EqualTo(2));
                Assert.That(failed, Has.Count.EqualTo(4));
                Assert.That(failed.Select(i => i.LastError), Is.All.StartWith(OutboxDispatcher.OverContactBudget));
            });
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task Over_the_group_budget_a_waiting_kind_waits_for_next_week_and_is_not_sent()
    {
        using var app = new BotApp(settings: Settings(new() { ["ContactBudget:PerGroupPerWeek"] = "1" }));
        GivenAddMsgTemplate(app);

        var one = await BroadcastAsync(app, "guide01", 0, "wrBUDGETG1");
        await WaitForAsync(app, one, items => items.Count == 1 && items.All(i => i.State == OutboxState.Sent));
        var two = await BroadcastAsync(app, "guide02", 0, "wrBUDGETG1", "wrBUDGETG2");
        var items = await WaitForAsync(app, two, items =>
            items.Any(i => i.Target == "wrBUDGETG2" && i.State == OutboxState.Sent)
            && items.Any(i => i.Target == "wrBUDGETG1" && i.State == OutboxState.Pending && i.NextAttemptAt > DateTimeOffset.UtcNow.AddSeconds(2)));

        var held = items.Single(i => i.Target == "wrBUDGETG1");
        Assert.Multiple(() =>
        {
            Assert.That(held.State, Is.EqualTo(OutboxState.Pending));
            Assert.That(held.NextAttemptAt, Is.EqualTo(NextMondayInShanghai(DateTimeOffset.UtcNow)).Within(TimeSpan.FromSeconds(5)));
            Assert.That(Bodies(app).Count(b => b.Contains("wrBUDGETG1", StringComparison.Ordinal)), Is.EqualTo(1));
        });
    }

    [Test]
    public void Budgeted_kinds_spend_one_counter_per_customer_and_group_and_answers_spend_none()
    {
        var budget = new ContactBudget(Options.Create(new ContactBudgetOptions { PerCustomerPerWeek = 2, PerGroupPerWeek = 5 }));

        var toCustomer = budget.LimitsFor(OutboxKinds.Broadcast, "wmA", OutboxKinds.TargetsGroup(OutboxKinds.Broadcast), "wmA", new QuotaSubject(QuotaRules.AddMsgTemplate, "guide01", ExternalUserIds: ["wmA"]));
        var robotPost = budget.LimitsFor(OutboxKinds.LotteryAnnouncement, "wrG", OutboxKinds.TargetsGroup(OutboxKinds.LotteryAnnouncement), null, new QuotaSubject(QuotaRules.WebhookSend, RobotKey: "k"));
        var welcome = budget.LimitsFor(OutboxKinds.Welcome, "wmA", OutboxKinds.TargetsGroup(OutboxKinds.Welcome), "wmA", new QuotaSubject("externalcontact/send_welcome_msg", "guide01", ExternalUserIds: ["wmA"]));
        var reply = budget.LimitsFor(OutboxKinds.Reply, "wmA", OutboxKinds.TargetsGroup(OutboxKinds.Reply), "wmA", new QuotaSubject(QuotaRules.MessageSend, AppRecipient: "wmA"));
        var exempting = new ContactBudgetOptions();
        exempting.Kinds[OutboxKinds.SeedingPost] = OverBudget.Exempt;
        var seeding = new ContactBudget(Options.Create(exempting))
            .LimitsFor(OutboxKinds.SeedingPost, "wrG", OutboxKinds.TargetsGroup(OutboxKinds.SeedingPost), null, new QuotaSubject(QuotaRules.AddMsgTemplate, "trumpet01", ChatIds: ["wrG"]));

        Assert.Multiple(() =>
        {
            Assert.That(toCustomer, Is.EqualTo(new[]
            {
                QuotaLimit.PerCalendar(new QuotaKey(ContactBudgetOptions.CustomerRule, "wmA"), 2, QuotaCalendar.Week),
            }));
            Assert.That(robotPost, Is.EqualTo(new[]
            {
                QuotaLimit.PerCalendar(new QuotaKey(ContactBudgetOptions.GroupRule, "wrG"), 5, QuotaCalendar.Week),
            }), "a robot post names no chat in its quota subject, yet spends its group's budget");
            Assert.That(welcome, Is.Empty);
            Assert.That(reply, Is.Empty);
            Assert.That(seeding, Is.Empty, "a default kind set to Exempt spends nothing");
        });
    }

    [Test]
    public void Configuration_adds_kinds_and_cannot_budget_the_welcome()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ContactBudget:Kinds:reply"] = "Drop",
            ["ContactBudget:Kinds:welcome"] = "Wait",
        });
        builder.AddContacts();
        using var host = builder.Build();

        var error = Assert.Throws<OptionsValidationException>(() => _ = host.Services.GetRequiredService<IOptions<ContactBudgetOptions>>().Value);
        Assert.That(error!.Message, Does.Contain("ContactBudget:Kinds:welcome cannot be budgeted"));

        var options = new ContactBudgetOptions();
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kinds:reply"] = "Drop" }).Build().Bind(options);
        Assert.That(options.Kinds, Does.ContainKey(OutboxKinds.Broadcast).And.ContainKey(OutboxKinds.Reply));
        Assert.That(options.Kinds[OutboxKinds.Reply], Is.EqualTo(OverBudget.Drop));
    }

    private static Dictionary<string, string?> Settings(Dictionary<string, string?> extra)
    {
        extra["Quotas:MassMessageReceivingRule"] = nameof(MassMessageReceivingRule.DaysInMonthPerMonth);
        return extra;
    }

    private static void GivenAddMsgTemplate(BotApp app)
    {
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgBUDGET", fail_list = Array.Empty<string>() }));
        // The bot reads each group's owner (groupchat/get) before its task: WeCom gives it only to the owner.
        FakeWeCom.StubGroupOwners(app.WeCom);
    }

    private static List<string> Bodies(BotApp app) => app.WeCom.LogEntries
        .Where(e => e.RequestMessage?.Path == "/cgi-bin/externalcontact/add_msg_template")
        .Select(e => e.RequestMessage!.Body ?? "").ToList();

    private static async Task<long> BroadcastAsync(BotApp app, string sender, int targetKind, params string[] targets)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = $"budget-{sender}", text = "本周新品", targetKind, sender, targets,
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        return (await response.Content.ReadFromJsonAsync<BroadcastSummary>())!.Id;
    }

    /// <summary>The broadcast's items that are pending, sent or failed (one being sent is in none of these lists).</summary>
    private static Task<IReadOnlyList<RecipientView>> WaitForAsync(BotApp app, long broadcastId, Func<IReadOnlyList<RecipientView>, bool> done) =>
        BroadcastRecipients.WaitForAsync(app, broadcastId, done, Timeout);

    /// <summary>Runs a verb as production does: configuration from the process environment.</summary>
    private static async Task<(int? Exit, string[] Lines)> RunCliAsync(Dictionary<string, string?> settings, string[] args)
    {
        var variables = settings.ToDictionary(p => p.Key.Replace(":", "__", StringComparison.Ordinal), p => p.Value);
        var previous = variables.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        using var output = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        int? exit;
        try
        {
            foreach (var (key, value) in variables)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
            exit = await Bot.Host.Cli.BotCommands.TryRunAsync(args, output, TextWriter.Null, TimeProvider.System);
        }
        finally
        {
            foreach (var (key, value) in previous)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }
        return (exit, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static DateTimeOffset NextMondayInShanghai(DateTimeOffset now)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var monday = local.Date.AddDays(7 - (((int)local.DayOfWeek + 6) % 7));
        return new DateTimeOffset(monday, zone.GetUtcOffset(monday));
    }
}
