namespace Bot.Core.Campaigns.Lottery;

/// <summary>
/// The outcome of checking a drawn lottery; <see cref="Reason"/> says what failed (the first check that did) or what
/// checked out. The recomputed values are filled as far as the revealed data allows, so a report can show them beside
/// the published ones either way.
/// </summary>
public sealed record LotteryVerification(bool IsValid, string Reason)
{
    /// <summary>SHA-256 of the revealed seed, to compare with the published commitment; null when the seed is not hex.</summary>
    public string? SeedHash { get; init; }

    /// <summary>SHA-256 of the entry list (distinct ids, ordinal order, one a line).</summary>
    public string? EntryListHash { get; init; }

    /// <summary>Distinct entrants in the list.</summary>
    public int EntryCount { get; init; }

    /// <summary>The winners the revealed seed gives for this entry list and these prizes, in draw order; null when the seed is not hex.</summary>
    public IReadOnlyList<LotteryWinner>? Recomputed { get; init; }
}

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
        var canonical = LotteryDraw.Canonical(entries);
        var entryListHash = LotteryDraw.EntryListHash(canonical);
        var facts = new LotteryVerification(false, "") { EntryListHash = entryListHash, EntryCount = canonical.Length };
        if (!LotteryDraw.TryParseSeed(revealedSeedHex, out var seed))
        {
            return facts with { Reason = $"the revealed seed is not {LotteryDraw.SeedLength} bytes of hex" };
        }
        var commitment = LotteryDraw.Commitment(seed);
        var expected = LotteryDraw.PickWinners(seed, canonical, prizes);
        facts = facts with { SeedHash = commitment, Recomputed = expected };
        if (!string.Equals(commitment, commitmentHex, StringComparison.OrdinalIgnoreCase))
        {
            return facts with { Reason = $"SHA-256 of the revealed seed is {commitment}, but the published commitment is {commitmentHex}" };
        }
        if (canonical.Length != entries.Count)
        {
            return facts with { Reason = "the entry list names someone more than once" };
        }
        if (entryListHashHex is not null && !string.Equals(entryListHash, entryListHashHex, StringComparison.OrdinalIgnoreCase))
        {
            return facts with { Reason = $"SHA-256 of the entry list is {entryListHash}, but the hash published at the draw is {entryListHashHex}" };
        }

        for (var i = 0; i < Math.Max(expected.Count, claimedWinners.Count); i++)
        {
            if (i >= claimedWinners.Count)
            {
                return facts with { Reason = $"winner {i + 1} should be {expected[i].ExternalUserId} ({expected[i].Prize}), but none is claimed" };
            }
            if (i >= expected.Count)
            {
                return facts with { Reason = $"winner {i + 1} ({claimedWinners[i].ExternalUserId}) is claimed, but the draw awards only {expected.Count} prizes" };
            }
            if (expected[i] != claimedWinners[i])
            {
                return facts with
                {
                    Reason = $"winner {i + 1} should be {expected[i].ExternalUserId} ({expected[i].Prize}), " +
                             $"but the record says {claimedWinners[i].ExternalUserId} ({claimedWinners[i].Prize})",
                };
            }
        }
        return facts with
        {
            IsValid = true,
            Reason = $"the seed matches commitment {commitment}; {canonical.Length} entries (SHA-256 {entryListHash}) give the {expected.Count} claimed winners",
        };
    }
}
