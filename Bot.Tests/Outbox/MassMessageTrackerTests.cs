using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Core.Campaigns.Seeding;
using Bot.Tests.Fixtures;
using Bot.Tests.WeCom.Api;
using Dapper;
using StackExchange.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.Server;

namespace Bot.Tests.Outbox;

public sealed class MassMessageTrackerTests
{
    private const string Chat = "wrChatSeed1";
    private const string Script = "warmup";

    private FakeTimeProvider _time = null!;
    private WireMockServer _weCom = null!;
    private WeComApiHarness _harness = null!;
    private OutboxRig _rig = null!;
    private SeedingStore _seeding = null!;
    private MassMessageStore _store = null!;
    private IQuotaLimiter _limiter = null!;
    private QuotaCatalog _catalog = null!;

    [SetUp]
    public async Task SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        _weCom = WireMockServer.Start();
        _weCom.GivenToken("tok-mass");
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/remind_groupmsg_send").UsingPost()).RespondWith(FakeWeCom.Reply(0));
        _harness = WeComApiHarness.Create(_weCom, _time);
        _rig = await OutboxRig.CreateAsync(_time);
        _seeding = new SeedingStore(_rig.Instance.Database);
        _store = new MassMessageStore(_rig.Instance.Database);
        _limiter = new InProcessQuotaLimiter(Options.Create(new QuotaOptions()), _time);
        _catalog = new QuotaCatalog(Options.Create(new QuotaOptions()), _time);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _rig.DisposeAsync();
        _harness.Dispose();
        _weCom.Stop();
        _weCom.Dispose();
    }

    [Test]
    public async Task A_confirmed_task_records_each_recipients_result_and_is_never_reminded()
    {
        var id = await SentMassMessageAsync(OutboxKinds.Broadcast, "zhangsan", "msgConfirmed", ruleName: null);
        GivenSenders("msgConfirmed", """{"userid":"zhangsan","status":2,"send_time":1772442000}""");
        GivenResults("msgConfirmed", "zhangsan", """
            {"external_userid":"wmA","userid":"zhangsan","status":1,"send_time":1772442000},
            {"external_userid":"wmB","userid":"zhangsan","status":2},
            {"external_userid":"wmC","userid":"zhangsan","status":3}
            """);

        await NewTracker().RunOnceAsync(CancellationToken.None);

        var task = (await _store.ListAsync(null, 10, CancellationToken.None)).Single();
        Assert.Multiple(() =>
        {
            Assert.That(task.OutboxId, Is.EqualTo(id));
            Assert.That(task.State, Is.EqualTo(MassMessageState.Confirmed));
            Assert.That((task.SendersTotal, task.SendersSent), Is.EqualTo((1, 1)));
            Assert.That((task.RecipientsSent, task.RecipientsNotFriend, task.RecipientsAlreadyReceived, task.RecipientsNotSent), Is.EqualTo((1, 1, 1, 0)));
        });
        var recipients = await _store.ListRecipientsAsync(id, CancellationToken.None);
        Assert.That(recipients.Select(r => (r.Recipient, r.Status)), Is.EqualTo(new[] { ("wmA", 1), ("wmB", 2), ("wmC", 3) }));

        // A confirmed task is settled: later passes neither poll nor remind it.
        _time.Advance(TimeSpan.FromHours(3));
        await NewTracker().RunOnceAsync(CancellationToken.None);
        Assert.That(_weCom.Count("externalcontact/get_groupmsg_task"), Is.EqualTo(1));
        Assert.That(_weCom.Count("externalcontact/remind_groupmsg_send"), Is.Zero);
    }

    [Test]
    public async Task A_recipient_that_already_received_another_mass_message_is_held_in_the_shared_ledger_until_the_period_ends()
    {
        // Real Redis: the hold must reach every instance's dispatcher and pre-flight, not just this process.
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisTestServer.Shared.Configuration);
        var redisOptions = new RedisOptions { Configuration = RedisTestServer.Shared.Configuration, KeyPrefix = RedisTestServer.NewPrefix() };
        _limiter = new RedisQuotaLimiter(redis, Options.Create(redisOptions), Options.Create(new QuotaOptions()), _time,
            NullLogger<RedisQuotaLimiter>.Instance);
        // 2026-03-02 09:00 UTC is 17:00 in Shanghai: under the default one-per-day rule the period ends at 16:00 UTC.
        var dayEnd = new DateTimeOffset(2026, 3, 2, 16, 0, 0, TimeSpan.Zero);
        var confirmedAt = _time.GetUtcNow().AddMinutes(-5).ToUnixTimeSeconds();
        await SentMassMessageAsync(OutboxKinds.Broadcast, "zhangsan", "msgLedger", ruleName: null);
        GivenSenders("msgLedger", $$"""{"userid":"zhangsan","status":2,"send_time":{{confirmedAt}}}""");
        GivenResults("msgLedger", "zhangsan", $$"""
            {"external_userid":"wmDelivered","userid":"zhangsan","status":1,"send_time":{{confirmedAt}}},
            {"external_userid":"wmGone","userid":"zhangsan","status":2},
            {"external_userid":"wmFull","userid":"zhangsan","status":3}
            """);

        // Before reconciliation the bot's own counters would let another sender's broadcast reach wmFull today.
        Assert.That((await PeekReceivingAsync("wmFull")).RetryAfter, Is.EqualTo(TimeSpan.Zero));

        await NewTracker().RunOnceAsync(CancellationToken.None);

        var decision = await _limiter.TryAcquireAsync(_catalog.LimitsFor(
            BroadcastService.QuotaSubjectFor(BroadcastTargetKind.Customers, "guide02", "wmFull")), CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(decision.Kind, Is.EqualTo(QuotaDecisionKind.Wait));
            Assert.That(decision.BlockedBy, Is.EqualTo(new QuotaKey(QuotaRules.CustomerMassReceiving, "wmFull")));
            Assert.That(decision.RetryAfter, Is.EqualTo(dayEnd - _time.GetUtcNow()), "held exactly to the end of the Shanghai day");
            Assert.That((await PeekReceivingAsync("wmGone")).RetryAfter, Is.EqualTo(TimeSpan.Zero), "a recipient who is no longer a friend is not held");
            Assert.That((await PeekReceivingAsync("wmDelivered")).RetryAfter, Is.EqualTo(TimeSpan.Zero), "a delivery was counted when it was sent");
        });

        // The next day the hold is gone by itself.
        _time.Advance(dayEnd - _time.GetUtcNow());
        Assert.That((await PeekReceivingAsync("wmFull")).RetryAfter, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public async Task An_already_received_result_learnt_after_its_day_ended_does_not_hold_the_new_day()
    {
        var yesterday = _time.GetUtcNow().AddDays(-1).ToUnixTimeSeconds();
        await SentMassMessageAsync(OutboxKinds.Broadcast, "zhangsan", "msgLate", ruleName: null);
        GivenSenders("msgLate", $$"""{"userid":"zhangsan","status":2,"send_time":{{yesterday}}}""");
        GivenResults("msgLate", "zhangsan", """{"external_userid":"wmFull","userid":"zhangsan","status":3}""");

        await NewTracker().RunOnceAsync(CancellationToken.None);

        Assert.That((await _store.ListAsync(null, 10, CancellationToken.None)).Single().RecipientsAlreadyReceived, Is.EqualTo(1));
        Assert.That((await PeekReceivingAsync("wmFull")).RetryAfter, Is.EqualTo(TimeSpan.Zero));
    }

    private async Task<QuotaUsage> PeekReceivingAsync(string customer)
    {
        var limit = _catalog.LimitsFor(BroadcastService.QuotaSubjectFor(BroadcastTargetKind.Customers, "guide02", customer))
            .Single(l => l.Key.Rule == QuotaRules.CustomerMassReceiving);
        return (await _limiter.PeekAsync([limit], CancellationToken.None))!.Single();
    }

    [Test]
    public async Task An_unconfirmed_seeding_post_is_reminded_once_then_goes_stale_and_stops_the_rest_of_its_run()
    {
        var start = _time.GetUtcNow();
        await _seeding.TryStartRunAsync(Script, Chat, "start-1", start, "fp", Posts(start), CancellationToken.None);
        await _seeding.TryStartRunAsync(Script, "wrOtherChat", "start-2", start, "fp", Posts(start), CancellationToken.None);
        await SentMassMessageAsync(OutboxKinds.SeedingPost, Chat, "msgIgnored", Script);
        GivenSenders("msgIgnored", """{"userid":"lisi","status":0}""");
        var tracker = NewTracker();

        await tracker.RunOnceAsync(CancellationToken.None);
        Assert.That(_weCom.Count("externalcontact/remind_groupmsg_send"), Is.Zero, "no reminder before half the timeout");

        for (var elapsed = TimeSpan.FromMinutes(5); elapsed < TimeSpan.FromHours(2); elapsed += TimeSpan.FromMinutes(5))
        {
            _time.Advance(TimeSpan.FromMinutes(5));
            await tracker.RunOnceAsync(CancellationToken.None);
        }
        Assert.That(_weCom.Count("externalcontact/remind_groupmsg_send"), Is.EqualTo(1));
        Assert.That(_weCom.Requests("externalcontact/remind_groupmsg_send")[0].RequestMessage!.Body, Does.Contain("\"msgid\":\"msgIgnored\""));
        var pending = (await _store.ListAsync(null, 10, CancellationToken.None)).Single();
        Assert.That((pending.State, pending.Reminders), Is.EqualTo((MassMessageState.Pending, 1)));
        Assert.That((await _seeding.GetScheduleAsync(Chat, CancellationToken.None)).Select(p => p.State),
            Is.EqualTo(new[] { SeedingPostState.Planned, SeedingPostState.Planned }));

        _time.Advance(TimeSpan.FromMinutes(5));
        await tracker.RunOnceAsync(CancellationToken.None);

        var stale = (await _store.ListAsync(null, 10, CancellationToken.None)).Single();
        var stopped = await _seeding.GetScheduleAsync(Chat, CancellationToken.None);
        var other = await _seeding.GetScheduleAsync("wrOtherChat", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(stale.State, Is.EqualTo(MassMessageState.Stale));
            Assert.That(stale.Reminders, Is.EqualTo(1));
            Assert.That(_weCom.Count("externalcontact/remind_groupmsg_send"), Is.EqualTo(1));
            Assert.That(stopped.Select(p => p.State), Is.EqualTo(new[] { SeedingPostState.Stopped, SeedingPostState.Stopped }));
            Assert.That(other.Select(p => p.State), Is.EqualTo(new[] { SeedingPostState.Planned, SeedingPostState.Planned }),
                "the same script's run in another group is not touched");
        });

        // Stale is final: nothing more is asked of WeCom.
        var polls = _weCom.Count("externalcontact/get_groupmsg_task");
        _time.Advance(TimeSpan.FromHours(1));
        await tracker.RunOnceAsync(CancellationToken.None);
        Assert.That(_weCom.Count("externalcontact/get_groupmsg_task"), Is.EqualTo(polls));
    }

    [Test]
    public async Task Two_trackers_on_one_database_poll_and_remind_a_task_once()
    {
        await SentMassMessageAsync(OutboxKinds.Broadcast, "zhangsan", "msgShared", ruleName: null);
        GivenSenders("msgShared", """{"userid":"zhangsan","status":0}""");
        var options = new MassMessageOptions { MaxReminders = 1 };
        var first = NewTracker(options);
        var second = new MassMessageTracker(new MassMessageStore(_rig.NewInstance().Database), _harness.Client, _seeding,
            _limiter, _catalog, Options.Create(options), _time, NullLogger<MassMessageTracker>.Instance);

        _time.Advance(TimeSpan.FromHours(1));
        await Task.WhenAll(first.RunOnceAsync(CancellationToken.None), second.RunOnceAsync(CancellationToken.None));

        Assert.That(_weCom.Count("externalcontact/get_groupmsg_task"), Is.EqualTo(1));
        Assert.That(_weCom.Count("externalcontact/remind_groupmsg_send"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_mass_message_sent_before_the_confirmation_window_is_not_tracked()
    {
        await SentMassMessageAsync(OutboxKinds.SeedingPost, Chat, "msgOld", Script);
        _time.Advance(TimeSpan.FromHours(3));

        await NewTracker().RunOnceAsync(CancellationToken.None);

        Assert.That(await _store.ListAsync(null, 10, CancellationToken.None), Is.Empty);
        Assert.That(_weCom.Count("externalcontact/get_groupmsg_task"), Is.Zero);
    }

    private MassMessageTracker NewTracker(MassMessageOptions? options = null) =>
        new(_store, _harness.Client, _seeding, _limiter, _catalog, Options.Create(options ?? new MassMessageOptions()), _time,
            NullLogger<MassMessageTracker>.Instance);

    private static List<PlannedPost> Posts(DateTimeOffset start) =>
    [
        new(1, "lisi", "first", start.AddHours(3), null),
        new(2, "wangwu", "second", start.AddHours(4), null),
    ];

    /// <summary>An outbox item as the dispatcher leaves it after add_msg_template answered with a msgid.</summary>
    private async Task<long> SentMassMessageAsync(string kind, string target, string msgId, string? ruleName)
    {
        var result = await _rig.Writer.EnqueueAsync(new OutboxRequest
        {
            Kind = kind,
            Target = target,
            Payload = "{}",
            IdempotencyKey = "mass-" + msgId,
            QuotaSubject = new QuotaSubject("externalcontact/add_msg_template", Sender: "lisi", ChatIds: [target]),
            Provenance = new OutboxProvenance(RuleName: ruleName),
        }, CancellationToken.None);
        await using var connection = await _rig.Instance.Database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(
            "UPDATE outbox SET state = 'sent', remote_ids = @MsgId, completed_at = @Now WHERE id = @Id",
            new { MsgId = msgId, Now = _time.GetUtcNow().ToUnixTimeMilliseconds(), result.Id });
        return result.Id;
    }

    private void GivenSenders(string msgId, string tasks) =>
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_groupmsg_task").UsingPost()
                .WithBody(b => b is not null && b.Contains($"\"msgid\":\"{msgId}\"", StringComparison.Ordinal)))
            .RespondWith(FakeWeCom.Reply(0, $$"""
                "task_list":[{{tasks}}]
                """.Trim()));

    private void GivenResults(string msgId, string userId, string results) =>
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_groupmsg_send_result").UsingPost()
                .WithBody(b => b is not null && b.Contains($"\"msgid\":\"{msgId}\"", StringComparison.Ordinal)
                    && b.Contains($"\"userid\":\"{userId}\"", StringComparison.Ordinal)))
            .RespondWith(FakeWeCom.Reply(0, $$"""
                "send_list":[{{results}}]
                """.Trim()));
}
