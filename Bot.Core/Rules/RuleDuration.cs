using System.Text.RegularExpressions;

namespace Bot.Core.Rules;

/// <summary>Durations in rule files: 30s, 10m, 2h, 1d and combinations in that order, like 1h30m.</summary>
internal static partial class RuleDuration
{
    [GeneratedRegex(@"^(?:(?<d>\d{1,6})d)?(?:(?<h>\d{1,6})h)?(?:(?<m>\d{1,6})m)?(?:(?<s>\d{1,6})s)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        var match = Pattern().Match(text);
        if (text.Length == 0 || !match.Success)
        {
            return false;
        }
        try
        {
            duration = TimeSpan.FromDays(Part(match, "d")) + TimeSpan.FromHours(Part(match, "h"))
                + TimeSpan.FromMinutes(Part(match, "m")) + TimeSpan.FromSeconds(Part(match, "s"));
        }
        catch (OverflowException)
        {
            return false;
        }
        return true;

        static long Part(Match m, string name) =>
            m.Groups[name].Success && long.TryParse(m.Groups[name].ValueSpan, out var n) ? n : 0;
    }
}
