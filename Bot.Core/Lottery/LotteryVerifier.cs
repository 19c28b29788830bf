namespace Bot.Core.Lottery;

/// <summary>The outcome of checking a drawn lottery; <see cref="Reason"/> says what failed or what checked out.</summary>
public sealed record LotteryVerification(bool IsValid, string Reason);

/// <summary>Recomputes a draw from its revealed data, as any participant could.</summary>
public static class LotteryVerifier
{
    /// <param name="revealedSeedHex">The seed revealed after the draw (64 hex digits).</param>
    /// <param name="commitmentHex">The SHA-256 of the seed published when the lottery opened.</param>
    /// <param name="entries">The published entry list (external user ids).</param>
    /// <param name="prizes">The prizes in the order listed.</param>
    /// <param name="claimedWinners">The winners as announced, in draw order.</param>
    /// <param name="entryListHashHex">The entry-list hash published at the draw, when known; a list changed since then fails.</param>
    public static LotteryVerification Verify(
        string revealedSeedHex,
        string commitmentHex,
        IReadOnlyCollection<string> entries,
        IReadOnlyList<LotteryPrize> prizes,
        IReadOnlyList<LotteryWinner> claimedWinners,
        string? entryListHashHex = null)
    {
        if (!LotteryDraw.TryParseSeed(revealedSeedHex, out var seed))
        {
            return Fail($"the revealed seed is not {LotteryDraw.SeedLength} bytes of hex");
        }
        var commitment = LotteryDraw.Commitment(seed);
        if (!string.Equals(commitment, commitmentHex, StringComparison.OrdinalIgnoreCase))
        {
            return Fail($"SHA-256 of the revealed seed is {commitment}, but the published commitment is {commitmentHex}");
        }

        var canonical = LotteryDraw.Canonical(entries);
        if (canonical.Length != entries.Count)
        {
            return Fail("the entry list names someone more than once");
        }
        var entryListHash = LotteryDraw.EntryListHash(canonical);
        if (entryListHashHex is not null && !string.Equals(entryListHash, entryListHashHex, StringComparison.OrdinalIgnoreCase))
        {
            return Fail($"SHA-256 of the entry list is {entryListHash}, but the hash published at the draw is {entryListHashHex}");
        }

        var expected = LotteryDraw.PickWinners(seed, canonical, prizes);
        for (var i = 0; i < Math.Max(expected.Count, claimedWinners.Count); i++)
        {
            if (i >= claimedWinners.Count)
            {
                return Fail($"winner {i + 1} should be {expected[i].ExternalUserId} ({expected[i].Prize}), but none is claimed");
            }
            if (i >= expected.Count)
            {
                return Fail($"winner {i + 1} ({claimedWinners[i].ExternalUserId}) is claimed, but the draw awards only {expected.Count} prizes");
            }
            if (expected[i] != claimedWinners[i])
            {
                return Fail($"winner {i + 1} should be {expected[i].ExternalUserId} ({expected[i].Prize}), " +
                            $"but the record says {claimedWinners[i].ExternalUserId} ({claimedWinners[i].Prize})");
            }
        }
        return new LotteryVerification(true,
            $"the seed matches commitment {commitment}; {canonical.Length} entries (SHA-256 {entryListHash}) give the {expected.Count} claimed winners");
    }

    private static LotteryVerification Fail(string reason) => new(false, reason);
}
