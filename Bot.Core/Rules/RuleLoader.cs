using System.Security.Cryptography;
using System.Text;

namespace Bot.Core.Rules;

/// <summary>
/// Reads every <c>*.yaml</c>/<c>*.yml</c> file of a folder (in ordinal file-name order, which is also the order
/// "first match wins" sees them), validates all of it and returns one <see cref="RuleSet"/> or every error.
/// </summary>
public static class RuleLoader
{
    public static RuleLoadResult Load(string folder) => Load(folder, TimeProvider.System);

    public static RuleLoadResult Load(string folder, TimeProvider timeProvider) => Load(folder, timeProvider, new RulesOptions());

    /// <summary>Loads within the limits of <paramref name="options"/> (file and folder sizes, rule count, reply length).</summary>
    public static RuleLoadResult Load(string folder, TimeProvider timeProvider, RulesOptions options)
    {
        var limits = RuleLimits.From(options);
        var errors = new List<RuleError>();
        var warnings = new List<RuleWarning>();
        if (!Directory.Exists(folder))
        {
            errors.Add(new RuleError(folder, 1, 1, "rules folder not found"));
            return RuleLoadResult.Failure(errors, warnings);
        }

        var files = Directory.EnumerateFiles(folder)
            .Where(IsRuleFile)
            .Order(StringComparer.Ordinal)
            .ToList();

        var rules = new RuleCollector();
        var reader = new RuleFileReader(folder, limits, errors);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in files)
        {
            if (reader.Read(path) is not { } text)
            {
                continue;
            }
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(path) + "\0" + text + "\0"));
            new RuleFileCompiler(path, text, rules, errors, warnings, limits).Compile();
        }

        if (errors.Count > 0)
        {
            return RuleLoadResult.Failure(errors, warnings);
        }
        var version = Convert.ToHexStringLower(hash.GetHashAndReset())[..12];
        return RuleLoadResult.Success(new RuleSet(
            version, timeProvider.GetUtcNow(),
            rules.Welcome, rules.GroupWelcome, rules.Replies, rules.Tagging, rules.Lotteries, rules.Seeding, warnings));
    }

    private static bool IsRuleFile(string path)
    {
        var name = Path.GetFileName(path);
        // Editors' lock and backup files start with a dot (".#welcome.yaml", ".welcome.yaml.swp").
        return !name.StartsWith('.')
            && (name.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".yml", StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>The rules of all files, merged, with their names kept unique across files and sections.</summary>
internal sealed class RuleCollector
{
    public List<WelcomeRule> Welcome { get; } = [];

    public List<GroupWelcomeRule> GroupWelcome { get; } = [];

    public List<ReplyRule> Replies { get; } = [];

    public List<TaggingRule> Tagging { get; } = [];

    public List<LotteryRule> Lotteries { get; } = [];

    public List<SeedingRule> Seeding { get; } = [];

    public Dictionary<string, (string File, int Line, int Column)> Names { get; } = new(StringComparer.Ordinal);

    /// <summary>Rules seen so far, in every file and section, valid or not.</summary>
    public int Seen { get; set; }

    /// <summary>Set once the folder holds more rules than allowed; the rest is then not compiled.</summary>
    public bool OverRuleLimit { get; set; }
}
