using Bot.Core.RateLimiting;
using Bot.Core.Groups;
using Bot.Core.Campaigns.Seeding;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Seeding;

public sealed class SeedingTests
{
    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
    private static readonly QuotaCalendarClock WeComCalendar = QuotaCalendarClock.From(new QuotaOptions());

    // 2026-11-28 10:00 in Shanghai.
    private static readonly DateTimeOffset Morning = new(2026, 11, 28, 10, 0, 0, TimeSpan.FromHours(8));

    private TempDatabase _db = null!;
    private FakeTimeProvider _time = null!;
    private List<SeedingPostDue> _sent = null!;

    [SetUp]
    public async Task SetUp()
    {
        _db = await TempDatabase.CreateAsync();
        _time = new FakeTimeProvider(Morning);
        _sent = [];
    }

    [TearDown]
    public async Task TearDown() => await _db.DisposeAsync();

    private static SeedingScript VipWarmUp(QuietHours? quiet = null, TimeSpan? jitter = null) => new(
        "vip-warm-up",
        ["VIP*"],
        SeedingStart.GroupCreated,
        quiet ?? new QuietHours(new TimeOnly(22, 0), new TimeOnly(8, 0)),
        jitter ?? TimeSpan.FromMinutes(3),
        [
            new SeedingStep(TimeSpan.FromMinutes(10), "trumpet01", "有人试过新出的桂花拿铁吗？"),
            new SeedingStep(TimeSpan.FromMinutes(14), "trumpet02", "试过了，很香！"),
        ],
        name => name.StartsWith("VIP", StringComparison.Ordinal));

    private (SeedingService Service, SeedingWorker Worker, SeedingStore Store) Host(MassMessageReceivingRule rule = MassMessageReceivingRule.DaysInMonthPerMonth, int randomSeed = 7, Bot.Core.Storage.BotDatabase? database = null)
    {
        var options = Options.Create(new SeedingOptions { OverdueGrace = TimeSpan.FromMinutes(15) });
        var store = new SeedingStore(database ?? _db.Database);
        var service = new SeedingService(store, Options.Create(new Bot.Core.Rules.RulesOptions()), Options.Create(new QuotaOptions { MassMessageReceivingRule = rule }), _time, new SeedingRandom(new Random(randomSeed)), NullLogger<SeedingService>.Instance);
        var groups = new CustomerGroupStore(database ?? _db.Database, _time);
        SeedingPostSink sink = (post, _) =>
        {
            lock (_sent)
            {
                _sent.Add(post);
            }
            return Task.CompletedTask;
        };
        var worker = new SeedingWorker(service, store, groups, sink, options, _time, NullLogger<SeedingWorker>.Instance);
        return (service, worker, store);
    }

    [Test]
    public void Jittered_steps_stay_within_bounds_and_in_order()
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var posts = SeedingPlanner.Plan(VipWarmUp(), Morning, Shanghai, WeComCalendar, MassMessageReceivingRule.DaysInMonthPerMonth, [], random.NextDouble);
            Assert.That(posts, Has.Count.EqualTo(2));
            Assert.That(posts[0].DueAt, Is.InRange(Morning.AddMinutes(7), Morning.AddMinutes(13)));
            Assert.That(posts[1].DueAt, Is.InRange(Morning.AddMinutes(11), Morning.AddMinutes(17)));
            Assert.That(posts[1].DueAt - posts[0].DueAt, Is.GreaterThanOrEqualTo(SeedingPlanner.MinimumGap), $"seed {seed}");
        }
    }

    [Test]
    public void A_post_due_in_quiet_hours_waits_until_they_end()
    {
        var lateEvening = new DateTimeOffset(2026, 11, 28, 21, 55, 0, TimeSpan.FromHours(8));
        var posts = SeedingPlanner.Plan(VipWarmUp(jitter: TimeSpan.Zero), lateEvening, Shanghai, WeComCalendar, MassMessageReceivingRule.DaysInMonthPerMonth, [], () => 0.5);

        Assert.That(posts[0].DueAt, Is.EqualTo(new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.FromHours(8))));
        Assert.That(posts[0].Note, Does.Contain("quiet hours"));
        Assert.That(posts[1].DueAt, Is.EqualTo(new DateTimeOffset(2026, 11, 29, 8, 1, 0, TimeSpan.FromHours(8))), "order and gap kept");
    }

    [Test]
    public void Under_a_one_per_day_rule_a_two_step_script_spreads_over_two_days_and_says_so()
    {
        var posts = SeedingPlanner.Plan(VipWarmUp(jitter: TimeSpan.Zero), Morning, Shanghai, WeComCalendar, MassMessageReceivingRule.OnePerDay, [], () => 0.5);

        Assert.That(posts[0].DueAt, Is.EqualTo(Morning.AddMinutes(10)));
        Assert.That(posts[1].DueAt, Is.EqualTo(new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.FromHours(8))),
            "midnight is inside quiet hours, so the next day's slot opens when they end");
        Assert.That(posts[1].Note, Does.Contain("receiving rule"));
    }

    [Test]
    public void Another_mass_message_already_planned_that_day_pushes_the_first_post_to_the_next_day()
    {
        var posts = SeedingPlanner.Plan(VipWarmUp(jitter: TimeSpan.Zero), Morning, Shanghai, WeComCalendar, MassMessageReceivingRule.OnePerDay,
            [Morning.AddHours(5)], () => 0.5);

        Assert.That(posts[0].DueAt.Date, Is.EqualTo(new DateTime(2026, 11, 29)));
        Assert.That(posts[1].DueAt.Date, Is.EqualTo(new DateTime(2026, 11, 30)));
    }

    [Test]
    public void Receiving_days_are_wecoms_even_when_the_stores_local_time_zone_differs()
    {
        // Stores on UTC; WeCom counts days in Shanghai. 15:00 UTC is 23:00 in Shanghai, 16:30 UTC is 00:30 the next day:
        // the same local day, two different receiving days.
        var utc = TimeZoneInfo.Utc;
        var start = new DateTimeOffset(2026, 11, 28, 16, 20, 0, TimeSpan.Zero);
        var script = VipWarmUp(jitter: TimeSpan.Zero) with { Posts = [new SeedingStep(TimeSpan.FromMinutes(10), "trumpet01", "早")] };

        var posts = SeedingPlanner.Plan(script, start, utc, WeComCalendar, MassMessageReceivingRule.OnePerDay,
            [new DateTimeOffset(2026, 11, 28, 15, 0, 0, TimeSpan.Zero)], () => 0.5);

        Assert.That(posts.Single().DueAt, Is.EqualTo(start.AddMinutes(10)));
        Assert.That(posts.Single().Note, Is.Null);
    }

    [Test]
    public void A_robot_channel_script_is_not_spread_by_the_receiving_rule()
    {
        var robot = VipWarmUp(jitter: TimeSpan.Zero) with { CountsAgainstReceivingRule = false };

        var posts = SeedingPlanner.Plan(robot, Morning, Shanghai, WeComCalendar, MassMessageReceivingRule.OnePerDay,
            [Morning.AddHours(5)], () => 0.5);

        Assert.That(posts.Select(p => p.DueAt), Is.EqualTo(new[] { Morning.AddMinutes(10), Morning.AddMinutes(14) }));
    }

    [Test]
    public async Task Steps_fire_in_order_when_due_and_the_group_created_retry_starts_nothing_more()
    {
        var (service, worker, store) = Host();
        await service.UpdateScripts([VipWarmUp()], CancellationToken.None);

        Assert.That(await service.OnGroupCreatedAsync("wrVIP1", "VIP 静安店", Morning, CancellationToken.None), Is.EqualTo(1));
        Assert.That(await service.OnGroupCreatedAsync("wrVIP1", "VIP 静安店", Morning, CancellationToken.None), Is.EqualTo(0), "a WeCom retry of the create event");
        Assert.That(await service.OnGroupCreatedAsync("wrOther", "普通群", Morning, CancellationToken.None), Is.EqualTo(0), "group name does not match");

        await worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent, Is.Empty, "nothing is due yet");

        var schedule = await store.GetScheduleAsync("wrVIP1", CancellationToken.None);
        _time.SetUtcNow(schedule[0].Due);
        await worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent.Select(p => p.Step), Is.EqualTo(new[] { 0 }));
        Assert.That(_sent[0].Sender, Is.EqualTo("trumpet01"));

        _time.SetUtcNow(schedule[1].Due);
        await worker.RunOnceAsync(CancellationToken.None);
        await worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent.Select(p => p.Step), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(_sent.Select(p => p.IdempotencyKey).Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_restart_neither_loses_nor_repeats_a_post()
    {
        var first = Host();
        await first.Service.UpdateScripts([VipWarmUp()], CancellationToken.None);
        await first.Service.OnGroupCreatedAsync("wrVIP1", "VIP 静安店", Morning, CancellationToken.None);
        var schedule = await first.Store.GetScheduleAsync("wrVIP1", CancellationToken.None);
        _time.SetUtcNow(schedule[0].Due);
        await first.Worker.RunOnceAsync(CancellationToken.None);

        // A new process on the same database: the scripts come from the rules again.
        var second = Host(database: _db.OpenAnother());
        await second.Service.UpdateScripts([VipWarmUp()], CancellationToken.None);
        await second.Worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent, Has.Count.EqualTo(1), "step 0 is not repeated");

        _time.SetUtcNow(schedule[1].Due);
        await second.Worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent.Select(p => p.Step), Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public async Task A_post_overdue_beyond_the_grace_after_downtime_is_skipped_not_fired()
    {
        var (service, worker, store) = Host();
        await service.UpdateScripts([VipWarmUp()], CancellationToken.None);
        await service.OnGroupCreatedAsync("wrVIP1", "VIP 静安店", Morning, CancellationToken.None);

        _time.Advance(TimeSpan.FromHours(3));
        await worker.RunOnceAsync(CancellationToken.None);

        Assert.That(_sent, Is.Empty);
        var schedule = await store.GetScheduleAsync("wrVIP1", CancellationToken.None);
        Assert.That(schedule.Select(p => p.State), Is.All.EqualTo(SeedingPostState.Skipped));
        Assert.That(schedule[0].Note, Does.Contain("overdue"));
    }

    [TestCase("dismissed")]
    [TestCase("trumpet-left")]
    [TestCase("script-removed")]
    public async Task Remaining_posts_stop_when_the_run_cannot_go_on(string cause)
    {
        var (service, worker, store) = Host();
        await service.UpdateScripts([VipWarmUp()], CancellationToken.None);
        await service.OnGroupCreatedAsync("wrVIP1", "VIP 静安店", Morning, CancellationToken.None);
        var schedule = await store.GetScheduleAsync("wrVIP1", CancellationToken.None);
        _time.SetUtcNow(schedule[0].Due);
        await worker.RunOnceAsync(CancellationToken.None);

        switch (cause)
        {
            case "dismissed":
                await service.OnGroupDismissedAsync("wrVIP1", CancellationToken.None);
                break;
            case "trumpet-left":
                await service.OnMembersLeftAsync("wrVIP1", ["trumpet02"], CancellationToken.None);
                break;
            default:
                await service.UpdateScripts([], CancellationToken.None);
                break;
        }

        _time.SetUtcNow(schedule[1].Due);
        await worker.RunOnceAsync(CancellationToken.None);
        Assert.That(_sent.Select(p => p.Step), Is.EqualTo(new[] { 0 }));
        var after = await store.GetScheduleAsync("wrVIP1", CancellationToken.None);
        Assert.That(after[1].State, Is.EqualTo(SeedingPostState.Stopped));
        Assert.That(after[1].Note, Is.Not.Empty);
    }

    [Test]
    public async Task A_cron_scheduled_script_starts_in_every_live_matching_group()
    {
        var (service, worker, store) = Host();
        var groups = new CustomerGroupStore(_db.Database, _time);
        await groups.UpsertAsync("wrVIP1", "VIP 静安店", "owner1", CancellationToken.None);
        await groups.UpsertAsync("wrVIP2", "VIP 徐汇店", "owner2", CancellationToken.None);
        await groups.UpsertAsync("wrPlain", "普通群", "owner3", CancellationToken.None);
        await groups.UpsertAsync("wrGone", "VIP 旧群", "owner4", CancellationToken.None);
        await groups.MarkDismissedAsync("wrGone", CancellationToken.None);
        var weekly = VipWarmUp() with { Name = "friday-evening", Start = SeedingStart.Schedule("0 0 19 * * FRI") };
        await service.UpdateScripts([weekly], CancellationToken.None);

        await worker.RunOnceAsync(CancellationToken.None); // learns the next occurrence: Friday 2026-12-04 19:00
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 4, 19, 0, 0, TimeSpan.FromHours(8)));
        await worker.RunOnceAsync(CancellationToken.None);

        var schedule = await store.GetScheduleAsync(null, CancellationToken.None);
        Assert.That(schedule.Select(p => p.ChatId).Distinct(), Is.EquivalentTo(new[] { "wrVIP1", "wrVIP2" }));
    }
}
