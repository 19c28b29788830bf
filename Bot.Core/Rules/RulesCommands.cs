namespace Bot.Core.Rules;

/// <summary>Command-line entry points over the rule files (e.g. `Bot.Host rules check rules/` in CI).</summary>
public static class RulesCommands
{
    /// <summary>Loads the folder and prints the outcome; returns the process exit code (0 valid, 1 errors).</summary>
    public static int Check(string path, TextWriter output) => Check(path, output, new RulesOptions());

    /// <summary>The same, within the limits of <paramref name="options"/> (`Rules:Max…`), as the service would load it.</summary>
    public static int Check(string path, TextWriter output, RulesOptions options)
    {
        var result = RuleLoader.Load(path, TimeProvider.System, options);
        foreach (var error in result.Errors)
        {
            output.WriteLine(error);
        }
        foreach (var warning in result.Warnings)
        {
            output.WriteLine(warning);
        }
        if (result.RuleSet is not { } rules)
        {
            output.WriteLine($"rules invalid: {result.Errors.Count} error(s)");
            return 1;
        }
        output.WriteLine($"rules ok: {rules.Summary()}, version {rules.Version}");
        return 0;
    }
}
