namespace Bot.Core.Rules;

/// <summary>
/// A message text with <c>{{variable}}</c> slots, parsed at load against the section's allowed variables,
/// so rendering is one allocation with no lookups.
/// </summary>
internal sealed class Template
{
    private readonly string[] _literals; // _literals.Length == _slots.Length + 1
    private readonly int[] _slots;
    private readonly bool _urlEncode;

    private Template(string source, string[] literals, int[] slots, bool urlEncode)
    {
        Source = source;
        _literals = literals;
        _slots = slots;
        _urlEncode = urlEncode;
    }

    public string Source { get; }

    public bool Uses(int slot) => Array.IndexOf(_slots, slot) >= 0;

    /// <summary>The UTF-8 size of the text around the variables: what every rendering sends at least.</summary>
    public int LiteralUtf8Bytes() => _literals.Sum(System.Text.Encoding.UTF8.GetByteCount);

    /// <summary>A template error: the message and the character offset in the source where it is.</summary>
    public readonly record struct Problem(int Offset, string Message);

    /// <param name="urlEncode">Escape values (not the literal text) — for URL fields like a link's url.</param>
    public static Template Parse(string source, IReadOnlyList<string> variables, bool urlEncode, List<Problem> problems)
    {
        var literals = new List<string>();
        var slots = new List<int>();
        var start = 0;
        while (true)
        {
            var open = source.IndexOf("{{", start, StringComparison.Ordinal);
            if (open < 0)
            {
                break;
            }
            var close = source.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                problems.Add(new Problem(open, "unclosed template variable: \"{{\" without \"}}\""));
                break;
            }
            var name = source.AsSpan(open + 2, close - open - 2).Trim().ToString();
            var slot = -1;
            for (var i = 0; i < variables.Count; i++)
            {
                if (string.Equals(variables[i], name, StringComparison.Ordinal))
                {
                    slot = i;
                    break;
                }
            }
            if (slot < 0)
            {
                var allowed = variables.Count == 0 ? "none are allowed here" : "allowed: " + string.Join(", ", variables.Select(v => "{{" + v + "}}"));
                problems.Add(new Problem(open, $"unknown template variable {{{{{name}}}}} ({allowed})"));
            }
            literals.Add(source[start..open]);
            slots.Add(slot);
            start = close + 2;
        }
        literals.Add(source[start..]);
        return new Template(source, [.. literals], [.. slots], urlEncode);
    }

    public string Render(ReadOnlySpan<string?> values)
    {
        if (_slots.Length == 0)
        {
            return _literals[0];
        }
        var parts = new string[_literals.Length + _slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            parts[2 * i] = _literals[i];
            var value = _slots[i] >= 0 && _slots[i] < values.Length ? values[_slots[i]] ?? "" : "";
            parts[2 * i + 1] = _urlEncode ? Uri.EscapeDataString(value) : value;
        }
        parts[^1] = _literals[^1];
        return string.Concat(parts);
    }

    public override string ToString() => Source;
}
