using System.Security.Cryptography;
using System.Text;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>The deterministic part of a lottery: commitment, canonical entry list and the winner ranking.</summary>
internal static class LotteryDraw
{
    public const int SeedLength = 32;

    public static byte[] NewSeed() => RandomNumberGenerator.GetBytes(SeedLength);

    /// <summary>The published commitment: lowercase hex SHA-256 of the raw seed bytes.</summary>
    public static string Commitment(ReadOnlySpan<byte> seed) => Convert.ToHexStringLower(SHA256.HashData(seed));

    /// <summary>Distinct external user ids in ordinal order: the entry list every hash and ranking is taken over.</summary>
    public static string[] Canonical(IEnumerable<string> externalUserIds) =>
        [.. externalUserIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Lowercase hex SHA-256 of the canonical ids joined with "\n" (UTF-8, no trailing newline).</summary>
    public static string EntryListHash(IReadOnlyList<string> canonicalEntries) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', canonicalEntries))));

    /// <summary>
    /// Each entrant's ticket is HMAC-SHA256 keyed with the secret seed over their external user id, entrants are ranked
    /// by ticket bytes (ties by id), and the prizes are handed out in the order listed, count by count, down that
    /// ranking, so nobody wins twice and spare prizes stay unawarded when there are too few entrants.
    /// Because the seed's SHA-256 was published before the first entry and the seed itself is revealed after the draw,
    /// anyone can recompute this ranking from the published entry list and see that no one picked the winners.
    /// </summary>
    public static IReadOnlyList<LotteryWinner> PickWinners(ReadOnlySpan<byte> seed, IReadOnlyList<string> canonicalEntries, IReadOnlyList<LotteryPrize> prizes)
    {
        var ranked = new (byte[] Ticket, string Id)[canonicalEntries.Count];
        for (var i = 0; i < canonicalEntries.Count; i++)
        {
            ranked[i] = (HMACSHA256.HashData(seed, Encoding.UTF8.GetBytes(canonicalEntries[i])), canonicalEntries[i]);
        }
        Array.Sort(ranked, static (a, b) =>
        {
            var byTicket = a.Ticket.AsSpan().SequenceCompareTo(b.Ticket);
            return byTicket != 0 ? byTicket : string.CompareOrdinal(a.Id, b.Id);
        });

        var winners = new List<LotteryWinner>();
        var next = 0;
        foreach (var prize in prizes)
        {
            for (var n = 0; n < prize.Count && next < ranked.Length; n++)
            {
                winners.Add(new LotteryWinner(prize.Name, ranked[next++].Id));
            }
        }
        return winners;
    }

    public static bool TryParseSeed(string? hex, out byte[] seed)
    {
        seed = [];
        if (hex is null || hex.Length != SeedLength * 2)
        {
            return false;
        }
        try
        {
            seed = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
