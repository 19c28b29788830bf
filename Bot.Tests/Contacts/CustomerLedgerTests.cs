using Bot.Core.Contacts;
using Bot.Tests.Storage;
using Dapper;

namespace Bot.Tests.Contacts;

/// <summary>The customer ledger against a real, migrated database: guide choice, follow history and the tag filter.</summary>
[TestFixture(TestStorage.Sqlite)]
[TestFixture(TestStorage.LiveSqlServer)]
public sealed class CustomerLedgerTests(TestStorage storage)
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static CancellationToken None => CancellationToken.None;

    private TestDatabase _db = null!;
    private CustomerLedger _ledger = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        TestDatabase.RequireAvailable(storage);
        _db = await TestDatabase.CreateAsync(storage);
        _ledger = new CustomerLedger(await _db.MigratedAsync());
    }

    [TearDown]
    public async Task DropDatabase()
    {
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    [Test]
    public async Task The_latest_live_follow_is_the_guide_and_ties_go_to_the_ordinally_smallest_userid()
    {
        await _ledger.RecordFollowAsync("wmA", "guide02", T0, None);
        await _ledger.RecordFollowAsync("wmA", "guide01", T0.AddMinutes(5), None);
        await _ledger.RecordFollowAsync("wmB", "guideZ", T0, None);
        await _ledger.RecordFollowAsync("wmB", "guideM", T0, None);

        var guides = await _ledger.GuidesAsync(["wmA", "wmB", "wmNobody"], None);

        Assert.That(guides, Is.EquivalentTo(new Dictionary<string, string> { ["wmA"] = "guide01", ["wmB"] = "guideM" }));
    }

    [Test]
    public async Task An_unfollowed_customer_is_absent_and_the_other_follow_takes_over()
    {
        await _ledger.RecordFollowAsync("wmA", "guide01", T0, None);
        await _ledger.RecordFollowAsync("wmA", "guide02", T0.AddMinutes(1), None);
        await _ledger.RecordFollowAsync("wmB", "guide01", T0, None);
        await _ledger.RecordUnfollowAsync("wmA", "guide02", T0.AddMinutes(2), None);
        await _ledger.RecordUnfollowAsync("wmB", "guide01", T0.AddMinutes(2), None);

        var guides = await _ledger.GuidesAsync(["wmA", "wmB"], None);

        Assert.That(guides, Is.EquivalentTo(new Dictionary<string, string> { ["wmA"] = "guide01" }));
    }

    [Test]
    public async Task A_re_add_clears_the_removal_but_a_late_replay_of_the_old_add_does_not()
    {
        await _ledger.RecordFollowAsync("wmA", "guide01", T0, None);
        await _ledger.RecordUnfollowAsync("wmA", "guide01", T0.AddMinutes(1), None);
        await _ledger.RecordFollowAsync("wmA", "guide01", T0, None); // WeCom retrying the first callback
        Assert.That(await _ledger.GuidesAsync(["wmA"], None), Is.Empty, "an add older than the removal is ignored");

        await _ledger.RecordFollowAsync("wmA", "guide01", T0.AddMinutes(3), None);
        Assert.That(await _ledger.GuidesAsync(["wmA"], None), Is.EquivalentTo(new Dictionary<string, string> { ["wmA"] = "guide01" }));

        await using var connection = await _db.Open().OpenAsync(None);
        var removed = await connection.ExecuteScalarAsync<long?>("SELECT removed_at FROM customer_follows WHERE external_user_id = 'wmA'");
        Assert.That(removed, Is.Null);
    }

    [Test]
    public async Task The_tag_filter_is_or_within_a_group_and_and_across_groups()
    {
        foreach (var customer in new[] { "wm1", "wm2", "wm3", "wm4", "wm5" })
        {
            await _ledger.RecordFollowAsync(customer, "guide01", T0, None);
        }
        await _ledger.RecordTagsAsync("wm1", ["等级/VIP", "城市/上海"], T0, None);
        await _ledger.RecordTagsAsync("wm2", ["等级/普通", "城市/上海", "城市/北京"], T0, None);
        await _ledger.RecordTagsAsync("wm3", ["等级/VIP"], T0, None);             // missing the city group
        await _ledger.RecordTagsAsync("wm4", ["城市/北京", "兴趣/抽奖"], T0, None); // missing the level group
        await _ledger.RecordTagsAsync("wm5", ["等级/普通", "城市/广州"], T0, None); // city not among those named

        var found = await _ledger.FindCustomersAsync(["等级/VIP", "等级/普通", "城市/上海", "城市/北京"], None);
        var one = await _ledger.FindCustomersAsync(["等级/VIP"], None);

        Assert.Multiple(() =>
        {
            Assert.That(found, Is.EqualTo(new[] { "wm1", "wm2" }));
            Assert.That(one, Is.EqualTo(new[] { "wm1", "wm3" }));
        });
    }

    [Test]
    public async Task Tag_matches_skip_customers_nobody_follows_and_removed_tags()
    {
        await _ledger.RecordFollowAsync("wm1", "guide01", T0, None);
        await _ledger.RecordFollowAsync("wm2", "guide01", T0, None);
        await _ledger.RecordTagsAsync("wm1", ["等级/VIP"], T0, None);
        await _ledger.RecordTagsAsync("wm2", ["等级/VIP"], T0, None);
        await _ledger.RecordTagsAsync("wm3", ["等级/VIP"], T0, None); // tagged, never followed
        await _ledger.RecordTagsAsync("wm1", ["等级/VIP"], T0.AddMinutes(1), None); // again: still one row
        await _ledger.RecordUnfollowAsync("wm2", "guide01", T0.AddMinutes(1), None);

        Assert.That(await _ledger.FindCustomersAsync(["等级/VIP"], None), Is.EqualTo(new[] { "wm1" }));

        await _ledger.RemoveTagsAsync("wm1", ["等级/VIP"], None);
        Assert.That(await _ledger.FindCustomersAsync(["等级/VIP"], None), Is.Empty);
    }

    [Test]
    public void A_tag_without_a_group_is_refused_with_the_reason()
    {
        var refused = Assert.ThrowsAsync<ArgumentException>(() => _ledger.FindCustomersAsync(["VIP"], None));
        Assert.That(refused!.Message, Does.Contain("'VIP'").And.Contain("group/tag"));
        Assert.ThrowsAsync<ArgumentException>(() => _ledger.RecordTagsAsync("wm1", ["等级/"], T0, None));
    }

    [Test]
    public async Task Guides_for_two_thousand_customers_come_back_complete_across_chunks()
    {
        var customers = Enumerable.Range(0, 2_000).Select(i => $"wm{i:D5}").ToList();
        var database = _db.Open();
        // Seeded in one transaction: 2,000 separate write turns would time the fixture, not the ledger.
        await using (var write = await database.OpenWriteAsync(None))
        {
            await using var transaction = await write.Connection.BeginTransactionAsync(None);
            await write.Connection.ExecuteAsync(
                "INSERT INTO customer_follows (external_user_id, user_id, added_at, removed_at) VALUES (@C, @U, @At, NULL)",
                customers.Select((c, i) => new { C = c, U = $"guide{i % 3}", At = T0.ToUnixTimeMilliseconds() }), transaction);
            await transaction.CommitAsync(None);
        }

        var guides = await _ledger.GuidesAsync([.. customers, .. customers.Take(10)], None);

        Assert.Multiple(() =>
        {
            Assert.That(guides, Has.Count.EqualTo(2_000));
            Assert.That(guides["wm01999"], Is.EqualTo($"guide{1999 % 3}"));
            Assert.That(guides.Values.Distinct().Count(), Is.EqualTo(3));
        });
    }
}
