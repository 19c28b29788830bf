using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>One lottery as the rule file describes it; the automation maps the `lotteries` section onto this.</summary>
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

    /// <summary>Every problem that makes this definition unusable; empty when it is fine.</summary>
    internal IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) problems.Add("name is empty");
        if (string.IsNullOrWhiteSpace(Keyword)) problems.Add("keyword is empty");
        if (Draws <= Opens) problems.Add($"draws ({Draws:O}) is not after opens ({Opens:O})");
        if (Prizes.Count == 0) problems.Add("there are no prizes");
        foreach (var prize in Prizes.Where(p => p.Count < 1 || string.IsNullOrWhiteSpace(p.Name)))
        {
            problems.Add($"prize '{prize.Name}' needs a name and a count of at least 1 (count is {prize.Count})");
        }
        if (GroupGlobs.Count == 0) problems.Add("groups is empty");
        return problems;
    }

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
