using System.Diagnostics;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Rules;

/// <summary>
/// The rule-file schema as editors read it: ajv in strict mode compiles it (a keyword without its type, such as
/// <c>minItems</c> on a <c>$ref</c>, is refused there), and the shipped
/// rule files validate against it.
/// </summary>
public sealed class RulesSchemaStrictTests
{
    private static IEnumerable<string> RuleFiles() =>
        Directory.EnumerateFiles(RepoFiles.Path("rules"), "*.yaml").Order(StringComparer.Ordinal);

    [Test]
    public async Task Ajv_strict_compiles_the_schema_and_validates_every_shipped_rule_file()
    {
        var tools = RepoFiles.Path("tools", "schema-check");
        var ajv = Path.Combine(tools, "node_modules", ".bin", "ajv");
        if (!File.Exists(ajv))
        {
            Assert.Ignore("ajv is not installed (test.sh installs it from npm when the registry is reachable): the strict schema check did not run");
        }
        var schema = RepoFiles.Path("rules", "rules.schema.json");

        var compiled = await RunAsync(tools, ajv, "compile", "--spec=draft2020", "--strict=true", "-c", "ajv-formats", "-s", schema);
        Assert.That(compiled.Exit, Is.EqualTo(0), compiled.Output);
        foreach (var file in RuleFiles())
        {
            var validated = await RunAsync(tools, ajv, "validate", "--spec=draft2020", "--strict=true", "-c", "ajv-formats", "-s", schema, "-d", file);
            Assert.That(validated.Exit, Is.EqualTo(0), validated.Output);
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string directory, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
