using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.RateLimiting;

public sealed class QuotaCatalogTests
{
    private static readonly DateTimeOffset November = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);

    private static QuotaCatalog Catalog(QuotaOptions? options = null, DateTimeOffset? now = null) =>
        new(Options.Create(options ?? new QuotaOptions()), new FakeTimeProvider(now ?? November));

    private static QuotaLimit Sliding(string rule, string subject, int limit, TimeSpan window) =>
        new(new QuotaKey(rule, subject), limit, window);

    private static QuotaLimit Calendar(string rule, string subject, int limit, QuotaCalendar period) =>
        QuotaLimit.PerCalendar(new QuotaKey(rule, subject), limit, period)
            with { IsReceivingRule = rule is QuotaRules.GroupMassReceiving or QuotaRules.CustomerMassReceiving
                or QuotaRules.SenderPerGroupPerDay or QuotaRules.SenderPerCustomerPerDay };

    private static QuotaLimit[] ApiLimits(string api) =>
    [
        Sliding(QuotaRules.ApiPerMinute, api, 10_000, TimeSpan.FromMinutes(1)),
        Sliding(QuotaRules.ApiPerHour, api, 150_000, TimeSpan.FromHours(1)),
    ];

    [Test]
    public void Every_api_counts_per_minute_and_per_hour_for_the_corp()
    {
        var limits = Catalog().LimitsFor(new QuotaSubject("externalcontact/get"));

        Assert.That(limits, Is.EquivalentTo(ApiLimits("externalcontact/get")));
    }

    [Test]
    public void Group_mass_message_counts_each_group_and_each_sender_per_group_by_the_receiving_rule()
    {
        var limits = Catalog().LimitsFor(new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "zhangsan", ChatIds: ["wrA", "wrB", "wrA"]));

        Assert.That(limits, Is.EquivalentTo(ApiLimits(QuotaRules.AddMsgTemplate).Concat(
        [
            Calendar(QuotaRules.GroupMassReceiving, "wrA", 1, QuotaCalendar.Day),
            Calendar(QuotaRules.GroupMassReceiving, "wrB", 1, QuotaCalendar.Day),
            Calendar(QuotaRules.SenderPerGroupPerDay, "zhangsan/wrA", 1, QuotaCalendar.Day),
            Calendar(QuotaRules.SenderPerGroupPerDay, "zhangsan/wrB", 1, QuotaCalendar.Day),
        ])));
    }

    [Test]
    public void Customer_mass_message_counts_each_customer_and_each_sender_per_customer()
    {
        var options = new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.SevenPerWeek };

        var limits = Catalog(options).LimitsFor(new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "lisi", ExternalUserIds: ["wmX"]));

        Assert.That(limits, Is.EquivalentTo(ApiLimits(QuotaRules.AddMsgTemplate).Concat(
        [
            Calendar(QuotaRules.CustomerMassReceiving, "wmX", 7, QuotaCalendar.Week),
            // Doc 96997: the member-to-customer cap is relaxed by the same 群发 setting (FACTS §6.3); it was 1/day.
            Calendar(QuotaRules.SenderPerCustomerPerDay, "lisi/wmX", 7, QuotaCalendar.Week),
        ])));
    }

    [Test]
    public void Sender_caps_follow_a_days_in_month_receiving_rule()
    {
        var options = new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.DaysInMonthPerMonth };

        var limits = Catalog(options).LimitsFor(new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "lisi", ChatIds: ["wrA"]))
            .Where(l => l.Key.Rule == QuotaRules.SenderPerGroupPerDay);

        // 23 November 2026 in Shanghai: November has 30 days.
        Assert.That(limits, Is.EqualTo(new[] { Calendar(QuotaRules.SenderPerGroupPerDay, "lisi/wrA", 30, QuotaCalendar.Month) }));
    }

    [Test]
    public async Task Under_seven_per_week_one_sender_reaches_one_customer_seven_times_a_week_and_no_more()
    {
        // Monday 2026-11-23 10:00 in Shanghai; the week ends Sunday midnight.
        var time = new FakeTimeProvider(November);
        var options = Options.Create(new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.SevenPerWeek });
        var catalog = new QuotaCatalog(options, time);
        using var limiter = new InProcessQuotaLimiter(options, time);
        var subject = new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "lisi", ExternalUserIds: ["wmX"]);

        var allowed = 0;
        for (var i = 0; i < 7; i++)
        {
            allowed += (await limiter.TryAcquireAsync(catalog.LimitsFor(subject), CancellationToken.None)).IsAllowed ? 1 : 0;
            time.Advance(TimeSpan.FromHours(2)); // all on Monday: a 1/day sender cap would let only the first through
        }
        var eighth = await limiter.TryAcquireAsync(catalog.LimitsFor(subject), CancellationToken.None);

        Assert.That(allowed, Is.EqualTo(7));
        Assert.That(eighth.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(eighth.RetryAfter, Is.EqualTo(new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.FromHours(8)) - time.GetUtcNow()));
    }

    [TestCase("2026-11-23T10:00:00+08:00", 30)]
    [TestCase("2026-12-31T23:30:00+08:00", 31)]
    [TestCase("2027-02-28T23:30:00+08:00", 28)]
    [TestCase("2028-02-01T00:00:00+08:00", 29)]
    [TestCase("2026-11-30T16:30:00+00:00", 31)] // already 1 December in Shanghai
    public void Days_in_month_rule_allows_as_many_messages_as_the_month_in_Shanghai_has_days(string now, int days)
    {
        var options = new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.DaysInMonthPerMonth };
        var catalog = Catalog(options, DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));

        var limits = catalog.LimitsFor(new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "s", ChatIds: ["wrA"]));

        Assert.That(limits, Does.Contain(Calendar(QuotaRules.GroupMassReceiving, "wrA", days, QuotaCalendar.Month)));
    }

    [Test]
    public void Robot_webhook_counts_20_per_minute_per_robot_under_a_digest_of_its_key()
    {
        const string robotKey = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";

        var limits = Catalog().LimitsFor(new QuotaSubject(QuotaRules.WebhookSend, RobotKey: robotKey));
        var other = Catalog().LimitsFor(new QuotaSubject(QuotaRules.WebhookSend, RobotKey: robotKey + "b"));

        var robot = limits.Single(l => l.Key.Rule == QuotaRules.RobotPerMinute);
        Assert.That(robot.Limit, Is.EqualTo(20));
        Assert.That(robot.Window, Is.EqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(robot.Key.Subject, Does.Not.Contain(robotKey[..8]), "the webhook key is a credential");
        Assert.That(robot.Key.Subject, Has.Length.EqualTo(16));
        Assert.That(other.Single(l => l.Key.Rule == QuotaRules.RobotPerMinute).Key, Is.Not.EqualTo(robot.Key));
        Assert.That(limits, Has.Count.EqualTo(3));
    }

    [Test]
    public void App_message_counts_per_recipient_30_per_minute_and_1000_per_hour()
    {
        var limits = Catalog().LimitsFor(new QuotaSubject(QuotaRules.MessageSend, AppRecipient: "wangwu"));

        Assert.That(limits, Is.EquivalentTo(ApiLimits(QuotaRules.MessageSend).Concat(
        [
            Sliding(QuotaRules.AppMessagePerMinute, "wangwu", 30, TimeSpan.FromMinutes(1)),
            Sliding(QuotaRules.AppMessagePerHour, "wangwu", 1_000, TimeSpan.FromHours(1)),
        ])));
    }

    [Test]
    public void Tag_edits_start_at_most_5_per_second_per_api_and_one_per_second_per_customer()
    {
        var limits = Catalog().LimitsFor(new QuotaSubject(QuotaRules.MarkTag, Sender: "zhangsan", ExternalUserIds: ["wmX"]));

        Assert.That(limits, Is.EquivalentTo(ApiLimits(QuotaRules.MarkTag).Concat(
        [
            Sliding(QuotaRules.ApiConcurrency, QuotaRules.MarkTag, 5, TimeSpan.FromSeconds(1)),
            Sliding(QuotaRules.CustomerTagEdit, "wmX", 1, TimeSpan.FromSeconds(1)),
        ])));
    }

    [Test]
    public void A_configured_rule_replaces_the_built_in_one_and_a_disabled_rule_is_dropped()
    {
        var options = new QuotaOptions
        {
            Rules =
            {
                [QuotaRules.ApiPerMinute] = new QuotaRuleOptions { Key = "{api}", Limit = 2_000, Window = "00:01:00" },
                [QuotaRules.ApiPerHour] = new QuotaRuleOptions { Enabled = false },
                ["sender-per-day"] = new QuotaRuleOptions { Key = "{sender}", Limit = 50, Window = "Day", Apis = ["externalcontact/send_welcome_msg"] },
            },
        };

        var limits = Catalog(options).LimitsFor(new QuotaSubject("externalcontact/send_welcome_msg", Sender: "zhangsan"));

        Assert.That(limits, Is.EquivalentTo(new[]
        {
            Sliding(QuotaRules.ApiPerMinute, "externalcontact/send_welcome_msg", 2_000, TimeSpan.FromMinutes(1)),
            Calendar("sender-per-day", "zhangsan", 50, QuotaCalendar.Day),
        }));
    }

    [Test]
    public void The_parameterless_catalog_uses_the_built_in_rules()
    {
        Assert.That(new QuotaCatalog().LimitsFor(new QuotaSubject("user/get")), Is.EquivalentTo(ApiLimits("user/get")));
    }
}
