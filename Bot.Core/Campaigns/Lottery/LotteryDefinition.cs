using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bot.Core.Rules;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>
/// One lottery as it is stored: built from a compiled rule (<see cref="From"/>), whose compiler is the validation, and
/// kept as JSON so an opened lottery stays as it opened whatever later rule files say.
/// </summary>
/// <param name="GroupGlobs">Group-name globs (`*`, `?`) whose members may enter by keyword.</param>
/// <param name="EligibleTagsAny">A customer must carry at least one of these tag names; empty means anyone.</param>
/// <param name="AnnounceTemplate">Text with `{{winners}}` and `{{lottery.name}}`.</param>
/// <param name="TagWinners">A tag name to give every winner, or null.</param>
public sealed record LotteryDefinition(
    string Name,
    IReadOnlyList<string> GroupGlobs,
    string Keyword,
    DateTimeOffset Opens,
    DateTimeOffset Draws,
    IReadOnlyList<string> EligibleTagsAny,
    IReadOnlyList<LotteryPrize> Prizes,
    string AnnounceTemplate,
    string? TagWinners)
{
    /// <summary>
    /// SHA-256 over the fields that may not change once the lottery has opened (keyword, times, prizes, eligibility
    /// and groups), in a canonical form: the same instant written with another offset, or the same tags listed in
    /// another order, give the same fingerprint.
    /// </summary>
    internal string Fingerprint()
    {
        var locked = LockedFields.Of(this);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(locked, LotteryJsonContext.Default.LockedFields);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>The names of the locked fields that differ between this definition and <paramref name="other"/>.</summary>
    internal IReadOnlyList<string> LockedChanges(LotteryDefinition other)
    {
        var (a, b) = (LockedFields.Of(this), LockedFields.Of(other));
        var changed = new List<string>();
        if (a.Keyword != b.Keyword) changed.Add("keyword");
        if (a.OpensUnixMs != b.OpensUnixMs) changed.Add("opens");
        if (a.DrawsUnixMs != b.DrawsUnixMs) changed.Add("draws");
        if (!a.Prizes.SequenceEqual(b.Prizes)) changed.Add("prizes");
        if (!a.EligibleTagsAny.SequenceEqual(b.EligibleTagsAny)) changed.Add("eligible.tags_any");
        if (!a.GroupGlobs.SequenceEqual(b.GroupGlobs)) changed.Add("groups");
        return changed;
    }

    /// <summary>The stored form of a compiled `lotteries` rule.</summary>
    internal static LotteryDefinition From(LotteryRule rule) => new(
        rule.Source.Name,
        [.. rule.Groups.Select(g => g.Pattern)],
        rule.Keyword,
        rule.Opens,
        rule.Draws,
        rule.EligibleTagsAny,
        [.. rule.Prizes.Select(p => new LotteryPrize(p.Name, p.Count))],
        rule.Announce.Source,
        rule.TagWinners.Count == 0 ? null : string.Join(',', rule.TagWinners));

    internal string ToJson() => JsonSerializer.Serialize(this, LotteryJsonContext.Default.LotteryDefinition);

    internal static LotteryDefinition FromJson(string json) =>
        JsonSerializer.Deserialize(json, LotteryJsonContext.Default.LotteryDefinition)
        ?? throw new InvalidOperationException("A stored lottery definition is empty");

    internal sealed record LockedFields(
        string Keyword,
        long OpensUnixMs,
        long DrawsUnixMs,
        IReadOnlyList<string> Prizes,
        IReadOnlyList<string> EligibleTagsAny,
        IReadOnlyList<string> GroupGlobs)
    {
        public static LockedFields Of(LotteryDefinition d) => new(
            d.Keyword.Trim(),
            d.Opens.ToUnixTimeMilliseconds(),
            d.Draws.ToUnixTimeMilliseconds(),
            // Prize order matters (prizes are handed out in the order listed), so it is kept.
            [.. d.Prizes.Select(p => $"{p.Count}\u001f{p.Name}")],
            Canonical(d.EligibleTagsAny),
            Canonical(d.GroupGlobs));

        private static string[] Canonical(IEnumerable<string> values) =>
            [.. values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }
}

/// <summary>A prize and how many of it are handed out.</summary>
public sealed record LotteryPrize(string Name, int Count);

[JsonSerializable(typeof(LotteryDefinition))]
[JsonSerializable(typeof(LotteryDefinition.LockedFields))]
internal sealed partial class LotteryJsonContext : JsonSerializerContext;
