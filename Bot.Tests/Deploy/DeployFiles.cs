using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bot.Tests.Fixtures;
using YamlDotNet.RepresentationModel;

namespace Bot.Tests.Deploy;

/// <summary>Reads the files under deploy/: YAML documents as JSON nodes, and the environment variables each file sets.</summary>
internal static partial class DeployFiles
{
    public static string Path(params string[] parts) => RepoFiles.Path(["deploy", .. parts]);

    public static string ReadText(params string[] parts) => File.ReadAllText(Path(parts));

    /// <summary>Every document of a YAML file. Scalars stay strings (`replicas: 2` reads as "2"), as YAML 1.2 core would not promise more.</summary>
    public static IReadOnlyList<JsonObject> LoadYaml(params string[] parts)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(ReadText(parts)))
        {
            stream.Load(reader);
        }
        return stream.Documents
            .Select(d => ToJson(d.RootNode) as JsonObject
                ?? throw new InvalidDataException($"{string.Join('/', parts)}: a document is not a mapping"))
            .ToList();
    }

    public static IEnumerable<JsonObject> KubernetesDocuments() =>
        Directory.EnumerateFiles(Path("k8s"), "*.yaml")
            .Where(f => System.IO.Path.GetFileName(f) != "kustomization.yaml")
            .Order(StringComparer.Ordinal)
            .SelectMany(f => LoadYaml("k8s", System.IO.Path.GetFileName(f)));

    public static JsonObject KubernetesDocument(string kind) =>
        KubernetesDocuments().Single(d => (string?)d["kind"] == kind);

    public static string Str(JsonNode? node) => node?.GetValue<string>() ?? throw new InvalidDataException("missing value");

    /// <summary>Names of the variables set in a KEY=value file (comments and blank lines skipped).</summary>
    public static IReadOnlyList<string> EnvFileNames(params string[] parts) =>
        ReadText(parts).Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line[..line.IndexOf('=')])
            .ToList();

    /// <summary>The bot service's `environment:` entries in docker-compose.yml (map or list form).</summary>
    public static IReadOnlyDictionary<string, string> ComposeEnvironment(JsonObject service) =>
        service["environment"] switch
        {
            JsonObject map => map.ToDictionary(p => p.Key, p => Str(p.Value)),
            JsonArray list => list.Select(Str).ToDictionary(e => e[..e.IndexOf('=')], e => e[(e.IndexOf('=') + 1)..]),
            null => new Dictionary<string, string>(),
            _ => throw new InvalidDataException("environment is neither a map nor a list"),
        };

    /// <summary>Names set by `Environment=` lines of a systemd unit, honouring double-quoted assignments.</summary>
    public static IReadOnlyList<string> SystemdEnvironmentNames(string unitText) =>
        unitText.Split('\n')
            .Where(line => line.StartsWith("Environment=", StringComparison.Ordinal))
            .SelectMany(line => SystemdWord().Matches(line["Environment=".Length..]))
            .Select(m => m.Groups["quoted"].Success ? m.Groups["quoted"].Value : m.Groups["bare"].Value)
            .Select(assignment => assignment[..assignment.IndexOf('=')])
            .ToList();

    /// <summary>Names set by the `ENV` instructions of a Dockerfile (`ENV A=1 \` continuation lines joined).</summary>
    public static IReadOnlyList<string> DockerfileEnvironmentNames(IEnumerable<DockerInstruction> instructions) =>
        instructions.Where(i => i.Keyword == "ENV")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(assignment => assignment[..assignment.IndexOf('=')])
            .ToList();

    public static IReadOnlyList<DockerInstruction> DockerInstructions()
    {
        var joined = ContinuedLine().Replace(ReadText("Dockerfile"), " ");
        return joined.Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line =>
            {
                var space = line.IndexOf(' ');
                return new DockerInstruction(line[..space].ToUpperInvariant(), line[(space + 1)..].Trim());
            })
            .ToList();
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(pair =>
            KeyValuePair.Create(((YamlScalarNode)pair.Key).Value!, ToJson(pair.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar => scalar.Value is null ? null : JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException($"unsupported YAML node {node.NodeType} at {node.Start}"),
    };

    [GeneratedRegex("\"(?<quoted>[^\"]*)\"|(?<bare>[^\\s\"]+)")]
    private static partial Regex SystemdWord();

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex ContinuedLine();
}

internal sealed record DockerInstruction(string Keyword, string Arguments);
