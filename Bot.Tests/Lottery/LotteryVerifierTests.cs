using System.Security.Cryptography;
using System.Text;
using Bot.Core.Campaigns.Lottery;
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
    public async Task The_report_shows_each_recomputed_winner_by_name_beside_the_published_one()
    {
        await _host.DisposeAsync();
        // The same stored draw, read by an instance that knows some of the entrants' names.
        _host = await LotteryTestHost.CreateAsync(_db.File, new FakeTimeProvider(LotteryServiceTests.Coffee().Draws),
            names: Enumerable.Range(0, 8).Where(i => i % 2 == 0).ToDictionary(i => $"wm-{i}", i => $"顾客{i}"));
        var audit = (await _host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;

        var (exit, output) = await VerifyAsync();

        Assert.That(exit, Is.Zero, output);
        var lines = output.Split('\n', StringSplitOptions.TrimEntries);
        for (var i = 0; i < audit.Winners!.Count; i++)
        {
            var id = audit.Winners[i].ExternalUserId;
            var shown = int.Parse(id[3..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0 ? $"顾客{id[3..]} ({id})" : id;
            Assert.That(lines, Has.One.EqualTo($"winner {i + 1}  {audit.Winners[i].Prize}  recomputed {shown}  published {shown}  same"), output);
        }
    }

    [Test]
    public async Task An_undrawn_or_unknown_lottery_does_not_check_out()
    {
        Assert.That(await _host.Commands.VerifyAsync("no-such-lottery", TextWriter.Null, CancellationToken.None), Is.EqualTo(1));
    }
}

/// <summary>`lottery verify NAME` run as the operator runs it: the CLI verb, its database from the process environment.</summary>
[NonParallelizable]
public sealed class LotteryVerifyCliTests
{
    private TempDatabase _db = null!;
    private LotteryTestHost _host = null!;

    [SetUp]
    public async Task DrawALottery()
    {
        _db = new TempDatabase();
        var time = new FakeTimeProvider(LotteryServiceTests.Coffee().Opens.AddHours(1));
        _host = await LotteryTestHost.CreateAsync(_db.File, time);
        await _host.Service.SyncDefinitionsAsync([LotteryServiceTests.Coffee(latte: 1, voucher: 2)], CancellationToken.None);
        foreach (var id in new[] { "wm-ann", "wm-bo", "wm-cy", "wm-di" })
        {
            await _host.Service.EnterAsync("weekend-coffee", id, "chat-1", ["生命周期/新客"], "http", CancellationToken.None);
        }
        time.SetUtcNow(LotteryServiceTests.Coffee().Draws);
        Assert.That(await _host.Service.DrawDueAsync(CancellationToken.None), Has.Count.EqualTo(1));
    }

    [TearDown]
    public async Task Dispose()
    {
        await _host.DisposeAsync();
        _db.Dispose();
    }

    private async Task<(int? Exit, string[] Lines, string Output)> RunAsync()
    {
        var previous = Environment.GetEnvironmentVariable("ConnectionStrings__Bot");
        Environment.SetEnvironmentVariable("ConnectionStrings__Bot", $"Data Source={_db.File}");
        using var output = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        int? exit;
        try
        {
            exit = await Bot.Host.Cli.BotCommands.TryRunAsync(["lottery", "verify", "weekend-coffee"], output, TextWriter.Null, TimeProvider.System);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ConnectionStrings__Bot", previous);
        }
        var text = output.ToString();
        return (exit, text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), text);
    }

    [Test]
    public async Task A_draw_that_checks_out_prints_commitment_seed_entry_list_hash_and_each_winner_recomputed_beside_the_published_one()
    {
        var audit = (await _host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        // Recomputed here from the published data alone, as a customer would.
        var seedHash = Convert.ToHexStringLower(SHA256.HashData(Convert.FromHexString(audit.Seed!)));
        var listHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', audit.Entries!.Order(StringComparer.Ordinal)))));

        var (exit, lines, output) = await RunAsync();

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Zero, output);
            Assert.That(lines[0], Does.StartWith("lottery 'weekend-coffee' checks out"));
            // The lottery opened at 10:00, but this host first saw it at 11:00 and made the commitment public then.
            Assert.That(lines, Has.One.EqualTo($"commitment    {audit.Commitment}  made public 2026-11-28 11:00:00 +08:00"), output);
            Assert.That(lines, Has.One.EqualTo($"seed          {audit.Seed}  revealed at the draw, 2026-11-28 20:00:00 +08:00 (on time)"), output);
            Assert.That(lines, Has.One.EqualTo($"seed SHA-256  {seedHash}  same as the commitment"), output);
            Assert.That(lines, Has.One.EqualTo($"entry list    4 entries, SHA-256 {listHash}  same as the hash published at the draw"), output);
            Assert.That(audit.Winners, Has.Count.EqualTo(3));
            for (var i = 0; i < audit.Winners!.Count; i++)
            {
                var w = audit.Winners[i];
                Assert.That(lines, Has.One.EqualTo($"winner {i + 1}  {w.Prize}  recomputed {w.ExternalUserId}  published {w.ExternalUserId}  same"), output);
            }
        });
    }

    [Test]
    public async Task A_swapped_winner_is_shown_beside_the_one_the_seed_gives_and_fails_with_exit_code_1()
    {
        var audit = (await _host.Service.GetAuditAsync("weekend-coffee", CancellationToken.None))!;
        await using (var connection = await _host.OpenRawAsync())
        {
            Assert.That(await connection.ExecuteAsync("UPDATE lottery_winner SET external_user_id = 'wm-friend-of-the-owner' WHERE rank = 2"), Is.EqualTo(1));
        }

        var (exit, lines, output) = await RunAsync();

        Assert.That(exit, Is.EqualTo(1));
        Assert.That(lines[0], Does.StartWith("lottery 'weekend-coffee' does NOT check out: winner 2 should be"));
        var (first, second) = (audit.Winners![0], audit.Winners[1]);
        Assert.That(lines, Has.One.EqualTo($"winner 1  {first.Prize}  recomputed {first.ExternalUserId}  published {first.ExternalUserId}  same"), output);
        Assert.That(lines, Has.One.EqualTo($"winner 2  {second.Prize}  recomputed {second.ExternalUserId}  published wm-friend-of-the-owner  DIFFERENT"), output);
    }
}
