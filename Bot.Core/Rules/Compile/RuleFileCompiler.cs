using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// Compiles one file's YAML into rules, reporting each problem at the node it is about: the file's outline
/// (one document, a mapping of known sections, each a list of mappings) and each rule's name here, the rule
/// itself in the compiler of its section.
/// </summary>
internal sealed class RuleFileCompiler
{
    private readonly string _text;
    private readonly RuleCollector _rules;
    private readonly RuleLimits _limits;
    private readonly RuleReport _report;
    private readonly List<RuleError> _errors;
    private readonly RuleShape _shape;
    private readonly CustomerRuleCompiler _customers;
    private readonly GroupRuleCompiler _groups;
    private readonly LotteryRuleCompiler _lotteries;

    public RuleFileCompiler(string file, string text, RuleCollector rules, List<RuleError> errors, List<RuleWarning> warnings, RuleLimits limits)
    {
        _text = text;
        _rules = rules;
        _limits = limits;
        _report = new RuleReport(file, text, errors, warnings);
        _errors = errors;
        _shape = new RuleShape(_report);
        var values = new RuleValues(_report);
        var messages = new MessageCompiler(_report, values);
        var channels = new ChannelAdvice(_report);
        _customers = new CustomerRuleCompiler(_report, values, messages, limits);
        _groups = new GroupRuleCompiler(_report, values, messages, channels);
        _lotteries = new LotteryRuleCompiler(_report, values, channels);
    }

    public void Compile()
    {
        if (_rules.OverRuleLimit)
        {
            return; // reported once, at the first rule over the limit
        }
        var before = _errors.Count;
        CompileFile();
        var hints = TypoHints.Find(_text);
        if (hints.Count == 0)
        {
            return;
        }
        // A file that fails gets the hints as errors, first, so the line to fix leads; one that loads only a warning.
        var failed = _errors.Count > before;
        var reported = hints.Select(h => (h.Line, h.Column, h.Message));
        if (failed)
        {
            _errors.InsertRange(before, reported.Select(h => new RuleError(_report.File, h.Line, h.Column, h.Message)));
        }
        else
        {
            foreach (var (line, column, message) in reported)
            {
                _report.Warn(line, column, message);
            }
        }
    }

    private void CompileFile()
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(_text));
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException is { } inner && ex.Message.Contains("see inner", StringComparison.OrdinalIgnoreCase)
                ? inner.Message
                : ex.Message;
            _report.Error(ex.Start, $"YAML syntax error: {StripMarkPrefix(message)}");
            return;
        }
        if (stream.Documents.Count == 0)
        {
            return;
        }
        if (stream.Documents.Count > 1)
        {
            _report.Error(stream.Documents[1].RootNode, "one YAML document per rule file");
        }
        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return;
        }
        if (root is not YamlMappingNode sections)
        {
            _report.Error(root, $"wrong type: expected a mapping of sections ({string.Join(", ", RuleFields.SectionOrder)}), got {RuleShape.Describe(root)}");
            return;
        }
        foreach (var (keyNode, value) in sections.Children)
        {
            var key = ((keyNode as YamlScalarNode)?.Value) ?? "";
            if (!RuleFields.Sections.TryGetValue(key, out var shape))
            {
                _report.Error(keyNode, $"unknown section '{key}' (allowed: {string.Join(", ", RuleFields.SectionOrder)})");
                continue;
            }
            if (value is YamlScalarNode { Value: null or "" or "~" })
            {
                continue; // an empty section, e.g. while someone is writing it
            }
            if (value is not YamlSequenceNode list)
            {
                _report.Error(value, $"wrong type for section '{key}': expected a list of rules, got {RuleShape.Describe(value)}");
                continue;
            }
            if (!CompileSection(key, shape, list))
            {
                return;
            }
        }
    }

    /// <summary>Compiles a section's rules; false once the folder holds more rules than allowed.</summary>
    private bool CompileSection(string key, Shape shape, YamlSequenceNode list)
    {
        foreach (var item in list.Children)
        {
            if (++_rules.Seen > _limits.MaxRules)
            {
                _rules.OverRuleLimit = true;
                _report.Error(item, string.Create(CultureInfo.InvariantCulture, $"too many rules: the folder may hold at most {_limits.MaxRules:N0} (Rules:MaxRules)"));
                return false;
            }
            if (item is not YamlMappingNode map)
            {
                _report.Error(item, $"wrong type for a {key} rule: expected a mapping, got {RuleShape.Describe(item)}");
                continue;
            }
            var fields = _shape.Read(map, shape, key + " rule");
            var source = ReadName(fields, map);
            switch (key)
            {
                case RuleFields.Welcome: Add(_rules.Welcome, _customers.Welcome(fields, source)); break;
                case RuleFields.GroupWelcome: Add(_rules.GroupWelcome, _groups.GroupWelcome(fields, source)); break;
                case RuleFields.Replies: Add(_rules.Replies, _customers.Reply(fields, source)); break;
                case RuleFields.Tagging: Add(_rules.Tagging, _customers.Tagging(fields, source)); break;
                case RuleFields.Lotteries: Add(_rules.Lotteries, _lotteries.Lottery(fields, source)); break;
                case RuleFields.Seeding: Add(_rules.Seeding, _groups.Seeding(fields, source)); break;
            }
        }
        return true;

        static void Add<T>(List<T> rules, T? rule) where T : class
        {
            if (rule is not null)
            {
                rules.Add(rule);
            }
        }
    }

    private RuleSource? ReadName(Fields fields, YamlMappingNode map)
    {
        var node = fields.Scalar("name", required: true);
        if (node is null)
        {
            return null;
        }
        var name = node.Value!.Trim();
        if (_rules.Names.TryGetValue(name, out var first))
        {
            return _report.Refuse<RuleSource>(node, $"duplicate rule name '{name}' (first defined at {first.File}:{first.Line}:{first.Column})");
        }
        _rules.Names[name] = (_report.File, RuleReport.Line(node.Start), RuleReport.Column(node.Start));
        return new RuleSource(name, _report.File, RuleReport.Line(map.Start));
    }

    private static string StripMarkPrefix(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (...): "; we already print the position.
        var cut = message.LastIndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0 ? message[(cut + 3)..] : message;
    }
}
