using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// The errors and warnings of one rule file, each at the line and column of the YAML it is about. Every compiler
/// of the file reports here, so a message reads the same whichever section it comes from.
/// </summary>
internal sealed class RuleReport(string file, string text, List<RuleError> errors, List<RuleWarning> warnings)
{
    private int[]? _lineStarts;

    public string File => file;

    public void Error(YamlNode node, string message) => Error(node.Start, message);

    public void Error(Mark mark, string message) => errors.Add(new RuleError(file, Line(mark), Column(mark), message));

    /// <summary>Reports <paramref name="message"/> at <paramref name="node"/> and gives nothing back, for the value it refuses.</summary>
    public T? Refuse<T>(YamlNode node, string message)
    {
        Error(node, message);
        return default;
    }

    public void Warn(YamlNode node, string message) =>
        warnings.Add(new RuleWarning(file, Line(node.Start), Column(node.Start), message));

    public void Warn(int line, int column, string message) => warnings.Add(new RuleWarning(file, line, column, message));

    /// <summary>Reports each problem of a template at the "{{" it is about, as it stands in the file.</summary>
    public void TemplateProblems(YamlScalarNode node, IEnumerable<Template.Problem> problems)
    {
        foreach (var problem in problems)
        {
            var (line, column) = LocateInScalar(node, problem.Offset);
            errors.Add(new RuleError(file, line, column, problem.Message));
        }
    }

    public static int Line(Mark mark) => (int)mark.Line;

    public static int Column(Mark mark) => (int)mark.Column;

    // A template error points at its "{{": find the same occurrence of "{{" in the raw source of the scalar
    // (quotes, escapes and folding make value offsets differ from source offsets).
    private (int Line, int Column) LocateInScalar(YamlScalarNode node, int offset)
    {
        var value = node.Value ?? "";
        var occurrence = 0;
        for (var i = value.IndexOf("{{", StringComparison.Ordinal); i >= 0 && i < offset; i = value.IndexOf("{{", i + 2, StringComparison.Ordinal))
        {
            occurrence++;
        }
        var start = (int)node.Start.Index;
        var end = Math.Min((int)node.End.Index, text.Length);
        var at = text.IndexOf("{{", start, Math.Max(0, end - start), StringComparison.Ordinal);
        for (var n = 0; n < occurrence && at >= 0; n++)
        {
            at = text.IndexOf("{{", at + 2, Math.Max(0, end - at - 2), StringComparison.Ordinal);
        }
        return at < 0 ? (Line(node.Start), Column(node.Start)) : LineColumnOf(at);
    }

    private (int Line, int Column) LineColumnOf(int index)
    {
        if (_lineStarts is null)
        {
            var starts = new List<int> { 0 };
            for (var i = 0; i < text.Length; i++)
            {
                if (text[i] == '\n')
                {
                    starts.Add(i + 1);
                }
            }
            _lineStarts = [.. starts];
        }
        var line = Array.BinarySearch(_lineStarts, index);
        if (line < 0)
        {
            line = ~line - 1;
        }
        return (line + 1, index - _lineStarts[line] + 1);
    }
}
