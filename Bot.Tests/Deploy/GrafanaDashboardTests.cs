using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Bot.Tests.Deploy;

public sealed partial class GrafanaDashboardTests
{
    private static readonly string[] PromQlKeywords = ["and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "group_left", "group_right"];

    private static JsonObject Dashboard { get; } = JsonNode.Parse(DeployFiles.ReadText("grafana", "wecombot-dashboard.json"))!.AsObject();

    private static IReadOnlyList<JsonNode> QueryPanels { get; } =
        Dashboard["panels"]!.AsArray().Where(p => (string?)p!["type"] != "row").Select(p => p!).ToList();

    /// <summary>The rows of metrics.md's instrument table: instrument, type, unit, tags, Prometheus series.</summary>
    private static IReadOnlyList<string[]> MetricRows { get; } = File.ReadAllLines(DeployFiles.Path("metrics.md"))
        .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
        .Select(line => line.Trim('|').Split('|').Select(cell => cell.Trim().Trim('`')).ToArray())
        .ToList();

    [Test]
    public void Dashboard_panels_query_prometheus_through_the_datasource_variable()
    {
        Assert.That(DeployFiles.Str(Dashboard["uid"]), Is.EqualTo("wecombot"));
        Assert.That(QueryPanels, Is.Not.Empty);
        var ids = Dashboard["panels"]!.AsArray().Select(p => (int)p!["id"]!).ToList();
        Assert.That(ids, Is.Unique);
        Assert.Multiple(() =>
        {
            foreach (var panel in QueryPanels)
            {
                var title = (string?)panel["title"];
                Assert.That((string?)panel["datasource"]?["uid"], Is.EqualTo("${datasource}"), title);
                Assert.That(panel["targets"]!.AsArray().Select(t => (string?)t!["expr"]), Is.Not.Empty.And.All.Not.Empty, title);
                Assert.That(panel["gridPos"], Is.Not.Null, title);
            }
        });
    }

    [Test]
    public void Every_variable_a_query_uses_is_defined()
    {
        var defined = Dashboard["templating"]!["list"]!.AsArray().Select(v => DeployFiles.Str(v!["name"])).ToHashSet();
        var used = Expressions().SelectMany(e => Variable().Matches(e)).Select(m => m.Groups["name"].Value)
            .Where(name => !name.StartsWith("__", StringComparison.Ordinal))
            .Append("datasource");

        Assert.That(defined, Is.SupersetOf(used.Distinct()));
    }

    [Test]
    public void Every_metric_the_dashboard_queries_is_listed_in_metrics_md()
    {
        var queried = QueriedMetrics().ToList();
        var listed = ListedSeries();

        Assert.That(queried, Is.Not.Empty);
        Assert.That(queried.Where(m => !listed.Contains(m)).Distinct(), Is.Empty);
    }

    [Test]
    public void Every_metric_in_metrics_md_is_on_the_dashboard()
    {
        var queried = QueriedMetrics().Select(m => HistogramSuffix().Replace(m, "")).ToHashSet();

        Assert.That(MetricRows, Has.Count.GreaterThanOrEqualTo(12));
        Assert.That(MetricRows.Select(r => r[4]).Where(series => !queried.Contains(series)), Is.Empty);
    }

    [Test]
    public void Metrics_md_series_follow_the_exporter_naming_rules()
    {
        Assert.Multiple(() =>
        {
            foreach (var (instrument, type, unit, series) in MetricRows.Select(r => (r[0], r[1], r[2], r[4])))
            {
                var expected = instrument.Replace('.', '_')
                    + (unit == "s" ? "_seconds" : "")
                    + (type == "Counter" ? "_total" : "");
                Assert.That(unit, Is.EqualTo("s").Or.Match("^\\{[a-z]+\\}$"), instrument);
                Assert.That(series, Is.EqualTo(expected), instrument);
            }
        });
    }

    [Test]
    public void Metric_name_extraction_skips_functions_labels_and_ranges()
    {
        var names = MetricNames("""histogram_quantile(0.95, sum by (le, api) (rate(bot_x_bucket{api!="gettoken"}[$__rate_interval]))) / on (api) bot_y""");

        Assert.That(names, Is.EqualTo(new[] { "bot_x_bucket", "bot_y" }));
    }

    private static IEnumerable<string> Expressions() =>
        QueryPanels.SelectMany(p => p["targets"]!.AsArray()).Select(t => DeployFiles.Str(t!["expr"]));

    private static IEnumerable<string> QueriedMetrics()
    {
        var variableQueries = Dashboard["templating"]!["list"]!.AsArray()
            .Where(v => (string?)v!["type"] == "query")
            .Select(v => DeployFiles.Str(v!["query"]!["query"]))
            .Select(q => LabelValues().Match(q) is { Success: true } m
                ? m.Groups["metric"].Value
                : throw new InvalidDataException($"unrecognised variable query: {q}"));
        return Expressions().SelectMany(MetricNames).Concat(variableQueries);
    }

    /// <summary>Series names allowed in queries: each listed name, and for histograms its _bucket, _sum and _count.</summary>
    private static HashSet<string> ListedSeries() => MetricRows
        .SelectMany(r => r[1] == "Histogram" ? new[] { r[4] + "_bucket", r[4] + "_sum", r[4] + "_count" } : [r[4]])
        .ToHashSet();

    /// <summary>The metric names of a PromQL expression: identifiers left once strings, label matchers, ranges,
    /// grouping clauses, function calls and keywords are removed.</summary>
    private static IReadOnlyList<string> MetricNames(string expression)
    {
        var stripped = Grouping().Replace(Range().Replace(Matchers().Replace(QuotedString().Replace(expression, "\"\""), " "), " "), " ");
        return Identifier().Matches(stripped).Select(m => m.Value).Where(id => !PromQlKeywords.Contains(id)).ToList();
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex QuotedString();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Range();

    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"(?<![\w$.])[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"^label_values\(\s*(?<metric>[A-Za-z_:][A-Za-z0-9_:]*)\s*,")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"\$\{?(?<name>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();
}
