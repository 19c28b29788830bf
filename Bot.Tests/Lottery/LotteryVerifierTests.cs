using System.Security.Cryptography;
using System.Text;
using Bot.Core.Lottery;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Lottery;

public sealed class LotteryVerifierTests
{
    private static readonly byte[] Seed = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    private static readonly string SeedHex = Convert.ToHexStringLower(Seed);
    private static readonly string CommitmentHex = Convert.ToHexStringLower(SHA256.HashData(Seed));
    private static readonly LotteryPrize[] Prizes = [new("免费拿铁", 2), new("9 折券", 3)];
    private static readonly string[] Entries = ["wm-e", "wm-a", "wm-d", "wm-c", "wm-b", "wm-g", "wm-f"];

    [Test]
    public void Winners_follow_the_documented_ranking_by_hmac_ticket()
    {
        // The scheme written out independently of LotteryDraw: rank ids by HMAC-SHA256(seed, id), hand prizes down it.
        var ranking = Entries.Order(StringComparer.Ordinal)
            .Select(id => (Id: id, Ticket: HMACSHA256.HashData(Seed, Encoding.UTF8.GetBytes(id))))
            .OrderBy(t => Convert.ToHexString(t.Ticket), StringComparer.Ordinal)
            .Select(t => t.Id)
            .ToArray();
        var expected = new[]
        {
            new LotteryWinner("免费拿铁", ranking[0]), new LotteryWinner("免费拿铁", ranking[1]),
            new LotteryWinner("9 折券", ranking[2]), new LotteryWinner("9 折券", ranking[3]), new LotteryWinner("9 折券", ranking[4]),
        };

        var winners = LotteryDraw.PickWinners(Seed, LotteryDraw.Canonical(Entries), Prizes);

        Assert.That(winners, Is.EqualTo(expected));
        Assert.That(LotteryDraw.PickWinners(Seed, LotteryDraw.Canonical(Entries.Reverse()), Prizes), Is.EqualTo(expected),
            "the order entries arrived in does not matter");
    }

    [Test]
    public void Revealed_data_recomputes_the_claimed_winners()
    {
        var winners = LotteryDraw.PickWinners(Seed, LotteryDraw.Canonical(Entries), Prizes);
        var hash = LotteryDraw.EntryListHash(LotteryDraw.Canonical(Entries));

        var result = LotteryVerifier.Verify(SeedHex, CommitmentHex, Entries, Prizes, winners, hash);

        Assert.That(result.IsValid, Is.True, result.Reason);
        Assert.That(hash, Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData("wm-a\nwm-b\nwm-c\nwm-d\nwm-e\nwm-f\nwm-g"u8))));
    }

    [Test]
    public void A_tampered_seed_fails_against_the_commitment()
    {
        var winners = LotteryDraw.PickWinners(Seed, LotteryDraw.Canonical(Entries), Prizes);
        var otherSeed = "ff" + SeedHex[2..];

        var result = LotteryVerifier.Verify(otherSeed, CommitmentHex, Entries, Prizes, winners);

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Reason, Does.Contain("commitment"));
    }

    [Test]
    public void A_tampered_entry_fails_against_the_published_entry_list_hash_even_when_the_winners_still_match()
    {
        var canonical = LotteryDraw.Canonical(Entries);
        var winners = LotteryDraw.PickWinners(Seed, canonical, Prizes);
        var hash = LotteryDraw.EntryListHash(canonical);
        // Swap a losing entrant for someone else: the winners may not move, but the list is no longer the one drawn.
        var loser = canonical.Except(winners.Select(w => w.ExternalUserId)).First();
        var tampered = Entries.Select(id => id == loser ? "wm-sockpuppet" : id).ToArray();

        var result = LotteryVerifier.Verify(SeedHex, CommitmentHex, tampered, Prizes, winners, hash);

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Reason, Does.Contain("entry list"));
    }

    [Test]
    public void Swapped_winners_fail_and_the_reason_names_the_position()
    {
        var winners = LotteryDraw.PickWinners(Seed, LotteryDraw.Canonical(Entries), Prizes).ToArray();
        (winners[0], winners[2]) = (winners[0] with { ExternalUserId = winners[2].ExternalUserId }, winners[2] with { ExternalUserId = winners[0].ExternalUserId });

        var result = LotteryVerifier.Verify(SeedHex, CommitmentHex, Entries, Prizes, winners);

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Reason, Does.StartWith("winner 1 should be"));
    }

    [Test]
    public void Fewer_entrants_than_prizes_award_each_entrant_one_prize_and_leave_the_rest()
    {
        var winners = LotteryDraw.PickWinners(Seed, ["wm-a", "wm-b"], Prizes);

        Assert.That(winners.Select(w => w.Prize), Is.EqualTo(new[] { "免费拿铁", "免费拿铁" }));
        Assert.That(winners.Select(w => w.ExternalUserId), Is.EquivalentTo(new[] { "wm-a", "wm-b" }));
    }
}

/// <summary>`lottery verify NAME` over a stored draw, before and after someone edits the database.</summary>
public sealed class LotteryVerifyCommandTests
{
    private static readonly DateTimeOffset Opens = new(2026, 11, 28, 10, 0, 0, TimeSpan.FromHours(8));
    private TempDatabase _db = null!;
    private LotteryTestHost _host = null!;

    [SetUp]
    public async Task DrawALottery()
    {
        _db = new TempDatabase();
        var time = new FakeTimeProvider(Opens.AddHours(1));
        _host = await LotteryTestHost.CreateAsync(_db.File, time);
        await _host.Service.SyncDefinitionsAsync([LotteryServiceTests.Coffee(latte: 2, voucher: 2)], CancellationToken.None);
        foreach (var id in Enumerable.Range(0, 8).Select(i => $"wm-{i}"))
        {
            await _host.Service.EnterAsync("weekend-coffee", id, "chat-1", ["生命周期/新客"], "http", CancellationToken.None);
        }
        time.SetUtcNow(LotteryServiceTests.Coffee().Draws);
        await _host.Service.DrawDueAsync(CancellationToken.None);
    }

    [TearDown]
    public async Task Dispose()
    {
        await _host.DisposeAsync();
        _db.Dispose();
    }

    private async Task<(int ExitCode, string Output)> VerifyAsync()
    {
        var output = new StringWriter();
        var exit = await _host.Commands.VerifyAsync("weekend-coffee", output, CancellationToken.None);
        return (exit, output.ToString());
    }

    private async Task TamperAsync(string sql)
    {
        await using var connection = await _host.OpenRawAsync();
        Assert.That(await connection.ExecuteAsync(sql), Is.GreaterThan(0));
    }

    [Test]
    public async Task An_untouched_draw_checks_out_with_exit_code_0()
    {
        var (exit, output) = await VerifyAsync();
        Assert.That(exit, Is.Zero, output);
        Assert.That(output, Does.Contain("checks out"));
    }

    [Test]
    public async Task An_entry_added_after_the_draw_fails_with_exit_code_1()
    {
        await TamperAsync("INSERT INTO lottery_entry (lottery, external_user_id, chat_id, source, entered_unix_ms) VALUES ('weekend-coffee', 'wm-late', NULL, 'sql', 0)");
        var (exit, output) = await VerifyAsync();
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(output, Does.Contain("entry list"));
    }

    [Test]
    public async Task A_replaced_seed_fails_with_exit_code_1()
    {
        await TamperAsync("UPDATE lottery SET seed = '" + new string('a', 64) + "'");
        var (exit, output) = await VerifyAsync();
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(output, Does.Contain("commitment"));
    }

    [Test]
    public async Task A_swapped_winner_fails_with_exit_code_1()
    {
        await TamperAsync("UPDATE lottery_winner SET external_user_id = 'wm-friend-of-the-owner' WHERE rank = 1");
        var (exit, output) = await VerifyAsync();
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(output, Does.Contain("winner 1 should be"));
    }

    [Test]
    public async Task An_undrawn_or_unknown_lottery_does_not_check_out()
    {
        Assert.That(await _host.Commands.VerifyAsync("no-such-lottery", TextWriter.Null, CancellationToken.None), Is.EqualTo(1));
    }
}
