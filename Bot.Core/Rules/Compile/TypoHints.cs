using System.Text.RegularExpressions;

namespace Bot.Core.Rules;

/// <summary>
/// The two slips operators make most when editing rule files by hand, neither of which YAML names clearly: a tab in
/// the indentation (YAML indents with spaces only; the parser's own message points elsewhere) and a full-width colon
/// (<c>：</c>, typed with a Chinese input method) after a field name, which YAML reads as part of a plain string. Both can
/// also be legitimate text inside a block scalar, so they are errors only in a file that already fails to load (the
/// hint then says which line to fix), and warnings in one that loads.
/// </summary>
internal static partial class TypoHints
{
    public const string Tab = "a tab in the indentation: YAML indents with spaces only (replace the tab with spaces)";

    public static string FullWidthColon(string key) =>
        $"'{key}' is followed by a full-width colon '：'; a YAML field needs the ASCII colon and a space ('{key}: ')";

    public sealed record Hint(int Line, int Column, string Message);

    /// <summary>Every tab in a line's leading whitespace and every field name followed by '：', 1-based, in file order.</summary>
    public static IReadOnlyList<Hint> Find(string text)
    {
        var hints = new List<Hint>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var indent = line.Length - line.TrimStart(' ', '\t').Length;
            var tab = line.IndexOf('\t', 0, indent);
            if (tab >= 0)
            {
                hints.Add(new Hint(i + 1, tab + 1, Tab));
            }
            if (FieldWithFullWidthColon().Match(line) is { Success: true } match)
            {
                hints.Add(new Hint(i + 1, match.Groups["colon"].Index + 1, FullWidthColon(match.Groups["key"].Value)));
            }
        }
        return hints;
    }

    // Field names are ASCII (RuleFields), so an ASCII word, at the start of a line or a list item, right before '：'.
    [GeneratedRegex(@"^[ \t]*(?:-[ \t]+)?(?<key>[A-Za-z_][A-Za-z0-9_]*)[ \t]*(?<colon>：)")]
    private static partial Regex FieldWithFullWidthColon();
}
