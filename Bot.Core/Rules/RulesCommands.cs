namespace Bot.Core.Rules;

/// <summary>Command-line entry points over the rule files (e.g. `Bot.Host rules check rules/` in CI).</summary>
public static class RulesCommands
{
    /// <summary>Loads the folder and prints the outcome; returns the process exit code (0 valid, 1 errors).</summary>
    public static int Check(string path, TextWriter output)
    {
        var result = RuleLoader.Load(path);
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
