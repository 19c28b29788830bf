using System.Security.Cryptography;
using Bot.Core.Campaigns.Lottery;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Lottery;

public sealed class LotteryServiceTests
{
    // The example's times: opens 10:00 and draws 20:00 in +08:00, i.e. 02:00Z and 12:00Z.
    private static readonly DateTimeOffset Opens = new(2026, 11, 28, 10, 0, 0, TimeSpan.FromHours(8));
    private static readonly DateTimeOffset Draws = new(2026, 11, 28, 20, 0, 0, TimeSpan.FromHours(8));
    private static readonly string[] VipTags = ["客户等级/VIP群成员"];

    private TempDatabase _db = null!;
    private readonly List<LotteryTestHost> _hosts = [];

    [SetUp]
    public void CreateDatabase() => _db = new TempDatabase();

    [TearDown]
    public async Task DisposeHostsAndDatabase()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }
        _db.Dispose();
    }

    internal static LotteryDefinition Coffee(string name = "weekend-coffee", int latte = 3, int voucher = 10, string keyword = "抽奖") => new(
        name,
        ["VIP*"],
        keyword,
        Opens,
        Draws,
        ["生命周期/新客", "客户等级/VIP群成员"],
        [new LotteryPrize("免费拿铁", latte), new LotteryPrize("9 折券", voucher)],
        "🎉「{{lottery.name}}」开奖啦！{{winners}} 恭喜中奖，请私信店长领取。",
        "抽奖/中奖");

    private async Task<LotteryTestHost> HostAsync(FakeTimeProvider time, IReadOnlyDictionary<string, string>? names = null, IDictionary<string, string?>? settings = null)
    {
        var host = await LotteryTestHost.CreateAsync(_db.File, time, names, settings);
        _hosts.Add(host);
        return host;
    }

    private static FakeTimeProvider ClockAt(DateTimeOffset at) => new(at);

    private static Task<LotteryEntryOutcome> EnterAsync(LotteryTestHost host, string id, string? chat = "chat-vip-1", string lottery = "weekend-coffee") =>
        host.Service.EnterAsync(lottery, id, chat, VipTags, "keyword", CancellationToken.None);

    [Test]
    public async Task Member_entering_in_the_open_window_is_entered_once_and_a_repeat_is_answered_not_counted()
    {
        var host = await HostAsync(ClockAt(Opens.AddHours(1)));
        Assert.That(await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None), Is.Empty);

        Assert.That(await EnterAsync(host, "wm-alice"), Is.EqualTo(LotteryEntryOutcome.Entered));
        Assert.That(await EnterAsync(host, "wm-alice", "chat-vip-2"), Is.EqualTo(LotteryEntryOutcome.AlreadyEntered));

        var audit = await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None);
        Assert.That(audit!.EntryCount, Is.EqualTo(1));
        Assert.That(audit.Entries, Is.Null, "the entry list is revealed only at the draw");
    }

    [Test]
    public async Task Entries_before_opening_are_not_open_yet_and_entries_from_the_draw_time_on_are_closed()
    {
        var time = ClockAt(Opens.AddMinutes(-1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);

        Assert.That(await EnterAsync(host, "wm-early"), Is.EqualTo(LotteryEntryOutcome.NotOpenYet));
        time.SetUtcNow(Draws);
        Assert.That(await EnterAsync(host, "wm-late"), Is.EqualTo(LotteryEntryOutcome.Closed));

        var audit = await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None);
        Assert.That(audit!.EntryCount, Is.Zero);
    }

    [Test]
    public async Task Customer_without_an_eligible_tag_is_not_eligible_and_not_stored_and_an_unknown_lottery_is_unknown()
    {
        var host = await HostAsync(ClockAt(Opens.AddHours(1)));
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);

        var outcome = await host.Service.EnterAsync("weekend-coffee", "wm-bob", "chat-vip-1", ["客户等级/普通"], "keyword", CancellationToken.None);
        var unknown = await host.Service.EnterAsync("no-such-lottery", "wm-bob", "chat-vip-1", VipTags, "keyword", CancellationToken.None);

        Assert.That(outcome, Is.EqualTo(LotteryEntryOutcome.NotEligible));
        Assert.That(unknown, Is.EqualTo(LotteryEntryOutcome.UnknownLottery));
        Assert.That((await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!.EntryCount, Is.Zero);
    }

    [Test]
    public async Task Keyword_in_a_matching_group_while_open_finds_the_lottery_and_other_groups_words_or_times_do_not()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        Task<IReadOnlyList<string>> Match(string group, string text, DateTimeOffset at) =>
            host.Service.MatchKeywordAsync(text, group, at, CancellationToken.None);

        Assert.That(await Match("VIP 三群", " 抽奖 ", time.GetUtcNow()), Is.EqualTo(new[] { "weekend-coffee" }));
        Assert.That(await Match("普通群", "抽奖", time.GetUtcNow()), Is.Empty);
        Assert.That(await Match("VIP 三群", "我想喝咖啡", time.GetUtcNow()), Is.Empty);
        Assert.That(await Match("VIP 三群", "抽奖", Opens.AddSeconds(-1)), Is.Empty, "not open yet");
        Assert.That(await Match("VIP 三群", "抽奖", Draws), Is.Empty, "closed at the draw time");
    }

    [TestCase("VIP🎉群", true)]
    [TestCase("VIP群", false)]
    [TestCase("VIP🎉🎉群", false)]
    public async Task An_emoji_in_the_group_name_counts_as_one_character_in_the_lottery_room_as_in_the_rules(string group, bool enters)
    {
        using var folder = new Bot.Tests.Rules.RuleFolder().Write("l.yaml", $$$"""
            lotteries:
              - name: emoji-coffee
                groups: ["VIP?群"]
                keyword: "抽奖"
                opens: "{{{Opens:yyyy-MM-ddTHH:mm:sszzz}}}"
                draws: "{{{Draws:yyyy-MM-ddTHH:mm:sszzz}}}"
                prizes:
                  - name: "免费拿铁"
                    count: 1
                announce: "{{winners}} 中奖"
            """);
        var rules = Bot.Core.Rules.RuleLoader.Load(folder.Path).RuleSet!;
        var host = await HostAsync(ClockAt(Opens.AddHours(1)));
        Assert.That(await host.Service.SyncDefinitionsAsync([.. rules.Lotteries.Select(LotteryDefinition.From)], CancellationToken.None), Is.Empty);
        var at = Opens.AddHours(1);

        var inRoom = await host.Service.MatchKeywordAsync("抽奖", group, at, CancellationToken.None);
        var inRules = Bot.Core.Rules.RulePlanner.PlanLotteryEntries(rules, new Bot.Core.Rules.MessageInput("wmC", "wmC", "wr1", group, "抽奖", true, at));

        Assert.That(inRoom, Is.EqualTo(enters ? new[] { "emoji-coffee" } : Array.Empty<string>()));
        Assert.That(inRules.Select(a => a.Rule.Name), Is.EqualTo(inRoom), "the lottery room and the rules agree");
    }

    [Test]
    public async Task Seed_commitment_is_published_before_any_entry_and_equals_the_sha256_of_the_revealed_seed()
    {
        var time = ClockAt(Opens.AddHours(-1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        Assert.That((await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!.Commitment, Is.Null,
            "no seed exists before the lottery opens");

        await host.StartAsync();
        await host.WorkerAsleepAsync();
        time.SetUtcNow(Opens);
        await host.WorkerAsleepAsync();

        var beforeEntries = (await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        var committed = beforeEntries.Commitment;
        Assert.That(committed, Is.Not.Null, "the worker opened the lottery at its opening time");
        Assert.That(beforeEntries.EntryCount, Is.Zero);
        Assert.That(beforeEntries.CommittedAt, Is.EqualTo(Opens));
        Assert.That(beforeEntries.Seed, Is.Null, "the seed stays secret until the draw");
        Assert.That(host.Logs.GetSnapshot().Any(r => r.Message.Contains(committed!, StringComparison.Ordinal)), "the commitment is logged");

        await EnterAsync(host, "wm-alice");
        time.SetUtcNow(Draws);
        await host.FirstAnnounced.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var drawn = (await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        Assert.That(drawn.Commitment, Is.EqualTo(committed), "drawing does not change the commitment");
        Assert.That(Convert.ToHexStringLower(SHA256.HashData(Convert.FromHexString(drawn.Seed!))), Is.EqualTo(committed));
        Assert.That(Convert.FromHexString(drawn.Seed!), Has.Length.EqualTo(32));
    }

    [Test]
    public async Task Entering_when_no_worker_opened_the_lottery_yet_commits_the_seed_first()
    {
        var time = ClockAt(Opens.AddHours(-1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        time.SetUtcNow(Opens.AddSeconds(30));

        Assert.That(await EnterAsync(host, "wm-alice"), Is.EqualTo(LotteryEntryOutcome.Entered));

        var audit = (await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        Assert.That(audit.Commitment, Is.Not.Null);
        Assert.That(audit.CommittedAt, Is.EqualTo(Opens.AddSeconds(30)));
    }

    [Test]
    public async Task Two_instances_racing_to_draw_make_exactly_one_draw()
    {
        var time = ClockAt(Opens.AddHours(1));
        var first = await HostAsync(time);
        var second = await HostAsync(time);
        await first.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        await second.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        for (var i = 0; i < 20; i++)
        {
            await EnterAsync(i % 2 == 0 ? first : second, $"wm-{i:D2}");
        }
        time.SetUtcNow(Draws);

        // Both skip any state check of their own and go straight for the conditional UPDATE at the same moment.
        var racing = await Task.WhenAll(
            Task.Run(() => first.Service.DrawIfDueAsync("weekend-coffee", CancellationToken.None)),
            Task.Run(() => second.Service.DrawIfDueAsync("weekend-coffee", CancellationToken.None)));
        var again = await first.Service.DrawDueAsync(CancellationToken.None);
        var stale = await second.Service.DrawIfDueAsync("weekend-coffee", CancellationToken.None);

        Assert.That(racing.Count(r => r is not null), Is.EqualTo(1), "exactly one instance drew");
        Assert.That(again, Is.Empty);
        Assert.That(stale, Is.Null, "an instance that thinks the lottery is still open does nothing once it was drawn");
        var draw = racing.Single(r => r is not null)!;
        Assert.That(draw.Winners, Has.Count.EqualTo(13));
        await using var connection = await first.OpenRawAsync();
        Assert.That(await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM lottery_winner"), Is.EqualTo(13));
        Assert.That(await first.Commands.VerifyAsync("weekend-coffee", TextWriter.Null, CancellationToken.None), Is.Zero);
    }

    [Test]
    public async Task Worker_draws_at_the_draw_time_on_time_and_hands_the_result_to_the_announcer()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        await EnterAsync(host, "wm-alice");
        time.SetUtcNow(Draws.AddMinutes(-1));
        await host.StartAsync();
        await host.WorkerAsleepAsync();
        Assert.That(host.Announced, Is.Empty);

        time.SetUtcNow(Draws);
        var result = await host.FirstAnnounced.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(result.Late, Is.False);
        Assert.That(result.DrawnAt, Is.EqualTo(Draws));
        Assert.That(result.TagWinners, Is.EqualTo("抽奖/中奖"));
        Assert.That(result.Winners, Is.EqualTo(new[] { new LotteryWinner("免费拿铁", "wm-alice") }));
    }

    [Test]
    public async Task Host_down_over_the_draw_time_draws_on_restart_and_marks_it_late()
    {
        var time = ClockAt(Opens.AddHours(1));
        await using (var before = await LotteryTestHost.CreateAsync(_db.File, time))
        {
            await before.StartAsync();
            await before.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
            await EnterAsync(before, "wm-alice");
            await EnterAsync(before, "wm-bob");
        }

        // Down from 11:00 to 21:30 local: the draw at 20:00 was missed.
        time.SetUtcNow(Draws.AddMinutes(90));
        var after = await HostAsync(time);
        await after.StartAsync();
        var result = await after.FirstAnnounced.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(result.Late, Is.True);
        Assert.That(result.DrawnAt, Is.EqualTo(Draws.AddMinutes(90)));
        Assert.That(result.Announcements.Single().Text, Does.EndWith("（原定 2026-11-28 20:00 开奖，因服务中断于 2026-11-28 21:30 补开）"));
        Assert.That((await after.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!.Late, Is.True);
        Assert.That(after.Logs.GetSnapshot().Any(r => r.Message.Contains("drawn late", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Fewer_entrants_than_prizes_leaves_the_rest_unawarded_and_nobody_wins_twice()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee(latte: 3, voucher: 10)], CancellationToken.None);
        foreach (var id in new[] { "wm-a", "wm-b", "wm-c", "wm-d", "wm-e" })
        {
            await EnterAsync(host, id);
        }
        time.SetUtcNow(Draws);

        var result = (await host.Service.DrawDueAsync(CancellationToken.None)).Single();

        Assert.That(result.Winners, Has.Count.EqualTo(5));
        Assert.That(result.Winners.Select(w => w.ExternalUserId), Is.Unique);
        Assert.That(result.Winners.Count(w => w.Prize == "免费拿铁"), Is.EqualTo(3));
        Assert.That(result.Winners.Count(w => w.Prize == "9 折券"), Is.EqualTo(2));
        Assert.That(result.Winners.Take(3).All(w => w.Prize == "免费拿铁"), "prizes go out in the order listed");
    }

    [Test]
    public async Task Announcement_names_the_winners_falling_back_to_their_id_once_per_group_that_sent_entries()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time, names: new Dictionary<string, string> { ["wm-alice"] = "Alice" });
        await host.Service.SyncDefinitionsAsync([Coffee(latte: 1, voucher: 1)], CancellationToken.None);
        await EnterAsync(host, "wm-alice", "chat-b");
        await EnterAsync(host, "wm-bob", "chat-a");
        await EnterAsync(host, "wm-bob", "chat-c"); // a repeat from another group does not add that group
        time.SetUtcNow(Draws);

        var result = (await host.Service.DrawDueAsync(CancellationToken.None)).Single();

        var names = result.Winners.Select(w => w.ExternalUserId == "wm-alice" ? "Alice" : "wm-bob");
        var expected = $"🎉「weekend-coffee」开奖啦！{string.Join("、", names)} 恭喜中奖，请私信店长领取。";
        Assert.That(result.Announcements, Is.EqualTo(new[]
        {
            new LotteryAnnouncement("chat-a", expected),
            new LotteryAnnouncement("chat-b", expected),
        }));
    }

    [Test]
    public async Task Changing_an_opened_lottery_is_refused_with_a_reason_and_its_entries_and_commitment_stay()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        await EnterAsync(host, "wm-alice");
        var before = (await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;

        var edited = Coffee(latte: 30, keyword: "抽大奖") with { Draws = Draws.AddDays(1) };
        var errors = await host.Service.SyncDefinitionsAsync([edited], CancellationToken.None);

        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.Contain("weekend-coffee").And.Contain("keyword, draws, prizes").And.Contain("stored definition stays in force"));
        var after = (await host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        Assert.That(after.Commitment, Is.EqualTo(before.Commitment));
        Assert.That(after.DefinitionFingerprint, Is.EqualTo(before.DefinitionFingerprint));
        Assert.That(after.Draws, Is.EqualTo(Draws));
        Assert.That(after.EntryCount, Is.EqualTo(1));
        // That the stored keyword stays in force for customers is shown through the handler: LotteryKeywordInForceTests.
    }

    [Test]
    public async Task Rewording_the_announcement_of_an_opened_lottery_is_accepted_and_an_unopened_lottery_takes_any_change()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        var later = Coffee("next-week") with { Opens = Opens.AddDays(7), Draws = Draws.AddDays(7) };
        await host.Service.SyncDefinitionsAsync([Coffee(), later], CancellationToken.None);

        var errors = await host.Service.SyncDefinitionsAsync(
            [Coffee() with { AnnounceTemplate = "{{winners}} 中奖" }, later with { Draws = Draws.AddDays(8), Keyword = "下周抽奖" }],
            CancellationToken.None);

        Assert.That(errors, Is.Empty);
        Assert.That((await host.Service.GetAuditAsync("next-week", CancellationToken.None))!.Draws, Is.EqualTo(Draws.AddDays(8)));
        await EnterAsync(host, "wm-alice");
        time.SetUtcNow(Draws);
        var result = (await host.Service.DrawDueAsync(CancellationToken.None)).Single();
        Assert.That(result.Announcements.Single().Text, Is.EqualTo("wm-alice 中奖"));
    }

    [Test]
    public async Task Removing_an_opened_lottery_from_the_rules_keeps_it_and_it_is_still_drawn_while_an_unopened_one_is_dropped()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        var later = Coffee("next-week") with { Opens = Opens.AddDays(7), Draws = Draws.AddDays(7) };
        await host.Service.SyncDefinitionsAsync([Coffee(), later], CancellationToken.None);
        await EnterAsync(host, "wm-alice");

        Assert.That(await host.Service.SyncDefinitionsAsync([], CancellationToken.None), Is.Empty);
        time.SetUtcNow(Draws);
        var results = await host.Service.DrawDueAsync(CancellationToken.None);

        Assert.That(results.Single().Winners.Single().ExternalUserId, Is.EqualTo("wm-alice"));
        Assert.That(await host.Service.GetAuditAsync("next-week", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task Announcement_that_failed_to_be_handed_over_is_delivered_again_after_the_lease()
    {
        var time = ClockAt(Opens.AddHours(1));
        var host = await HostAsync(time);
        await host.Service.SyncDefinitionsAsync([Coffee()], CancellationToken.None);
        await EnterAsync(host, "wm-alice");
        time.SetUtcNow(Draws);
        // Drawn without announcing, as if the instance died right after committing the draw.
        Assert.That(await host.Service.DrawDueAsync(CancellationToken.None), Has.Count.EqualTo(1));

        time.Advance(TimeSpan.FromMinutes(4));
        await host.Worker.RunOnceAsync(CancellationToken.None);
        Assert.That(host.Announced, Is.Empty, "the lease (5 minutes) still belongs to the drawing instance");
        time.Advance(TimeSpan.FromMinutes(2));
        await host.Worker.RunOnceAsync(CancellationToken.None);
        await host.Worker.RunOnceAsync(CancellationToken.None);

        var result = host.Announced.Single();

        Assert.That(result.Lottery, Is.EqualTo("weekend-coffee"));
        Assert.That(result.DedupeKey, Is.EqualTo("lottery:weekend-coffee:drawn"));
    }

    [Test]
    public async Task Invalid_lottery_options_stop_the_host_and_name_the_key()
    {
        var host = await HostAsync(ClockAt(Opens), settings: new Dictionary<string, string?> { ["Lottery:PollInterval"] = "00:00:00" });

        var error = Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(host.StartAsync);
        Assert.That(error!.Message, Does.Contain("PollInterval"));
    }
}
