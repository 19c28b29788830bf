using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.RateLimiting;

/// <summary>
/// The semantics both limiters must share. Derived fixtures supply the implementation; every test uses its own keys.
/// </summary>
public abstract class QuotaLimiterContractTests
{
    // Monday 2026-11-23 10:00 in Asia/Shanghai, on a whole second so sliding buckets start with it.
    protected static readonly DateTimeOffset Monday10AmShanghai = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);

    protected FakeTimeProvider Time { get; private set; } = null!;

    protected abstract IQuotaLimiter CreateLimiter(FakeTimeProvider time, QuotaOptions options);

    protected IQuotaLimiter CreateLimiter() => CreateLimiter(Time, new QuotaOptions());

    [SetUp]
    public void CreateClock() => Time = new FakeTimeProvider(Monday10AmShanghai);

    protected static QuotaKey NewKey(string rule = "test") => new(rule, Guid.NewGuid().ToString("N"));

    [Test]
    public async Task Limit_reached_answers_wait_until_the_oldest_unit_leaves_the_window()
    {
        var limiter = CreateLimiter();
        var limit = new QuotaLimit(NewKey(), 3, TimeSpan.FromMinutes(1));

        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);

        var refused = await AcquireAsync(limiter, limit);
        Assert.That(refused.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(refused.BlockedBy, Is.EqualTo(limit.Key));
        // The two units of second 0 count for the whole window plus their one-second bucket: 61 s after second 0.
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(41)));

        Time.Advance(TimeSpan.FromSeconds(41) - TimeSpan.FromMilliseconds(1));
        Assert.That((await AcquireAsync(limiter, limit)).RetryAfter, Is.EqualTo(TimeSpan.FromMilliseconds(1)));

        Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        var next = await AcquireAsync(limiter, limit);
        Assert.That(next.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(next.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(20)), "the unit of second 20 leaves at second 81");
    }

    [Test]
    public async Task No_interval_of_one_window_ever_holds_more_than_the_limit()
    {
        var limiter = CreateLimiter();
        var limit = new QuotaLimit(NewKey(), 20, TimeSpan.FromMinutes(1));
        var allowedAt = new List<DateTimeOffset>();

        for (var step = 0; step < 3 * 60 * 4; step++)
        {
            if ((await AcquireAsync(limiter, limit)).IsAllowed)
            {
                allowedAt.Add(Time.GetUtcNow());
            }
            Time.Advance(TimeSpan.FromMilliseconds(250));
        }

        for (var i = 0; i + limit.Limit < allowedAt.Count; i++)
        {
            Assert.That(allowedAt[i + limit.Limit] - allowedAt[i], Is.GreaterThanOrEqualTo(limit.Window),
                $"{limit.Limit + 1} units within one window, from {allowedAt[i]:O}");
        }
        // Three minutes hold three windows of 20, less at most one bucket of slack per window.
        Assert.That(allowedAt, Has.Count.InRange(58, 60));
    }

    [Test]
    public async Task Calendar_day_rolls_over_at_midnight_in_Shanghai_and_not_at_midnight_UTC()
    {
        var limiter = CreateLimiter();
        var limit = QuotaLimit.PerCalendar(NewKey(), 1, QuotaCalendar.Day);

        Time.SetUtcNow(new DateTimeOffset(2026, 11, 23, 23, 59, 0, TimeSpan.Zero)); // 07:59 on the 24th in Shanghai
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Time.Advance(TimeSpan.FromMinutes(2)); // past midnight UTC
        var refused = await AcquireAsync(limiter, limit);
        Assert.That(refused.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromHours(16) - TimeSpan.FromMinutes(1)), "until 00:00 on the 25th in Shanghai");

        Time.SetUtcNow(new DateTimeOffset(2026, 11, 24, 15, 59, 59, TimeSpan.Zero)); // 23:59:59 in Shanghai
        Assert.That((await AcquireAsync(limiter, limit)).RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
    }

    [TestCase(MassMessageReceivingRule.OnePerDay, "2026-11-25T10:00:00+08:00", 1, "2026-11-26T00:00:00+08:00")]
    [TestCase(MassMessageReceivingRule.SevenPerWeek, "2026-11-25T10:00:00+08:00", 7, "2026-11-30T00:00:00+08:00")]
    [TestCase(MassMessageReceivingRule.SevenPerWeek, "2026-11-29T23:00:00+08:00", 7, "2026-11-30T00:00:00+08:00")]
    [TestCase(MassMessageReceivingRule.DaysInMonthPerMonth, "2026-11-25T10:00:00+08:00", 30, "2026-12-01T00:00:00+08:00")]
    [TestCase(MassMessageReceivingRule.DaysInMonthPerMonth, "2028-02-10T10:00:00+08:00", 29, "2028-03-01T00:00:00+08:00")]
    public async Task Receiving_rule_caps_each_customer_group_per_calendar_period_in_Shanghai(
        MassMessageReceivingRule rule, string now, int expected, string nextPeriod)
    {
        Time.SetUtcNow(DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));
        var options = new QuotaOptions { MassMessageReceivingRule = rule };
        var limiter = CreateLimiter(Time, options);
        var catalog = new QuotaCatalog(Options.Create(options), Time);
        var chat = "wr" + Guid.NewGuid().ToString("N");
        var sent = 0;
        QuotaDecision decision;
        while (true)
        {
            // A different member each time, so only the group's receiving cap can stop the sends.
            var subject = new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: $"member{sent}", ChatIds: [chat]);
            decision = await limiter.TryAcquireAsync(catalog.LimitsFor(subject), CancellationToken.None);
            if (!decision.IsAllowed)
            {
                break;
            }
            sent++;
            Assert.That(sent, Is.LessThanOrEqualTo(expected), "the cap let more through");
            Time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.That(sent, Is.EqualTo(expected));
        Assert.That(decision.BlockedBy, Is.EqualTo(new QuotaKey(QuotaRules.GroupMassReceiving, chat)));
        var boundary = DateTimeOffset.Parse(nextPeriod, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(decision.RetryAfter, Is.EqualTo(boundary - Time.GetUtcNow()));

        Time.SetUtcNow(boundary);
        var nextSubject = new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "next-period", ChatIds: [chat]);
        Assert.That((await limiter.TryAcquireAsync(catalog.LimitsFor(nextSubject), CancellationToken.None)).IsAllowed);
    }

    [Test]
    public async Task A_blocked_counter_takes_nothing_from_the_others_in_the_same_decision()
    {
        var limiter = CreateLimiter();
        var full = new QuotaLimit(NewKey("full"), 1, TimeSpan.FromMinutes(1));
        var open = new QuotaLimit(NewKey("open"), 2, TimeSpan.FromMinutes(1));
        Assert.That((await AcquireAsync(limiter, full)).IsAllowed);

        for (var attempt = 0; attempt < 5; attempt++)
        {
            var refused = await limiter.TryAcquireAsync([open, full], CancellationToken.None);
            Assert.That(refused.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
            Assert.That(refused.BlockedBy, Is.EqualTo(full.Key));
        }

        Assert.That((await AcquireAsync(limiter, open)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, open)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, open)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
    }

    [Test]
    public async Task A_decision_waits_for_its_slowest_counter()
    {
        var limiter = CreateLimiter();
        var minute = new QuotaLimit(NewKey("minute"), 1, TimeSpan.FromMinutes(1));
        var day = QuotaLimit.PerCalendar(NewKey("day"), 1, QuotaCalendar.Day);
        Assert.That((await limiter.TryAcquireAsync([minute, day], CancellationToken.None)).IsAllowed);

        var refused = await limiter.TryAcquireAsync([minute, day], CancellationToken.None);

        Assert.That(refused.BlockedBy, Is.EqualTo(day.Key));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromHours(14)), "10:00 to midnight in Shanghai");
    }

    [Test]
    public async Task Pause_blocks_a_counter_until_it_ends_and_a_shorter_pause_does_not_shorten_it()
    {
        var limiter = CreateLimiter();
        var paused = new QuotaLimit(NewKey("paused"), 100, TimeSpan.FromMinutes(1));
        var other = new QuotaLimit(NewKey("other"), 100, TimeSpan.FromMinutes(1));

        await limiter.PauseAsync(paused.Key, TimeSpan.FromSeconds(60), CancellationToken.None);
        await limiter.PauseAsync(paused.Key, TimeSpan.FromSeconds(10), CancellationToken.None);
        Time.Advance(TimeSpan.FromSeconds(15));

        var refused = await limiter.TryAcquireAsync([other, paused], CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That(refused.BlockedBy, Is.EqualTo(paused.Key));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(45)));
        Assert.That((await AcquireAsync(limiter, other)).IsAllowed, "a pause blocks only its own counter");

        Time.Advance(TimeSpan.FromSeconds(45));
        Assert.That((await limiter.TryAcquireAsync([other, paused], CancellationToken.None)).IsAllowed);
    }

    [Test]
    public async Task Parallel_acquirers_never_exceed_the_limit()
    {
        var limiter = CreateLimiter();
        var shared = new QuotaLimit(NewKey("shared"), 100, TimeSpan.FromMinutes(1));
        var allowed = 0;

        var workers = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var own = new QuotaLimit(NewKey("own"), 1_000, TimeSpan.FromMinutes(1));
            for (var attempt = 0; attempt < 40; attempt++)
            {
                // Mixed orders and sizes, so lock ordering and all-or-nothing are both exercised.
                QuotaLimit[] limits = (attempt % 3) switch
                {
                    0 => [shared],
                    1 => [shared, own],
                    _ => [own, shared],
                };
                if ((await limiter.TryAcquireAsync(limits, CancellationToken.None)).IsAllowed)
                {
                    Interlocked.Increment(ref allowed);
                }
            }
        }));
        await Task.WhenAll(workers);

        Assert.That(allowed, Is.EqualTo(100));
    }

    [Test]
    public async Task Peek_reads_used_units_and_the_wait_a_decision_would_answer_without_taking_any()
    {
        var limiter = CreateLimiter();
        var sliding = new QuotaLimit(NewKey(), 3, TimeSpan.FromMinutes(1));
        var daily = QuotaLimit.PerCalendar(NewKey(), 1, QuotaCalendar.Day);
        var untouched = new QuotaLimit(NewKey(), 5, TimeSpan.FromMinutes(1));
        Assert.That((await AcquireAsync(limiter, sliding)).IsAllowed);
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.That((await AcquireAsync(limiter, sliding)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, daily)).IsAllowed);

        var first = (await limiter.PeekAsync([sliding, daily, untouched], CancellationToken.None))!;
        var second = (await limiter.PeekAsync([sliding, daily, untouched], CancellationToken.None))!;

        Assert.That(first, Is.EqualTo(new[]
        {
            new QuotaUsage(sliding.Key, 2, 3, TimeSpan.Zero),
            // 10:00:20 in Shanghai: the day ends in 13 h 59 min 40 s.
            new QuotaUsage(daily.Key, 1, 1, new TimeSpan(13, 59, 40)),
            new QuotaUsage(untouched.Key, 0, 5, TimeSpan.Zero),
        }));
        Assert.That(second, Is.EqualTo(first), "a peek takes nothing");
        Assert.That((await AcquireAsync(limiter, sliding)).IsAllowed, "the third unit is still there after two peeks");
        var full = (await limiter.PeekAsync([sliding], CancellationToken.None))![0];
        var refused = await AcquireAsync(limiter, sliding);
        Assert.That(full, Is.EqualTo(new QuotaUsage(sliding.Key, 3, 3, refused.RetryAfter)));
        Assert.That(full.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(41)));
    }

    [Test]
    public async Task Peek_of_a_paused_counter_with_room_answers_the_pause()
    {
        var limiter = CreateLimiter();
        var limit = new QuotaLimit(NewKey(), 10, TimeSpan.FromMinutes(1));
        await limiter.PauseAsync(limit.Key, TimeSpan.FromSeconds(30), CancellationToken.None);

        var usage = (await limiter.PeekAsync([limit], CancellationToken.None))![0];

        Assert.That(usage, Is.EqualTo(new QuotaUsage(limit.Key, 0, 10, TimeSpan.FromSeconds(30))));
        Assert.That(usage.Remaining, Is.EqualTo(10));
    }

    [Test]
    public async Task A_refund_gives_back_the_unit_of_every_counter_the_decision_took()
    {
        var limiter = CreateLimiter();
        // A broadcast's counters: its API's pace, the receiving rule, the sender cap and the weekly contact budget.
        QuotaLimit[] limits =
        [
            new QuotaLimit(NewKey("api"), 1, TimeSpan.FromMinutes(1)),
            QuotaLimit.PerCalendar(NewKey("receiving"), 1, QuotaCalendar.Day) with { IsReceivingRule = true },
            QuotaLimit.PerCalendar(NewKey("sender"), 1, QuotaCalendar.Day),
            QuotaLimit.PerCalendar(NewKey("budget"), 1, QuotaCalendar.Week),
        ];
        var taken = await limiter.TryAcquireAsync(limits, CancellationToken.None);
        Assert.That(taken.TakenAt, Is.EqualTo(Time.GetUtcNow()));
        Time.Advance(TimeSpan.FromSeconds(5));
        Assert.That((await limiter.TryAcquireAsync(limits, CancellationToken.None)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));

        await limiter.RefundAsync(limits, taken.TakenAt!.Value, CancellationToken.None);

        Assert.That((await limiter.PeekAsync(limits, CancellationToken.None))!.Select(u => (u.Used, u.RetryAfter)), Is.All.EqualTo((0L, TimeSpan.Zero)));
        Assert.That((await limiter.TryAcquireAsync(limits, CancellationToken.None)).IsAllowed, "every counter has its unit again");
    }

    [Test]
    public async Task A_refund_never_takes_a_count_below_zero_nor_frees_more_than_it_took()
    {
        var limiter = CreateLimiter();
        QuotaLimit[] limits = [new QuotaLimit(NewKey("api"), 2, TimeSpan.FromMinutes(1)), QuotaLimit.PerCalendar(NewKey("day"), 2, QuotaCalendar.Day)];
        var taken = await limiter.TryAcquireAsync(limits, CancellationToken.None);

        await limiter.RefundAsync(limits, taken.TakenAt!.Value, CancellationToken.None);
        await limiter.RefundAsync(limits, taken.TakenAt!.Value, CancellationToken.None);

        Assert.That((await limiter.PeekAsync(limits, CancellationToken.None))!.Select(u => u.Used), Is.All.EqualTo(0L));
        Assert.That((await limiter.TryAcquireAsync(limits, CancellationToken.None)).IsAllowed);
        Assert.That((await limiter.TryAcquireAsync(limits, CancellationToken.None)).IsAllowed);
        Assert.That((await limiter.TryAcquireAsync(limits, CancellationToken.None)).Kind, Is.EqualTo(QuotaDecisionKind.Wait), "still two a day");
    }

    [Test]
    public async Task A_refund_of_a_unit_whose_period_or_window_has_passed_leaves_the_new_count_alone()
    {
        var limiter = CreateLimiter();
        var day = QuotaLimit.PerCalendar(NewKey("day"), 1, QuotaCalendar.Day);
        var minute = new QuotaLimit(NewKey("minute"), 1, TimeSpan.FromMinutes(1));
        Time.SetUtcNow(new DateTimeOffset(2026, 11, 24, 15, 59, 0, TimeSpan.Zero)); // 23:59 in Shanghai
        var yesterday = await limiter.TryAcquireAsync([day, minute], CancellationToken.None);
        Time.Advance(TimeSpan.FromMinutes(2)); // the next day, and past the minute and its one-second bucket
        var today = await limiter.TryAcquireAsync([day, minute], CancellationToken.None);
        Assert.That(today.IsAllowed);

        await limiter.RefundAsync([day, minute], yesterday.TakenAt!.Value, CancellationToken.None);

        Assert.That((await limiter.PeekAsync([day, minute], CancellationToken.None))!.Select(u => u.Used), Is.EqualTo(new[] { 1L, 1L }),
            "today's units stay taken");
        Assert.That((await limiter.TryAcquireAsync([day], CancellationToken.None)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That((await limiter.TryAcquireAsync([minute], CancellationToken.None)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
    }

    [Test]
    public async Task A_45009_refusal_counts_again_only_for_a_call_admitted_after_the_last_refusals_pause()
    {
        var limiter = CreateLimiter();
        var key = NewKey(FrequencyPenalty.RefusalsRule);
        var minute = TimeSpan.FromMinutes(1);
        var hour = TimeSpan.FromHours(1);
        var first = Time.GetUtcNow();
        Assert.That(await limiter.RecordRefusalAsync(key, first, minute, hour, CancellationToken.None), Is.EqualTo(1));
        // Calls in flight when WeCom first refused, or admitted before the pause ended, repeat that refusal.
        Assert.That(await limiter.RecordRefusalAsync(key, first - TimeSpan.FromSeconds(1), minute, hour, CancellationToken.None), Is.EqualTo(1));
        Time.Advance(TimeSpan.FromSeconds(59));
        Assert.That(await limiter.RecordRefusalAsync(key, first + TimeSpan.FromSeconds(59), minute, hour, CancellationToken.None), Is.EqualTo(1));

        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await limiter.RecordRefusalAsync(key, Time.GetUtcNow(), minute, hour, CancellationToken.None), Is.EqualTo(2), "admitted after the pause");

        // Forgotten a window after the last distinct refusal's pause ended.
        Time.Advance(minute + hour);
        Assert.That(await limiter.RecordRefusalAsync(key, Time.GetUtcNow(), minute, hour, CancellationToken.None), Is.EqualTo(1));
    }

    [Test]
    public async Task A_second_45009_after_the_minute_block_pauses_the_apis_hour_counter_for_an_hour()
    {
        var limiter = CreateLimiter();
        var catalog = new QuotaCatalog(Microsoft.Extensions.Options.Options.Create(new QuotaOptions()), Time);
        var api = "test/" + Guid.NewGuid().ToString("N");
        var limits = catalog.LimitsFor(new QuotaSubject(api));
        var penalty = new FrequencyPenalty(limiter);

        var first = await penalty.DecideAsync(limits, Time.GetUtcNow(), CancellationToken.None);
        Time.Advance(TimeSpan.FromSeconds(60));
        var second = await penalty.DecideAsync(limits, Time.GetUtcNow(), CancellationToken.None);

        Assert.That(first!.Value.Keys, Is.EqualTo(new[] { QuotaRules.ApiKey(QuotaRules.ApiPerMinute, api) }));
        Assert.That((first.Value.Pause, first.Value.HourLimit), Is.EqualTo((TimeSpan.FromSeconds(60), false)));
        Assert.That(second!.Value.Keys, Is.EqualTo(new[] { QuotaRules.ApiKey(QuotaRules.ApiPerHour, api) }));
        Assert.That((second.Value.Pause, second.Value.HourLimit), Is.EqualTo((TimeSpan.FromMinutes(60), true)));
    }

    [Test]
    public async Task A_first_45009_with_our_hour_counter_within_a_minutes_allowance_of_its_limit_pauses_for_the_hour()
    {
        var limiter = CreateLimiter();
        var minute = new QuotaLimit(NewKey(QuotaRules.ApiPerMinute), 10, TimeSpan.FromMinutes(1));
        var hour = new QuotaLimit(NewKey(QuotaRules.ApiPerHour), 25, TimeSpan.FromHours(1));
        for (var i = 0; i < 16; i++)
        {
            Assert.That((await limiter.TryAcquireAsync([hour], CancellationToken.None)).IsAllowed);
        }

        var decided = await new FrequencyPenalty(limiter).DecideAsync([minute, hour], Time.GetUtcNow(), CancellationToken.None);

        // 9 left in the hour, fewer than the minute's 10: the hour limit is the one within reach.
        Assert.That(decided!.Value.HourLimit, Is.True);
        Assert.That(decided.Value.Keys, Is.EqualTo(new[] { hour.Key }));
        Assert.That(decided.Value.Pause, Is.EqualTo(TimeSpan.FromMinutes(60)));
    }

    protected static ValueTask<QuotaDecision> AcquireAsync(IQuotaLimiter limiter, QuotaLimit limit) =>
        limiter.TryAcquireAsync([limit], CancellationToken.None);
}
