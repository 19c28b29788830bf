namespace Bot.Core.Rules;

/// <summary>A whole-string, ordinal glob with <c>*</c> (any run) and <c>?</c> (one character), compiled once per load.</summary>
internal sealed class Glob
{
    private enum Form { Any, Exact, Prefix, Suffix, General }

    private readonly Form _form;
    private readonly string _literal;

    private Glob(string pattern, Form form, string literal)
    {
        Pattern = pattern;
        _form = form;
        _literal = literal;
    }

    public string Pattern { get; }

    /// <summary>Returns null and an error message when the pattern uses syntax we do not support.</summary>
    public static Glob? TryCompile(string pattern, out string? error)
    {
        error = null;
        if (pattern.Length == 0)
        {
            error = "empty glob (use \"*\" to match everything)";
            return null;
        }
        var bad = pattern.IndexOfAny(['[', ']', '{', '}', '\\']);
        if (bad >= 0)
        {
            // People expect shell classes and braces; silently matching them literally would hide a typo.
            error = $"bad glob \"{pattern}\": '{pattern[bad]}' is not supported (only * and ?)";
            return null;
        }
        if (pattern.AsSpan().IndexOfAnyExcept('*') < 0)
        {
            return new Glob(pattern, Form.Any, "");
        }
        var hasQuestion = pattern.Contains('?');
        var stars = pattern.Count(c => c == '*');
        if (!hasQuestion && stars == 0)
        {
            return new Glob(pattern, Form.Exact, pattern);
        }
        if (!hasQuestion && stars == 1 && pattern[^1] == '*')
        {
            return new Glob(pattern, Form.Prefix, pattern[..^1]);
        }
        if (!hasQuestion && stars == 1 && pattern[0] == '*')
        {
            return new Glob(pattern, Form.Suffix, pattern[1..]);
        }
        return new Glob(pattern, Form.General, pattern);
    }

    public bool IsMatch(string? value)
    {
        value ??= "";
        return _form switch
        {
            Form.Any => true,
            Form.Exact => string.Equals(value, _literal, StringComparison.Ordinal),
            Form.Prefix => value.StartsWith(_literal, StringComparison.Ordinal),
            Form.Suffix => value.EndsWith(_literal, StringComparison.Ordinal),
            _ => MatchGeneral(_literal, value),
        };
    }

    // Two-pointer wildcard match with one backtrack point: O(n·m) worst case, linear for the usual patterns.
    private static bool MatchGeneral(string pattern, string value)
    {
        int p = 0, v = 0, starP = -1, starV = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && pattern[p] == '?')
            {
                // `?` is one character as people see it, so a surrogate pair (emoji) counts once.
                v += char.IsHighSurrogate(value[v]) && v + 1 < value.Length && char.IsLowSurrogate(value[v + 1]) ? 2 : 1;
                p++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starV = v;
            }
            else if (p < pattern.Length && pattern[p] == value[v])
            {
                p++;
                v++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                v = ++starV;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    public override string ToString() => Pattern;
}
