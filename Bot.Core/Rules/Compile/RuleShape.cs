using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// Checks a YAML mapping against its <see cref="Shape"/> (unknown keys, a value where a list belongs and so on)
/// before any value in it is read, so a compiler sees only fields of the kind it expects.
/// </summary>
internal sealed class RuleShape(RuleReport report)
{
    public Fields Read(YamlMappingNode map, Shape shape, string what)
    {
        var fields = new Fields(this, report, map, shape);
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!shape.Fields.TryGetValue(key, out var field))
            {
                report.Error(keyNode, $"unknown field '{key}' in {what} (allowed: {string.Join(", ", shape.Names)})");
                fields.HasErrors = true;
                continue;
            }
            var expected = field.Kind switch
            {
                FieldKind.Scalar => value is YamlScalarNode s && !IsNull(s) ? null : "a value",
                FieldKind.Mapping => value is YamlMappingNode ? null : "a mapping",
                _ => value is YamlSequenceNode ? null : "a list",
            };
            if (expected is null && value is YamlSequenceNode seq)
            {
                foreach (var item in seq.Children)
                {
                    var itemExpected = field.Kind == FieldKind.SequenceOfMappings
                        ? item is YamlMappingNode ? null : "a mapping"
                        : item is YamlScalarNode s && !IsNull(s) ? null : "a value";
                    if (itemExpected is not null)
                    {
                        report.Error(item, $"wrong type in '{key}': expected {itemExpected} for each item, got {Describe(item)}");
                        expected = "";
                    }
                }
            }
            if (expected is not null)
            {
                if (expected.Length > 0)
                {
                    report.Error(value, $"wrong type for '{key}': expected {expected}, got {Describe(value)}");
                }
                fields.MarkBad(key);
                continue;
            }
            fields.Add(key, value);
        }
        return fields;
    }

    public static bool IsNull(YamlScalarNode s) =>
        s.Style == YamlDotNet.Core.ScalarStyle.Plain && s.Value is null or "" or "~" or "null";

    public static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode s when IsNull(s) => "nothing",
        // Cut, so an error about a pasted page of text stays one line in the log and in /admin/rules.
        YamlScalarNode { Value.Length: > 60 } s => $"\"{s.Value[..60]}\u2026\"",
        YamlScalarNode s => $"\"{s.Value}\"",
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ => "an alias",
    };
}

/// <summary>The checked fields of one mapping. Asking for a field the shape does not declare is a bug, not a rule error.</summary>
internal sealed class Fields(RuleShape shapes, RuleReport report, YamlMappingNode map, Shape shape)
{
    private readonly Dictionary<string, YamlNode> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _bad = new(StringComparer.Ordinal);

    public YamlMappingNode Map { get; } = map;

    public Shape Shape { get; } = shape;

    public List<string> Present { get; } = [];

    public bool HasErrors { get; set; }

    public void Add(string key, YamlNode value)
    {
        _values[key] = value;
        Present.Add(key);
    }

    public void MarkBad(string key)
    {
        _bad.Add(key);
        Present.Add(key);
        HasErrors = true;
    }

    public bool IsBad(string name) => _bad.Contains(name);

    public bool Declares(string name) => Shape.Fields.ContainsKey(name);

    public YamlNode? Node(string name)
    {
        if (!Declares(name))
        {
            throw new InvalidOperationException($"'{name}' is not in the {Shape.Name} shape (RuleFields)");
        }
        return _values.GetValueOrDefault(name);
    }

    public YamlScalarNode? Scalar(string name, bool required = false) => (YamlScalarNode?)Get(name, required);

    public YamlSequenceNode? Sequence(string name, bool required = false) => (YamlSequenceNode?)Get(name, required);

    public Fields? Mapping(string name, bool required = false) =>
        Get(name, required) is YamlMappingNode m ? shapes.Read(m, Shape.Fields[name].Child!, $"'{name}'") : null;

    public IReadOnlyList<Fields>? Sequences(string name, bool required = false) =>
        Get(name, required) is YamlSequenceNode s
            ? [.. s.Children.Select(c => shapes.Read((YamlMappingNode)c, Shape.Fields[name].Child!, $"'{name}' item"))]
            : null;

    private YamlNode? Get(string name, bool required)
    {
        var node = Node(name);
        if (node is null && required && !_bad.Contains(name))
        {
            report.Error(Map, $"missing field '{name}' in {Shape.Name}");
            HasErrors = true;
        }
        return node;
    }
}
